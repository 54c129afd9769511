package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// TestAuthKeyNeverEchoed is the regression test of a feed answering 200
// with {"query_status": "illegal_auth_key: <key>"}: the key was printed by
// the run, stored in the feed status and served by /api/status. Every
// abuse.ch feed here echoes the Auth-Key it receives (plain, URL-encoded,
// in an error page or a CSV header); neither the sync output, nor the
// status command, nor /api/status may show it.
func TestAuthKeyNeverEchoed(t *testing.T) {
	const key = "Zm9vYmFy+c2VjcmV0/a2V5=="
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k := r.Header.Get("Auth-Key")
		switch strings.Trim(r.URL.Path, "/") {
		case "threatfox":
			io.WriteString(w, `{"query_status": "illegal_auth_key: `+k+`", "data": null}`)
		case "urlhaus-api":
			io.WriteString(w, `{"query_status": "bad key `+url.QueryEscape(k)+`", "urls": null}`)
		case "malwarebazaar":
			io.WriteString(w, `{"query_status": "`+k+`"}`)
		case "feodotracker":
			io.WriteString(w, `<html><body>key `+k+` is not valid</body></html>`)
		case "sslbl":
			io.WriteString(w, k+",SHA1,Listingreason\n")
		default:
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, "no such feed; your key: "+k)
		}
	}))
	defer srv.Close()
	feeds := []string{"threatfox", "urlhaus-api", "malwarebazaar", "feodotracker", "sslbl", "threatfox-csv"}
	vars := map[string]string{"F2S_DATA_DIR": t.TempDir(), "ABUSECH_AUTH_KEY": key}
	args := []string{"sync"}
	for _, f := range feeds {
		vars["FEED_"+strings.ToUpper(strings.ReplaceAll(f, "-", "_"))+"_URL"] = srv.URL + "/" + f + "/"
		args = append(args, "--feed", f)
	}
	leaks := func(where, text string) {
		t.Helper()
		for _, form := range []string{key, url.QueryEscape(key), url.PathEscape(key), strings.ReplaceAll(key, "/", `\/`)} {
			if strings.Contains(text, form) {
				t.Errorf("%s echoes the key (%q):\n%s", where, form, text)
			}
		}
	}
	code, out, errs := runCLI(t, vars, "", args...)
	if code != 1 || !strings.Contains(errs, "feeds failed") {
		t.Errorf("sync: exit %d, want 1 (every feed fails)\n%s\n%s", code, out, errs)
	}
	leaks("sync output", out+errs)
	for _, f := range feeds {
		if !strings.Contains(out, f) {
			t.Errorf("sync output does not report %s:\n%s", f, out)
		}
	}
	code, out, errs = runCLI(t, vars, "", "status")
	if code != 0 {
		t.Errorf("status: exit %d\n%s", code, errs)
	}
	leaks("status command", out+errs)

	resp, err := http.Get(testServer(t, testDeps(t, vars)).URL + "/api/status")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "threatfox") {
		t.Errorf("/api/status: %d\n%s", resp.StatusCode, body)
	}
	leaks("/api/status", string(body))
}
