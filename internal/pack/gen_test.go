package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/feeds2sentinel/feeds2sentinel/internal/app"
	"github.com/feeds2sentinel/feeds2sentinel/internal/invoke"
)

// repoRoot is the module root seen from this package's directory.
const repoRoot = "../.."

// TestCommittedFunctionsUpToDate fails when functions/ differs from what
// `go run ./internal/pack -gen` would write.
func TestCommittedFunctionsUpToDate(t *testing.T) {
	t.Parallel()
	want := t.TempDir()
	if err := Generate(want, app.Functions()); err != nil {
		t.Fatal(err)
	}
	committed := filepath.Join(repoRoot, "functions")
	wantFiles, gotFiles := readTree(t, want), readTree(t, committed)
	for name, w := range wantFiles {
		g, ok := gotFiles[name]
		switch {
		case !ok:
			t.Errorf("functions/%s is missing", name)
		case !bytes.Equal(g, w):
			t.Errorf("functions/%s is out of date:\n got: %s\nwant: %s", name, g, w)
		}
	}
	for name := range gotFiles {
		if _, ok := wantFiles[name]; !ok && strings.HasSuffix(name, "/"+FunctionFile) {
			t.Errorf("functions/%s belongs to no function of internal/app", name)
		}
	}
	if t.Failed() {
		t.Log("run `make functions` (go run ./internal/pack -gen) and commit functions/")
	}
}

// readTree returns every regular file under root by slash path.
func readTree(t *testing.T, root string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		files[filepath.ToSlash(rel)] = b
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// binding is a parsed function.json binding.
type binding struct {
	Name, Type, Direction, Schedule, QueueName, Connection, DataType, Cardinality, AuthLevel, Route string
	Methods                                                                                         []string
	RunOnStartup, UseMonitor                                                                        *bool
	AutoComplete                                                                                    *bool `json:"autoComplete"`
	Sessions                                                                                        bool  `json:"isSessionsEnabled"`
}

// checkFunctionJSON fails unless b is the function.json of fn.
func checkFunctionJSON(t *testing.T, fn app.Function, b []byte) {
	t.Helper()
	if !bytes.HasSuffix(b, []byte("}\n")) {
		t.Errorf("%s: function.json lacks a trailing newline", fn.Name)
	}
	var f struct{ Bindings []binding }
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("%s: function.json: %v", fn.Name, err)
	}
	if len(f.Bindings) == 0 {
		t.Fatalf("%s: no bindings", fn.Name)
	}
	in := f.Bindings[0]
	if in.Type != string(fn.Trigger) || in.Direction != "in" {
		t.Errorf("%s: trigger %s/%s, want %s/in", fn.Name, in.Type, in.Direction, fn.Trigger)
	}
	switch fn.Trigger {
	case app.TriggerTimer:
		if in.Name != invoke.TimerBinding || in.Schedule != "%"+fn.Schedule+"%" ||
			in.RunOnStartup == nil || *in.RunOnStartup || in.UseMonitor == nil || !*in.UseMonitor || len(f.Bindings) != 1 {
			t.Errorf("%s: timer binding %+v", fn.Name, in)
		}
	case app.TriggerServiceBus:
		if in.Name != invoke.ServiceBusBinding || in.QueueName != "%"+fn.Queue+"%" || in.Connection != fn.Connection ||
			in.DataType != "binary" || in.Cardinality != "one" || in.AutoComplete != nil || in.Sessions != fn.Sessions || len(f.Bindings) != 1 {
			t.Errorf("%s: service bus binding %+v", fn.Name, in)
		}
	case app.TriggerHTTP:
		if in.Name != "req" || in.Route != fn.Route || in.AuthLevel != fn.AuthLevel || !slices.Equal(in.Methods, fn.Methods) {
			t.Errorf("%s: http binding %+v", fn.Name, in)
		}
		if len(f.Bindings) != 2 || f.Bindings[1].Name != "res" || f.Bindings[1].Type != "http" || f.Bindings[1].Direction != "out" {
			t.Errorf("%s: want an http out binding named res, got %+v", fn.Name, f.Bindings[1:])
		}
	default:
		t.Errorf("%s: unexpected trigger %q", fn.Name, fn.Trigger)
	}
}

func TestGenerateContent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fns := app.Functions()
	if err := Generate(dir, fns); err != nil {
		t.Fatal(err)
	}
	for _, fn := range fns {
		b, err := os.ReadFile(filepath.Join(dir, fn.Name, FunctionFile))
		if err != nil {
			t.Fatal(err)
		}
		checkFunctionJSON(t, fn, b)
	}
}

func TestGenerateRemovesStale(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	mustWrite := func(p, s string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mustWrite(filepath.Join(dir, "OldFeed", FunctionFile), "{}")
	mustWrite(filepath.Join(dir, "Mixed", FunctionFile), "{}")
	mustWrite(filepath.Join(dir, "Mixed", "notes.txt"), "keep")
	mustWrite(filepath.Join(dir, "NotAFunction", "README.md"), "keep")
	mustWrite(filepath.Join(dir, "README.md"), "keep")
	fns := app.Functions()[:1]
	if err := Generate(dir, fns); err != nil {
		t.Fatal(err)
	}
	got := readTree(t, dir)
	want := []string{"Mixed/notes.txt", "NotAFunction/README.md", "README.md", fns[0].Name + "/" + FunctionFile}
	var names []string
	for n := range got {
		names = append(names, n)
	}
	slices.Sort(names)
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("files after Generate = %v, want %v", names, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "OldFeed")); !os.IsNotExist(err) {
		t.Errorf("stale folder OldFeed not removed: %v", err)
	}
}

func TestGenerateErrors(t *testing.T) {
	t.Parallel()
	timer := app.Function{Name: "T", Trigger: app.TriggerTimer, Schedule: "S"}
	cases := []struct {
		name string
		fns  []app.Function
		want string
	}{
		{"duplicate", []app.Function{timer, timer}, "duplicate"},
		{"bad name", []app.Function{{Name: "../x", Trigger: app.TriggerTimer, Schedule: "S"}}, "invalid function name"},
		{"empty name", []app.Function{{Trigger: app.TriggerTimer, Schedule: "S"}}, "invalid function name"},
		{"timer without schedule", []app.Function{{Name: "T", Trigger: app.TriggerTimer}}, "schedule"},
		{"queue without connection", []app.Function{{Name: "Q", Trigger: app.TriggerServiceBus, Queue: "Q"}}, "connection"},
		{"http without route", []app.Function{{Name: "H", Trigger: app.TriggerHTTP, Methods: []string{"get"}}}, "route"},
		{"unknown trigger", []app.Function{{Name: "B", Trigger: "blobTrigger"}}, "unknown trigger"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			err := Generate(dir, tc.fns)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Generate = %v, want an error containing %q", err, tc.want)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("Generate wrote %d entries before failing", len(entries))
			}
		})
	}
}
