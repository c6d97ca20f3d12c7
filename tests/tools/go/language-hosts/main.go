// The language hosts of the engine tests: Pulumi's Python and Node.js hosts of the last SDK
// modules the proxy serves that carry them (python v3.79.0, nodejs v3.68.0; their current
// sources are modules the proxy does not serve), each run behind this binary, which answers
// the RPCs they cannot answer for this CLI (python.go, nodejs.go) and sends every other one to
// them unchanged. Built by tests/setup.sh as pulumi-language-python and pulumi-language-nodejs;
// each finds its legacy host on PATH. Never committed as a binary.
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

// The legacy host behind each name this binary is built as.
var legacyHosts = map[string]string{
	"pulumi-language-python": "pulumi-language-python-v3.79.0",
	"pulumi-language-nodejs": "pulumi-language-nodejs-v3.68.0",
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-python: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	language := filepath.Base(os.Args[0])
	name, ok := legacyHosts[language]
	if !ok {
		return fmt.Errorf("built as %s: run it as one of pulumi-language-python, pulumi-language-nodejs", language)
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return err
	}
	legacy := exec.Command(path, os.Args[1:]...)
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
			pulumirpc.RegisterLanguageRuntimeServer(srv, &host{language: language, legacy: pulumirpc.NewLanguageRuntimeClient(conn)})
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
	language string
	legacy   pulumirpc.LanguageRuntimeClient
}

func (h *host) python() bool { return h.language == "pulumi-language-python" }
func (h *host) nodejs() bool { return h.language == "pulumi-language-nodejs" }

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

func (h *host) Pack(ctx context.Context, req *pulumirpc.PackRequest) (*pulumirpc.PackResponse, error) {
	return h.legacy.Pack(ctx, req)
}

func (h *host) GetPluginInfo(ctx context.Context, req *pbempty.Empty) (*pulumirpc.PluginInfo, error) {
	return h.legacy.GetPluginInfo(ctx, req)
}

func (h *host) Cancel(ctx context.Context, req *pbempty.Empty) (*pbempty.Empty, error) {
	return h.legacy.Cancel(ctx, req)
}
