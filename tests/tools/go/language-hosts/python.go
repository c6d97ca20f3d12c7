package main

// The Python host's part. RunPlugin: the CLI (sdk/go/common/resource/plugin/langruntime_plugin.go,
// RunPlugin) names the plugin's directory in `info` only and leaves `program` empty; the v3.79.0
// host runs `python <program>`, so a component package (PulumiPlugin.yaml, runtime python)
// would run as `python ""` in the caller's directory. Here the plugin runs as the current host
// runs it: `<virtualenv>/bin/python <plugin directory> <args>` (the `virtualenv` runtime option,
// relative to that directory), else the python on PATH.
//
// InstallDependencies of a plugin whose virtualenv exists: tests/setup.sh built it; nothing is
// installed here (pip would reach PyPI and write into the checkout).

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// virtualenv is the plugin's virtualenv (its `virtualenv` runtime option), "" when it has none.
func virtualenv(info *pulumirpc.ProgramInfo) string {
	opt := info.GetOptions().GetFields()["virtualenv"].GetStringValue()
	if opt == "" {
		return ""
	}
	if !filepath.IsAbs(opt) {
		opt = filepath.Join(info.GetRootDirectory(), opt)
	}
	return opt
}

func (h *host) RunPlugin(req *pulumirpc.RunPluginRequest, server pulumirpc.LanguageRuntime_RunPluginServer) error {
	if !h.python() {
		return h.forwardRunPlugin(req, server)
	}
	dir := req.GetProgram()
	if dir == "" {
		dir = req.GetInfo().GetProgramDirectory()
	}
	python := "python3"
	env := req.GetEnv()
	if venv := virtualenv(req.GetInfo()); venv != "" {
		python = filepath.Join(venv, "bin", "python")
		env = append(env, "VIRTUAL_ENV="+venv)
	}
	cmd := exec.CommandContext(server.Context(), python, append([]string{dir}, req.GetArgs()...)...)
	cmd.Dir, cmd.Env = req.GetPwd(), env
	closer, stdout, stderr, err := rpcutil.MakeRunPluginStreams(server, false)
	if err != nil {
		return err
	}
	defer closer.Close()
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return server.Send(&pulumirpc.RunPluginResponse{
				Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: int32(exit.ExitCode())},
			})
		}
		return fmt.Errorf("could not run the plugin %s: %w", dir, err)
	}
	return closer.Close()
}

func (h *host) InstallDependencies(req *pulumirpc.InstallDependenciesRequest,
	server pulumirpc.LanguageRuntime_InstallDependenciesServer,
) error {
	if h.python() && req.GetIsPlugin() {
		if venv := virtualenv(req.GetInfo()); venv != "" {
			if _, err := os.Stat(filepath.Join(venv, "bin", "python")); err == nil {
				return nil
			}
		}
	}
	stream, err := h.legacy.InstallDependencies(server.Context(), req)
	if err != nil {
		return err
	}
	return forward(stream.Recv, server.Send)
}

func (h *host) forwardRunPlugin(req *pulumirpc.RunPluginRequest, server pulumirpc.LanguageRuntime_RunPluginServer) error {
	stream, err := h.legacy.RunPlugin(server.Context(), req)
	if err != nil {
		return err
	}
	return forward(stream.Recv, server.Send)
}
