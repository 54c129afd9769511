// Command pack generates the Azure Functions binding files and packages the
// app for deployment.
//
//	go run ./internal/pack -gen   rewrite functions/<Name>/function.json from app.Functions()
//	go run ./internal/pack        build dist/app/ and dist/app.zip (make package)
//
// The function.json files are derived from internal/app, the single source
// of truth for the app's functions; a test fails when the committed
// functions/ folder is out of date. The package is laid out as the
// Functions host expects: host.json and one folder per function at the
// root, and the static linux/amd64 handler binary at host.json's
// defaultExecutablePath, kept executable in the zip.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/feeds2sentinel/feeds2sentinel/internal/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the command without process globals; it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("pack", flag.ContinueOnError)
	fl.SetOutput(stderr)
	gen := fl.Bool("gen", false, "only (re)write functions/<Name>/function.json")
	root := fl.String("root", "", "module root (default: nearest go.mod at or above the working directory)")
	out := fl.String("out", "", "output directory for app/ and app.zip (default: <root>/dist)")
	binary := fl.String("binary", "", "prebuilt handler binary to package instead of building ./handler")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if fl.NArg() > 0 {
		fmt.Fprintf(stderr, "pack: unexpected arguments %q\n", fl.Args())
		return 2
	}
	if *root == "" {
		wd, err := os.Getwd()
		if err == nil {
			*root, err = FindRoot(wd)
		}
		if err != nil {
			fmt.Fprintf(stderr, "pack: %v\n", err)
			return 1
		}
	}
	if *gen {
		dir := filepath.Join(*root, "functions")
		if err := Generate(dir, app.Functions()); err != nil {
			fmt.Fprintf(stderr, "pack: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "wrote %d functions to %s\n", len(app.Functions()), dir)
		return 0
	}
	opts := BuildOptions{Root: *root, OutDir: *out, Binary: *binary, Stderr: stderr}
	if err := Build(ctx, opts); err != nil {
		fmt.Fprintf(stderr, "pack: %v\n", err)
		return 1
	}
	dist := *out
	if dist == "" {
		dist = filepath.Join(*root, "dist")
	}
	fmt.Fprintf(stdout, "wrote %s and %s\n", filepath.Join(dist, "app"), filepath.Join(dist, "app.zip"))
	return 0
}
