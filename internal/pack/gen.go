package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/feeds2sentinel/feeds2sentinel/internal/app"
	"github.com/feeds2sentinel/feeds2sentinel/internal/atomicfile"
	"github.com/feeds2sentinel/feeds2sentinel/internal/invoke"
)

// FunctionFile is the name of the binding file in each function folder.
const FunctionFile = "function.json"

// The binding shapes, as structs so that the key order is fixed.
type (
	functionFile struct {
		Bindings []any `json:"bindings"`
	}
	timerBinding struct {
		Name         string `json:"name"`
		Type         string `json:"type"`
		Direction    string `json:"direction"`
		Schedule     string `json:"schedule"`
		RunOnStartup bool   `json:"runOnStartup"`
		UseMonitor   bool   `json:"useMonitor"`
	}
	serviceBusBinding struct {
		Name        string `json:"name"`
		Type        string `json:"type"`
		Direction   string `json:"direction"`
		QueueName   string `json:"queueName"`
		Connection  string `json:"connection"`
		DataType    string `json:"dataType"`
		Cardinality string `json:"cardinality"`
		Sessions    bool   `json:"isSessionsEnabled,omitempty"`
	}
	httpInBindingJSON struct {
		Name      string   `json:"name"`
		Type      string   `json:"type"`
		Direction string   `json:"direction"`
		AuthLevel string   `json:"authLevel"`
		Methods   []string `json:"methods"`
		Route     string   `json:"route"`
	}
	httpOutBindingJSON struct {
		Name      string `json:"name"`
		Type      string `json:"type"`
		Direction string `json:"direction"`
	}
)

// setting wraps an app setting name in % signs, the host's syntax for
// "the value of this setting".
func setting(name string) string { return "%" + name + "%" }

// functionJSON renders the function.json of fn: pretty-printed, stable,
// with a trailing newline.
func functionJSON(fn app.Function) ([]byte, error) {
	var bindings []any
	switch fn.Trigger {
	case app.TriggerTimer:
		if fn.Schedule == "" {
			return nil, fmt.Errorf("function %s: timer without a schedule setting", fn.Name)
		}
		bindings = []any{timerBinding{
			Name: invoke.TimerBinding, Type: string(app.TriggerTimer), Direction: "in",
			Schedule: setting(fn.Schedule), RunOnStartup: false, UseMonitor: true,
		}}
	case app.TriggerServiceBus:
		if fn.Queue == "" || fn.Connection == "" {
			return nil, fmt.Errorf("function %s: service bus trigger needs a queue setting and a connection", fn.Name)
		}
		bindings = []any{serviceBusBinding{
			Name: invoke.ServiceBusBinding, Type: string(app.TriggerServiceBus), Direction: "in",
			QueueName: setting(fn.Queue), Connection: fn.Connection, DataType: "binary", Cardinality: "one",
			Sessions: fn.Sessions,
		}}
	case app.TriggerHTTP:
		if fn.Route == "" || len(fn.Methods) == 0 {
			return nil, fmt.Errorf("function %s: http trigger needs a route and methods", fn.Name)
		}
		auth := fn.AuthLevel
		if auth == "" {
			auth = "function"
		}
		bindings = []any{
			httpInBindingJSON{
				Name: invoke.HTTPTriggerBinding, Type: string(app.TriggerHTTP), Direction: "in",
				AuthLevel: auth, Methods: fn.Methods, Route: fn.Route,
			},
			httpOutBindingJSON{Name: invoke.HTTPOutputBinding, Type: "http", Direction: "out"},
		}
	default:
		return nil, fmt.Errorf("function %s: unknown trigger %q", fn.Name, fn.Trigger)
	}
	b, err := json.MarshalIndent(functionFile{Bindings: bindings}, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("function %s: %w", fn.Name, err)
	}
	return append(b, '\n'), nil
}

// validName reports whether name can be a function folder name.
func validName(name string) bool {
	if name == "" || name == "." || name == ".." {
		return false
	}
	return !strings.ContainsAny(name, `/\:*?"<>|`) && !strings.HasPrefix(name, ".")
}

// Generate writes dir/<Name>/function.json for every function in fns,
// creating dir if needed, and removes the function.json of every other
// folder of dir (and the folder itself if that leaves it empty). Folders
// without a function.json are left alone. It fails on duplicate or invalid
// names and on functions whose settings are incomplete, before writing
// anything.
func Generate(dir string, fns []app.Function) error {
	files := make(map[string][]byte, len(fns))
	for _, fn := range fns {
		if !validName(fn.Name) {
			return fmt.Errorf("generate: invalid function name %q", fn.Name)
		}
		if _, dup := files[fn.Name]; dup {
			return fmt.Errorf("generate: duplicate function name %q", fn.Name)
		}
		b, err := functionJSON(fn)
		if err != nil {
			return fmt.Errorf("generate: %w", err)
		}
		files[fn.Name] = b
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("generate: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("generate: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() || files[e.Name()] != nil {
			continue
		}
		stale := filepath.Join(dir, e.Name(), FunctionFile)
		if err := os.Remove(stale); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return fmt.Errorf("generate: remove stale function: %w", err)
		}
		_ = os.Remove(filepath.Join(dir, e.Name())) // fails if not empty: keep
	}
	for name, b := range files {
		sub := filepath.Join(dir, name)
		if err := os.MkdirAll(sub, 0o755); err != nil {
			return fmt.Errorf("generate: %w", err)
		}
		path := filepath.Join(sub, FunctionFile)
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, b) {
			continue
		}
		if err := atomicfile.WriteFile(path, b, nil); err != nil {
			return fmt.Errorf("generate: %w", err)
		}
	}
	return nil
}
