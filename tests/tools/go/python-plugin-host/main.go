// pulumi-language-python for the engine tests: the Python language host of the SDK module the
// proxy serves (v3.79.0, run beside this binary as pulumi-language-python-v3.79.0), with the
// one RPC it cannot answer for this CLI done here.
//
// RunPlugin: the CLI (sdk/go/common/resource/plugin/langruntime_plugin.go, RunPlugin) names the
// plugin's directory in `info` only and leaves `program` empty; the v3.79.0 host runs
// `python <program>`, so a component package (PulumiPlugin.yaml, runtime python) would run as
// `python ""` in the caller's directory. Here the plugin runs as the current host runs it:
// `<virtualenv>/bin/python <plugin directory> <args>` (the `virtualenv` runtime option, relative
// to that directory), else the python on PATH.
//
// InstallDependencies of a plugin whose virtualenv exists: tests/setup.sh built it; nothing is
// installed here (pip would reach PyPI and write into the checkout).
//
// Every other RPC goes to the v3.79.0 host unchanged. Built by tests/setup.sh; never committed
// as a binary.
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	pbempty "google.golang.org/protobuf/types/known/emptypb"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

const legacyHost = "pulumi-language-python-v3.79.0"

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-python: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	legacy := exec.Command(filepath.Join(filepath.Dir(self), legacyHost), os.Args[1:]...)
	legacy.Stderr = os.Stderr
	// The CLI kills this process without a signal it can catch: the legacy host goes with it.
	legacy.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := legacy.StdoutPipe()
	if err != nil {
		return err
	}
	if err := legacy.Start(); err != nil {
		return err
	}
	reader := bufio.NewReader(out)
	port, err := reader.ReadString('\n')
	if err != nil {
		return fmt.Errorf("the legacy host printed no port: %w", err)
	}
	go func() { _, _ = reader.WriteTo(os.Stderr) }()
	conn, err := grpc.NewClient("127.0.0.1:"+strings.TrimSpace(port),
		grpc.WithTransportCredentials(insecure.NewCredentials()), rpcutil.GrpcChannelOptions())
	if err != nil {
		return err
	}
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, &host{legacy: pulumirpc.NewLanguageRuntimeClient(conn)})
			return nil
		},
		Options: rpcutil.OpenTracingServerInterceptorOptions(nil),
	})
	if err != nil {
		return err
	}
	fmt.Printf("%d\n", handle.Port)
	err = <-handle.Done
	_ = legacy.Process.Kill()
	return err
}

type host struct {
	pulumirpc.UnimplementedLanguageRuntimeServer
	legacy pulumirpc.LanguageRuntimeClient
}

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
	if req.GetIsPlugin() {
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

func forward[T any](recv func() (*T, error), send func(*T) error) error {
	for {
		msg, err := recv()
		if errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return err
		}
		if err := send(msg); err != nil {
			return err
		}
	}
}

// ---------------------------------------------------------------- the rest, to the legacy host

func (h *host) Handshake(ctx context.Context, req *pulumirpc.LanguageHandshakeRequest) (*pulumirpc.LanguageHandshakeResponse, error) {
	return h.legacy.Handshake(ctx, req)
}

func (h *host) GetRequiredPlugins(ctx context.Context, req *pulumirpc.GetRequiredPluginsRequest) (*pulumirpc.GetRequiredPluginsResponse, error) {
	return h.legacy.GetRequiredPlugins(ctx, req)
}

func (h *host) GetRequiredPackages(ctx context.Context, req *pulumirpc.GetRequiredPackagesRequest) (*pulumirpc.GetRequiredPackagesResponse, error) {
	return h.legacy.GetRequiredPackages(ctx, req)
}

func (h *host) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	return h.legacy.Run(ctx, req)
}

func (h *host) RuntimeOptionsPrompts(ctx context.Context, req *pulumirpc.RuntimeOptionsRequest) (*pulumirpc.RuntimeOptionsResponse, error) {
	return h.legacy.RuntimeOptionsPrompts(ctx, req)
}

func (h *host) Template(ctx context.Context, req *pulumirpc.TemplateRequest) (*pulumirpc.TemplateResponse, error) {
	return h.legacy.Template(ctx, req)
}

func (h *host) About(ctx context.Context, req *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	return h.legacy.About(ctx, req)
}

func (h *host) GetProgramDependencies(ctx context.Context, req *pulumirpc.GetProgramDependenciesRequest) (*pulumirpc.GetProgramDependenciesResponse, error) {
	return h.legacy.GetProgramDependencies(ctx, req)
}

func (h *host) GenerateProgram(ctx context.Context, req *pulumirpc.GenerateProgramRequest) (*pulumirpc.GenerateProgramResponse, error) {
	return h.legacy.GenerateProgram(ctx, req)
}

func (h *host) GenerateProject(ctx context.Context, req *pulumirpc.GenerateProjectRequest) (*pulumirpc.GenerateProjectResponse, error) {
	return h.legacy.GenerateProject(ctx, req)
}

func (h *host) GeneratePackage(ctx context.Context, req *pulumirpc.GeneratePackageRequest) (*pulumirpc.GeneratePackageResponse, error) {
	return h.legacy.GeneratePackage(ctx, req)
}

func (h *host) Pack(ctx context.Context, req *pulumirpc.PackRequest) (*pulumirpc.PackResponse, error) {
	return h.legacy.Pack(ctx, req)
}

func (h *host) Link(ctx context.Context, req *pulumirpc.LinkRequest) (*pulumirpc.LinkResponse, error) {
	return h.legacy.Link(ctx, req)
}

func (h *host) GetPluginInfo(ctx context.Context, req *pbempty.Empty) (*pulumirpc.PluginInfo, error) {
	return h.legacy.GetPluginInfo(ctx, req)
}

func (h *host) Cancel(ctx context.Context, req *pbempty.Empty) (*pbempty.Empty, error) {
	return h.legacy.Cancel(ctx, req)
}
