package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/feeds2sentinel/feeds2sentinel/internal/app"
	"github.com/feeds2sentinel/feeds2sentinel/internal/atomicfile"
)

// BuildOptions configures [Build]. A zero field means the default.
type BuildOptions struct {
	// Root is the module root holding go.mod, host.json and ./handler.
	// Default: the nearest directory at or above the working directory
	// that holds a go.mod.
	Root string
	// OutDir receives app/ and app.zip. Default: Root/dist.
	OutDir string
	// Binary, if set, is a prebuilt handler copied into the app instead of
	// building ./handler (tests, or a binary built elsewhere).
	Binary string
	// Functions are the functions to package. Default: app.Functions().
	Functions []app.Function
	// Go is the go command. Default: "go".
	Go string
	// Stderr receives the go build output. Default: discarded.
	Stderr io.Writer
}

// Build assembles the deployable app and its zip:
//
//	OutDir/app/host.json           copied from Root/host.json
//	OutDir/app/<Name>/function.json one folder per function (Generate)
//	OutDir/app/<exe>               CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build
//	                                -trimpath -ldflags "-s -w" ./handler, where <exe>
//	                                is host.json's defaultExecutablePath
//	OutDir/app.zip                 Zip of OutDir/app
//
// OutDir/app is emptied first. The zip is written to a temporary file and
// renamed into place, so a failed build never leaves a partial app.zip.
func Build(ctx context.Context, o BuildOptions) error {
	if o.Root == "" {
		wd, err := os.Getwd()
		if err != nil {
			return fmt.Errorf("build: %w", err)
		}
		if o.Root, err = FindRoot(wd); err != nil {
			return fmt.Errorf("build: %w", err)
		}
	}
	if o.OutDir == "" {
		o.OutDir = filepath.Join(o.Root, "dist")
	}
	if o.Functions == nil {
		o.Functions = app.Functions()
	}
	if o.Go == "" {
		o.Go = "go"
	}
	if o.Stderr == nil {
		o.Stderr = io.Discard
	}

	host, err := os.ReadFile(filepath.Join(o.Root, HostFile))
	if err != nil {
		return fmt.Errorf("build: %w", err)
	}
	exe, err := executablePath(host)
	if err != nil {
		return fmt.Errorf("build: %w", err)
	}
	appDir := filepath.Join(o.OutDir, "app")
	if err := os.RemoveAll(appDir); err != nil {
		return fmt.Errorf("build: %w", err)
	}
	if err := os.MkdirAll(appDir, 0o755); err != nil {
		return fmt.Errorf("build: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(appDir, HostFile), host, nil); err != nil {
		return fmt.Errorf("build: %w", err)
	}
	if err := Generate(appDir, o.Functions); err != nil {
		return fmt.Errorf("build: %w", err)
	}
	exePath := filepath.Join(appDir, filepath.FromSlash(exe))
	if err := os.MkdirAll(filepath.Dir(exePath), 0o755); err != nil {
		return fmt.Errorf("build: %w", err)
	}
	if o.Binary != "" {
		err = copyFile(exePath, o.Binary, 0o755)
	} else {
		err = goBuild(ctx, o, exePath)
	}
	if err != nil {
		return fmt.Errorf("build: %w", err)
	}
	if err := writeZip(filepath.Join(o.OutDir, "app.zip"), appDir); err != nil {
		return fmt.Errorf("build: %w", err)
	}
	return nil
}

// goBuild cross-compiles Root/handler into out as a static linux/amd64
// binary.
func goBuild(ctx context.Context, o BuildOptions, out string) error {
	cmd := exec.CommandContext(ctx, o.Go, "build", "-trimpath", "-ldflags", "-s -w", "-o", out, "./handler")
	cmd.Dir = o.Root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	cmd.Stdout = o.Stderr
	cmd.Stderr = o.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build ./handler: %w", err)
	}
	return os.Chmod(out, 0o755)
}

// writeZip writes Zip(root) to path atomically.
func writeZip(path, root string) error {
	tmp, err := atomicfile.Create(path, &atomicfile.Options{Perm: 0o644, Prefix: ".app-"})
	if err != nil {
		return err
	}
	if err := Zip(tmp, root); err != nil {
		tmp.Abort()
		return err
	}
	return tmp.Commit()
}

// copyFile copies src to dst, creating dst with mode.
func copyFile(dst, src string, mode fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Chmod(dst, mode)
}

// ErrNoModule is returned by [FindRoot] when no go.mod is found.
var ErrNoModule = errors.New("no go.mod found")

// FindRoot returns the nearest directory at or above dir that holds a
// go.mod.
func FindRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("%w at or above the working directory", ErrNoModule)
		}
		dir = parent
	}
}
