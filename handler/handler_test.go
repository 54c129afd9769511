package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/feeds2sentinel/feeds2sentinel/internal/app"
	"github.com/feeds2sentinel/feeds2sentinel/internal/config"
	"github.com/feeds2sentinel/feeds2sentinel/internal/invoke"
	"github.com/feeds2sentinel/feeds2sentinel/internal/stix/stixtest"
)

// testDeps builds the local-mode parts (spool, file state, bundle sink) in
// a temporary directory.
func testDeps(t *testing.T, vars map[string]string) *deps {
	t.Helper()
	env := map[string]string{"F2S_DATA_DIR": t.TempDir()}
	for k, v := range vars {
		env[k] = v
	}
	cfg, err := config.Load(env, config.ModeLocal)
	if err != nil {
		t.Fatal(err)
	}
	d, err := build(context.Background(), cfg, newLogger(new(bytes.Buffer), "error"), true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func testServer(t *testing.T, d *deps) *httptest.Server {
	t.Helper()
	mux, err := routes(d)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// TestRoutesMatchFunctionJSON checks that every functions/*/function.json
// names a path the handler serves, and that every app function has a file.
func TestRoutesMatchFunctionJSON(t *testing.T) {
	d := testDeps(t, nil)
	mux, err := routes(d)
	if err != nil {
		t.Fatal(err)
	}
	dirs, err := filepath.Glob(filepath.Join("..", "functions", "*", "function.json"))
	if err != nil || len(dirs) != len(app.Functions()) {
		t.Fatalf("function.json files = %d (%v), app functions = %d", len(dirs), err, len(app.Functions()))
	}
	for _, f := range dirs {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var fj struct {
			Bindings []struct {
				Name, Type, Direction, Route string
				Methods                      []string
			}
		}
		if err := json.Unmarshal(b, &fj); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		name := filepath.Base(filepath.Dir(f))
		path, method := "/"+name, http.MethodPost
		for _, bd := range fj.Bindings {
			switch bd.Type {
			case "httpTrigger":
				path = "/api/" + bd.Route
				method = strings.ToUpper(bd.Methods[0])
				if bd.Name != invoke.HTTPTriggerBinding {
					t.Errorf("%s: trigger binding %q, payload mode reads Data.%s", f, bd.Name, invoke.HTTPTriggerBinding)
				}
				// A host that neither proxies nor forwards POSTs the
				// payload to /<Name>.
				if _, pattern := mux.Handler(httptest.NewRequest(http.MethodPost, "/"+name, nil)); pattern == "" {
					t.Errorf("%s: the handler serves nothing at POST /%s (payload mode)", f, name)
				}
			case "http":
				if bd.Name != invoke.HTTPOutputBinding {
					t.Errorf("%s: output binding %q, payload mode answers Outputs.%s", f, bd.Name, invoke.HTTPOutputBinding)
				}
			}
		}
		req := httptest.NewRequest(method, path, nil)
		if _, pattern := mux.Handler(req); pattern == "" {
			t.Errorf("%s: the handler serves nothing at %s %s", f, method, path)
		}
	}
}

// TestHostPayloads replays the Functions host samples through the handler.
func TestHostPayloads(t *testing.T) {
	d := testDeps(t, map[string]string{"FEED_SSLBL_ENABLED": "false"})
	srv := testServer(t, d)
	for _, tc := range []struct {
		file, path string
		wantLog    string
	}{
		{"timer_request_azfunc_test.json", "/FeedSSLBL", `"outcome":"skipped"`},
		{"servicebus_request_azfunc_test.json", "/UploadIndicators", `"parked":true`},
		{"SYNTHESIZED_servicebus_request_derived_from_host_source.json", "/UploadIndicators", `"parked":true`},
		{"SYNTHESIZED_servicebus_request_dataType_binary.json", "/UploadIndicators", `"parked":true`},
	} {
		b, err := os.ReadFile(filepath.Join("testdata", tc.file))
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodPost, srv.URL+tc.path, bytes.NewReader(b))
		req.Header.Set("X-Azure-Functions-InvocationId", "11111111-2222-3333-4444-555555555555")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		var out map[string]json.RawMessage
		json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: status %d: %s", tc.file, resp.StatusCode, out)
			continue
		}
		for _, k := range []string{"Outputs", "Logs", "ReturnValue"} {
			if _, ok := out[k]; !ok {
				t.Errorf("%s: response lacks %s: %s", tc.file, k, out)
			}
		}
		if !strings.Contains(string(out["Logs"]), strings.ReplaceAll(tc.wantLog, `"`, `\"`)) {
			t.Errorf("%s: Logs %s lack %s", tc.file, out["Logs"], tc.wantLog)
		}
	}
	// The parked batches are on the spool, with a reason, for replay. The
	// two synthesized samples carry the same MessageId: parked once.
	if _, _, _, parked := d.spool.Counts(); parked != 2 {
		t.Errorf("parked = %d, want 2", parked)
	}
}

// TestUploadFunction sends a real batch through the Service Bus trigger
// path into the local bundle sink.
func TestUploadFunction(t *testing.T) {
	d := testDeps(t, nil)
	srv := testServer(t, d)
	sub, err := d.submit(context.Background(), "application/json", []byte(`["45.147.230.12","bad-invoices.top"]`), true, "")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(sub.Objects)
	payload, _ := json.Marshal(map[string]any{
		"Data":     map[string]any{"message": body}, // []byte → base64, as dataType binary
		"Metadata": map[string]any{"MessageId": `"m1"`, "DeliveryCount": "1"},
	})
	resp, err := http.Post(srv.URL+"/UploadIndicators", "application/json", bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if n := d.bundle.Len(); n != 3 {
		t.Errorf("bundle holds %d objects, want 3 (identity + 2 indicators)", n)
	}
	var objs [][]byte
	for _, o := range sub.Objects {
		objs = append(objs, o)
	}
	stixtest.ValidateAll(t, objs)
}
