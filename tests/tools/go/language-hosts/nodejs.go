package main

// The Node.js host's part: the v3.68.0 host has neither GeneratePackage nor Link, which
// `pulumi package add` and `pulumi package gen-sdk` ask of it. They are answered as the current
// host answers them (sdk/nodejs/cmd/pulumi-language-nodejs, GeneratePackage and Link): the
// schema bound through the engine's loader, the SDK written by pkg/codegen/nodejs at the CLI's
// version, and a generated SDK linked into the program with `npm install <path>`.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/pulumi/pulumi/pkg/v3/codegen/nodejs"
	"github.com/pulumi/pulumi/pkg/v3/codegen/schema"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

func (h *host) GeneratePackage(ctx context.Context, req *pulumirpc.GeneratePackageRequest) (*pulumirpc.GeneratePackageResponse, error) {
	if !h.nodejs() {
		return h.legacy.GeneratePackage(ctx, req)
	}
	loader, err := schema.NewLoaderClient(req.GetLoaderTarget())
	if err != nil {
		return nil, err
	}
	defer loader.Close()
	var spec schema.PackageSpec
	if err := json.Unmarshal([]byte(req.GetSchema()), &spec); err != nil {
		return nil, err
	}
	pkg, diags, err := schema.BindSpec(spec, loader, schema.ValidationOptions{AllowDanglingReferences: true})
	if err != nil {
		return nil, err
	}
	response := &pulumirpc.GeneratePackageResponse{Diagnostics: plugin.HclDiagnosticsToRPCDiagnostics(diags)}
	if diags.HasErrors() {
		return response, nil
	}
	files, err := nodejs.GeneratePackage("pulumi-language-nodejs", pkg, req.GetExtraFiles(),
		req.GetLocalDependencies(), req.GetLocal(), loader)
	if err != nil {
		return nil, err
	}
	for name, data := range files {
		path := filepath.Join(req.GetDirectory(), name)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return nil, err
		}
	}
	return response, nil
}

func (h *host) Link(ctx context.Context, req *pulumirpc.LinkRequest) (*pulumirpc.LinkResponse, error) {
	if !h.nodejs() {
		return h.legacy.Link(ctx, req)
	}
	root := req.GetInfo().GetRootDirectory()
	for _, dep := range req.GetPackages() {
		// A path npm reads as a path, not as a GitHub shorthand ("sdks/kindreg").
		path := dep.GetPath()
		if filepath.IsAbs(path) {
			if rel, err := filepath.Rel(root, path); err == nil {
				path = rel
			}
		}
		if !filepath.IsAbs(path) {
			path = "./" + filepath.ToSlash(path)
		}
		cmd := exec.CommandContext(ctx, "npm", "install", "--no-audit", "--no-fund", path)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("npm install %s: %w\n%s", path, err, out)
		}
	}
	return &pulumirpc.LinkResponse{}, nil
}
