package main

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/feeds2sentinel/feeds2sentinel/internal/stix/stixtest"
)

func runCLI(t *testing.T, vars map[string]string, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	e := &env{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb, vars: vars}
	code = run(context.Background(), args, e)
	return code, out.String(), errb.String()
}

func TestHelpAndUsage(t *testing.T) {
	code, out, _ := runCLI(t, nil, "", "help")
	for _, c := range []string{"sync", "convert", "submit", "replay", "status", "serve"} {
		if !strings.Contains(out, "handler "+c) {
			t.Errorf("help lacks %s", c)
		}
	}
	if code != 0 {
		t.Errorf("help exit %d", code)
	}
	if code, _, errs := runCLI(t, nil, "", "frobnicate"); code != 2 || !strings.Contains(errs, "unknown command") {
		t.Errorf("unknown command: %d %q", code, errs)
	}
	if code, _, errs := runCLI(t, nil, ""); code != 2 || !strings.Contains(errs, "Usage") {
		t.Errorf("no args: %d %q", code, errs)
	}
}

func TestConvert(t *testing.T) {
	// The sample is from 2022: its indicators would be expired now (and
	// convert rejects those, as a feed run does).
	code, _, errs := runCLI(t, map[string]string{}, "", "convert", "--feed", "threatfox", "--input", filepath.Join("testdata", "threatfox_get_iocs_response.json"))
	if code != 0 || !strings.Contains(errs, "expired") || !strings.Contains(errs, "2 rejected") {
		t.Fatalf("old sample: exit %d: %s", code, errs)
	}
	b, _ := os.ReadFile(filepath.Join("testdata", "threatfox_get_iocs_response.json"))
	today := time.Now().UTC().Format("2006-01-02")
	b = bytes.ReplaceAll(bytes.ReplaceAll(b, []byte("2022-08-05"), []byte(today)), []byte("2022-07-25"), []byte(today))
	code, out, errs := runCLI(t, map[string]string{}, string(b), "convert", "--feed", "threatfox")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var objs [][]byte
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		objs = append(objs, []byte(sc.Text()))
	}
	if len(objs) != 3 { // identity + 2 indicators
		t.Fatalf("%d objects:\n%s", len(objs), out)
	}
	stixtest.ValidateAll(t, objs)

	// An HTML error page is not a payload: non-zero exit, clear message.
	code, _, errs = runCLI(t, map[string]string{}, "<html><body>502 Bad Gateway</body></html>", "convert", "--feed", "threatfox")
	if code != 1 || !strings.Contains(errs, "not usable") {
		t.Errorf("html payload: exit %d, %q", code, errs)
	}
	if code, _, _ := runCLI(t, map[string]string{}, "", "convert"); code != 2 {
		t.Errorf("missing --feed: exit %d", code)
	}
}

func TestSyncLocal(t *testing.T) {
	urlhaus, _ := os.ReadFile(filepath.Join("testdata", "urlhaus_csv_recent.csv"))
	// The sample is from 2026-02-26; move it to today so it is not expired.
	urlhaus = bytes.ReplaceAll(urlhaus, []byte("2026-02-26"), []byte(time.Now().UTC().Format("2006-01-02")))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(urlhaus) }))
	defer srv.Close()
	dir := t.TempDir()
	vars := map[string]string{"F2S_DATA_DIR": dir, "FEED_URLHAUS_URL": srv.URL + "/csv_recent/"}
	code, out, errs := runCLI(t, vars, "", "sync", "--feed", "urlhaus", "--feed", "threatfox")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	if !strings.Contains(out, "ABUSECH_AUTH_KEY") {
		t.Errorf("threatfox without a key should be skipped with a hint:\n%s", out)
	}
	b, err := os.ReadFile(filepath.Join(dir, "bundle.json"))
	if err != nil || !strings.Contains(string(b), `"type":"bundle"`) || strings.Count(string(b), `"type":"indicator"`) < 9 {
		t.Fatalf("bundle: %v\n%.400s\nout:\n%s\nerr:\n%s", err, b, out, errs)
	}
	// A second run within URLhaus's minimum interval is skipped politely.
	code, out, _ = runCLI(t, vars, "", "sync", "--feed", "urlhaus")
	if code != 0 || !strings.Contains(out, "asks for at least") || !strings.Contains(out, "--force") {
		t.Errorf("second run: exit %d\n%s", code, out)
	}
	// --force runs it anyway, once, with a warning that names the interval.
	code, out, errs = runCLI(t, vars, "", "sync", "--feed", "urlhaus", "--force")
	if code != 0 || strings.Contains(out, "asks for at least") || !strings.Contains(errs, "forced") || !strings.Contains(errs, `"min_interval":"5m0s"`) {
		t.Errorf("forced run: exit %d\n%s\n%s", code, out, errs)
	}
	// Nothing new was uploaded; the summary counts the whole bundle.
	if !strings.Contains(out, "holds 11 STIX objects") {
		t.Errorf("forced run's bundle line:\n%s", out)
	}
	code, out, _ = runCLI(t, vars, "", "status")
	if code != 0 || !strings.Contains(out, "urlhaus") || !strings.Contains(out, "uploader: 1 batches, 11 objects") {
		t.Errorf("status: exit %d\n%s", code, out)
	}
}

func TestSyncUnreachableFeed(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close() // nothing listens there any more
	vars := map[string]string{"F2S_DATA_DIR": t.TempDir(), "FEED_SSLBL_URL": srv.URL + "/sslblacklist.csv"}
	code, out, errs := runCLI(t, vars, "", "sync", "--feed", "sslbl")
	if code != 1 || !strings.Contains(out, "sslbl") || !strings.Contains(out, "failed") || !strings.Contains(errs, "1 of 1 feeds failed") {
		t.Errorf("exit %d\n%s\n%s", code, out, errs)
	}
}

func TestBadSettingStopsStartUp(t *testing.T) {
	code, _, errs := runCLI(t, map[string]string{"SENTINEL_API": "graph"}, "", "sync")
	if code != 1 || !strings.Contains(errs, "SENTINEL_API") {
		t.Errorf("exit %d %q", code, errs)
	}
	code, _, errs = runCLI(t, map[string]string{"FUNCTIONS_CUSTOMHANDLER_PORT": "0"}, "")
	if code != 1 || !strings.Contains(errs, "SENTINEL_WORKSPACE_ID") {
		t.Errorf("serve without required settings: exit %d %q", code, errs)
	}
}

func TestFeeds(t *testing.T) {
	code, out, _ := runCLI(t, map[string]string{"FEED_MY_LIST_URL": "https://lists.example.org/ips.txt"}, "", "feeds")
	for _, want := range []string{"threatfox", "spamhaus-drop", "my-list", "offline"} {
		if !strings.Contains(out, want) {
			t.Errorf("feeds output lacks %q:\n%s", want, out)
		}
	}
	if code != 0 {
		t.Errorf("exit %d", code)
	}
}
