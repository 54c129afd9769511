package main

import (
	"archive/zip"
	"bytes"
	"context"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/feeds2sentinel/feeds2sentinel/internal/app"
	"github.com/feeds2sentinel/feeds2sentinel/internal/feed"
)

// fakeBinary writes a stand-in handler without any exec bit, to show that
// the package marks it executable anyway.
func fakeBinary(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "handler")
	if err := os.WriteFile(p, []byte("\x7fELF stand-in handler\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// readZip returns the entries of the zip at p by name.
func readZip(t *testing.T, p string) (map[string]*zip.File, []string) {
	t.Helper()
	zr, err := zip.OpenReader(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { zr.Close() })
	files := map[string]*zip.File{}
	var order []string
	for _, f := range zr.File {
		files[f.Name] = f
		order = append(order, f.Name)
	}
	return files, order
}

func readEntry(t *testing.T, f *zip.File) []byte {
	t.Helper()
	rc, err := f.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkPackage checks the layout and content of a built app.zip.
func checkPackage(t *testing.T, zipPath string, fns []app.Function) {
	t.Helper()
	files, order := readZip(t, zipPath)

	host, ok := files[HostFile]
	if !ok {
		t.Fatalf("no %s at the zip root; entries %v", HostFile, order)
	}
	exe, err := executablePath(readEntry(t, host))
	if err != nil {
		t.Fatal(err)
	}
	bin, ok := files[exe]
	if !ok {
		t.Fatalf("defaultExecutablePath %q names no file in the zip; entries %v", exe, order)
	}
	if exe != "handler" {
		t.Errorf("defaultExecutablePath = %q, want handler at the root", exe)
	}
	if bin.Mode() != 0o755 || bin.CreatorVersion>>8 != 3 {
		t.Errorf("%s: mode %v creator %d, want 0755 made on Unix (3)", exe, bin.Mode(), bin.CreatorVersion>>8)
	}

	want := map[string]bool{HostFile: true, exe: true}
	for _, fn := range fns {
		name := fn.Name + "/" + FunctionFile
		want[name] = true
		f, ok := files[name]
		if !ok {
			t.Errorf("no %s in the zip", name)
			continue
		}
		checkFunctionJSON(t, fn, readEntry(t, f))
	}
	for _, name := range order {
		f := files[name]
		if !want[name] {
			t.Errorf("unexpected entry %s", name)
		}
		if name != exe && f.Mode() != 0o644 {
			t.Errorf("%s: mode %v, want 0644", name, f.Mode())
		}
		if !f.Modified.Equal(files[HostFile].Modified) || f.Modified.Year() != 1980 {
			t.Errorf("%s: modified %v, want the fixed 1980 epoch", name, f.Modified)
		}
		if strings.Count(name, "/") > 1 || path.IsAbs(name) {
			t.Errorf("%s: want root or one folder deep", name)
		}
	}
	if len(order) != len(fns)+2 {
		t.Errorf("%d entries, want %d", len(order), len(fns)+2)
	}
}

func TestBuildPackage(t *testing.T) {
	t.Parallel()
	bin := fakeBinary(t)
	var zips [2][]byte
	for i := range zips {
		out := t.TempDir()
		err := Build(t.Context(), BuildOptions{Root: repoRoot, OutDir: out, Binary: bin})
		if err != nil {
			t.Fatalf("Build: %v", err)
		}
		zipPath := filepath.Join(out, "app.zip")
		checkPackage(t, zipPath, app.Functions())
		if zips[i], err = os.ReadFile(zipPath); err != nil {
			t.Fatal(err)
		}
		// The unpacked app matches the zip: host.json and the handler.
		info, err := os.Stat(filepath.Join(out, "app", "handler"))
		if err != nil || info.Mode().Perm() != 0o755 {
			t.Errorf("dist/app/handler: %v, %v; want mode 0755", info, err)
		}
		host, _ := os.ReadFile(filepath.Join(out, "app", HostFile))
		orig, _ := os.ReadFile(filepath.Join(repoRoot, HostFile))
		if !bytes.Equal(host, orig) {
			t.Error("dist/app/host.json differs from host.json")
		}
	}
	if !bytes.Equal(zips[0], zips[1]) {
		t.Error("two builds from the same inputs gave different zips")
	}
}

func TestBuildRemovesOldOutput(t *testing.T) {
	t.Parallel()
	out := t.TempDir()
	stale := filepath.Join(out, "app", "OldFunction", FunctionFile)
	if err := os.MkdirAll(filepath.Dir(stale), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stale, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Build(t.Context(), BuildOptions{Root: repoRoot, OutDir: out, Binary: fakeBinary(t)}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale output survived: %v", err)
	}
	checkPackage(t, filepath.Join(out, "app.zip"), app.Functions())
}

func TestBuildErrors(t *testing.T) {
	t.Parallel()
	noHost := t.TempDir()
	badExe := t.TempDir()
	if err := os.WriteFile(filepath.Join(badExe, HostFile), []byte(`{"customHandler":{"description":{"defaultExecutablePath":"../handler"}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		opts BuildOptions
		want string
	}{
		{"no host.json", BuildOptions{Root: noHost, OutDir: t.TempDir(), Binary: fakeBinary(t)}, HostFile},
		{"exe outside the app", BuildOptions{Root: badExe, OutDir: t.TempDir(), Binary: fakeBinary(t)}, "clean relative path"},
		{"missing binary", BuildOptions{Root: repoRoot, OutDir: t.TempDir(), Binary: filepath.Join(noHost, "nope")}, "nope"},
		{"go build fails", BuildOptions{Root: noHost, OutDir: t.TempDir(), Go: "false"}, HostFile},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := Build(t.Context(), tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Build = %v, want an error containing %q", err, tc.want)
			}
			if _, err := os.Stat(filepath.Join(tc.opts.OutDir, "app.zip")); !os.IsNotExist(err) {
				t.Errorf("app.zip written despite the error")
			}
		})
	}
}

func TestZipModesAndOrder(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	write := func(name string, mode fs.FileMode) {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(name), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("b/function.json", 0o600)
	write("a.sh", 0o700)
	write("bin/app", 0o644) // named by host.json
	write(HostFile, 0o644)
	if err := os.WriteFile(filepath.Join(root, HostFile), []byte(`{"customHandler":{"description":{"defaultExecutablePath":"bin/app"}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := Zip(&buf, root); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name string
		mode fs.FileMode
	}{{"a.sh", 0o755}, {"b/function.json", 0o644}, {"bin/app", 0o755}, {HostFile, 0o644}}
	if len(zr.File) != len(want) {
		t.Fatalf("%d entries, want %d", len(zr.File), len(want))
	}
	for i, w := range want {
		if f := zr.File[i]; f.Name != w.name || f.Mode() != w.mode {
			t.Errorf("entry %d = %s %v, want %s %v", i, f.Name, f.Mode(), w.name, w.mode)
		}
	}
}

func TestZipRejectsSymlink(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	if err := os.Symlink("/etc/passwd", filepath.Join(root, "link")); err != nil {
		t.Skip("symlinks unsupported:", err)
	}
	if err := Zip(io.Discard, root); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("Zip = %v, want a not-a-regular-file error", err)
	}
}

// TestBuildRealHandler cross-builds ./handler as make package does, checks
// the package, then starts the packaged binary the way the Functions host
// does and checks that every function.json in the zip names a route it
// serves. It is skipped with -short (a cold cache makes it slow).
func TestBuildRealHandler(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: not cross-building ./handler")
	}
	if m, _ := filepath.Glob(filepath.Join(repoRoot, "handler", "*.go")); len(m) == 0 {
		t.Skip("./handler has no Go files yet")
	}
	out := t.TempDir()
	var stderr bytes.Buffer
	if err := Build(context.Background(), BuildOptions{Root: repoRoot, OutDir: out, Stderr: &stderr}); err != nil {
		t.Fatalf("Build: %v\n%s", err, stderr.String())
	}
	checkPackage(t, filepath.Join(out, "app.zip"), app.Functions())
	b, err := os.ReadFile(filepath.Join(out, "app", "handler"))
	if err != nil {
		t.Fatal(err)
	}
	// A static linux/amd64 ELF: magic, 64-bit, little-endian, EM_X86_64.
	if len(b) < 20 || string(b[:4]) != "\x7fELF" || b[4] != 2 || b[5] != 1 || b[18] != 0x3e {
		t.Errorf("handler is not a linux/amd64 ELF binary")
	}
	if runtime.GOOS == "linux" && runtime.GOARCH == "amd64" {
		serveRoutes(t, filepath.Join(out, "app"))
	}
}

// serveRoutes runs the packaged handler as the Functions host would (port
// in FUNCTIONS_CUSTOMHANDLER_PORT, every feed disabled so nothing leaves
// the machine) and asks it for every function's path.
func serveRoutes(t *testing.T, appDir string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	cmd := exec.Command(filepath.Join(appDir, "handler"))
	cmd.Dir = appDir
	cmd.Env = []string{
		"FUNCTIONS_CUSTOMHANDLER_PORT=" + port,
		"SENTINEL_WORKSPACE_ID=00000000-0000-4000-8000-000000000001",
		"ServiceBusConnection__fullyQualifiedNamespace=example.servicebus.windows.net",
		"F2S_DATA_DIR=" + t.TempDir(),
		"STATE_STORE=file", // no Table Storage here
		"HOME=" + t.TempDir(),
	}
	for _, fn := range app.Functions() {
		if fn.Feed != "" && fn.Feed != app.UserListsFeed {
			cmd.Env = append(cmd.Env, feed.SettingName(fn.Feed, "ENABLED")+"=false")
		}
	}
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}()
	base := "http://127.0.0.1:" + port
	ready := false
	for i := 0; i < 100 && !ready; i++ {
		if resp, err := http.Get(base + "/"); err == nil {
			resp.Body.Close()
			ready = resp.StatusCode == 200
		} else {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if !ready {
		t.Fatalf("the packaged handler did not answer GET /:\n%s", logs.String())
	}
	timer := `{"Data":{"timer":{"ScheduleStatus":null,"IsPastDue":false}},"Metadata":{}}`
	for _, fn := range app.Functions() {
		method, body, ctype := http.MethodPost, timer, "application/json"
		switch {
		case fn.Trigger == app.TriggerHTTP && fn.Name == app.FunctionStatus:
			method, body = http.MethodGet, ""
		case fn.Trigger == app.TriggerHTTP:
			body, ctype = "45.147.230.12", "text/plain"
		case fn.Trigger == app.TriggerServiceBus:
			continue // needs a reachable Service Bus to park; served per the handler's own tests
		}
		path := fn.Path()
		if fn.Name == app.FunctionSubmit {
			path += "?dry_run=true"
		}
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", fn.Name, err)
		}
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			t.Errorf("%s %s = %d, want 2xx\n%s", method, path, resp.StatusCode, logs.String())
		}
	}
}

func TestRun(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	host, err := os.ReadFile(filepath.Join(repoRoot, HostFile))
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"go.mod": []byte("module x\n"), HostFile: host} {
		if err := os.WriteFile(filepath.Join(root, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"-gen", "-root", root}, &stdout, &stderr); code != 0 {
		t.Fatalf("run -gen = %d: %s", code, stderr.String())
	}
	if got := readTree(t, filepath.Join(root, "functions")); len(got) != len(app.Functions()) {
		t.Errorf("-gen wrote %d files, want %d", len(got), len(app.Functions()))
	}
	args := []string{"-root", root, "-binary", fakeBinary(t)}
	if code := run(t.Context(), args, &stdout, &stderr); code != 0 {
		t.Fatalf("run = %d: %s", code, stderr.String())
	}
	checkPackage(t, filepath.Join(root, "dist", "app.zip"), app.Functions())
	if code := run(t.Context(), []string{"extra"}, &stdout, &stderr); code != 2 {
		t.Errorf("run with an argument = %d, want 2", code)
	}
	if code := run(t.Context(), []string{"-nope"}, &stdout, &stderr); code != 2 {
		t.Errorf("run with an unknown flag = %d, want 2", code)
	}
}
