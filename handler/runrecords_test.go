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
	"sync"
	"testing"
	"time"

	"github.com/feeds2sentinel/feeds2sentinel/internal/config"
	"github.com/feeds2sentinel/feeds2sentinel/internal/runrecord"
	"github.com/feeds2sentinel/feeds2sentinel/internal/runrecord/ingestfake"
)

const testDCR = "dcr-00112233445566778899aabbccddeeff"

// runRecordsFake starts a Logs Ingestion fake declaring the stream infra
// deploys, and returns it with the settings that point the app at it.
func runRecordsFake(t *testing.T) (*ingestfake.Server, map[string]string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "infra", "modules", "runrecords.bicep"))
	if err != nil {
		t.Fatal(err)
	}
	stream, cols, err := ingestfake.StreamFromBicep(string(b))
	if err != nil {
		t.Fatal(err)
	}
	f := ingestfake.New(testDCR, stream, cols)
	t.Cleanup(f.Close)
	return f, map[string]string{"RUN_RECORDS_ENDPOINT": f.URL, "RUN_RECORDS_DCR_ID": testDCR}
}

// syncBuffer is a log sink safe for the handler's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func invokeTimer(t *testing.T, url string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "timer_request_azfunc_test.json"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("timer: status %d", resp.StatusCode)
	}
}

func rowsBy(rows []map[string]any, function string) []map[string]any {
	var out []map[string]any
	for _, r := range rows {
		if r["Function"] == function {
			out = append(out, r)
		}
	}
	return out
}

// TestRunRecordsThroughTheHandler: a feed run, an upload batch and a
// submission each write one row, sent at the end of their invocation.
func TestRunRecordsThroughTheHandler(t *testing.T) {
	fake, vars := runRecordsFake(t)
	urlhaus, _ := os.ReadFile(filepath.Join("testdata", "urlhaus_csv_recent.csv"))
	urlhaus = bytes.ReplaceAll(urlhaus, []byte("2026-02-26"), []byte(time.Now().UTC().Format("2006-01-02")))
	feed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(urlhaus) }))
	defer feed.Close()
	vars["FEED_URLHAUS_URL"] = feed.URL + "/csv_recent/"
	d := testDeps(t, vars)
	srv := testServer(t, d)

	invokeTimer(t, srv.URL+"/FeedURLhaus")
	rows := rowsBy(fake.Rows(), "FeedURLhaus")
	if len(rows) != 1 {
		t.Fatalf("feed run rows = %v, want one", fake.Rows())
	}
	r := rows[0]
	if r["Feed"] != "urlhaus" || r["Outcome"] != "succeeded" || r["Fetched"].(int64) < 9 || r["Enqueued"].(int64) < 9 || r["New"].(int64) < 9 || r["Error"] != "" {
		t.Errorf("feed run row = %v", r)
	}
	if _, ok := r["TimeGenerated"].(time.Time); !ok {
		t.Errorf("TimeGenerated = %v", r["TimeGenerated"])
	}

	sub := post(t, srv.URL+"/api/indicators", "application/json", []byte(`["45.147.230.12","bad-invoices.top","10.0.0.1"]`))
	if sub.status != http.StatusAccepted {
		t.Fatalf("submit: %d %s", sub.status, sub.body)
	}
	rows = rowsBy(fake.Rows(), "SubmitIndicators")
	if len(rows) != 1 {
		t.Fatalf("submission rows = %v, want one", rows)
	}
	r = rows[0]
	if r["Feed"] != "manual" || r["Outcome"] != "succeeded" || r["Fetched"] != int64(3) || r["Rejected"] != int64(1) || r["Enqueued"] != int64(2) {
		t.Errorf("submission row = %v", r)
	}
	if reasons, _ := r["RejectedByReason"].(map[string]any); len(reasons) != 1 {
		t.Errorf("submission RejectedByReason = %v, want the private address's reason", r["RejectedByReason"])
	}

	// The upload of one queued batch (the spool holds what the feed run and
	// the submission enqueued; take one message the way the host would
	// deliver it).
	msg, err := d.spool.Receive(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(map[string]any{
		"Data":     map[string]any{"message": msg.Body},
		"Metadata": map[string]any{"MessageId": `"` + msg.ID + `"`, "DeliveryCount": "1", "ApplicationProperties": msg.Properties},
	})
	resp, err := http.Post(srv.URL+"/UploadIndicators", "application/json", bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("upload: status %d", resp.StatusCode)
	}
	rows = rowsBy(fake.Rows(), "UploadIndicators")
	if len(rows) != 1 {
		t.Fatalf("upload rows = %v, want one", rows)
	}
	r = rows[0]
	if r["Outcome"] != "uploaded" || r["Uploaded"].(int64) < 1 || r["Parked"] != int64(0) || r["Feed"] == "" {
		t.Errorf("upload row = %v", r)
	}
	for _, rq := range fake.Requests() {
		if !rq.Gzip || rq.Status != http.StatusNoContent {
			t.Errorf("call %+v: want gzip, accepted", rq)
		}
	}
}

// TestRunRecordFailuresNeverFailThePipeline: the ingestion endpoint
// refuses or throttles for an hour; the submission still succeeds, and the
// lost rows are counted and logged.
func TestRunRecordFailuresNeverFailThePipeline(t *testing.T) {
	fake, vars := runRecordsFake(t)
	fake.Fail(http.StatusForbidden)
	fake.Throttle("3600")
	vars["F2S_DATA_DIR"] = t.TempDir()
	cfg, err := config.Load(vars, config.ModeLocal)
	if err != nil {
		t.Fatal(err)
	}
	var log syncBuffer
	d, err := build(context.Background(), cfg, newLogger(&log, "warn"), true)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	srv := testServer(t, d)
	for i := range 3 {
		sub := post(t, srv.URL+"/api/indicators", "text/plain", []byte("45.147.230.12"))
		if sub.status != http.StatusAccepted {
			t.Fatalf("submission %d: %d %s", i, sub.status, sub.body)
		}
	}
	b, ok := d.runs.(*runrecord.Batcher)
	if !ok {
		t.Fatalf("run records are %T, want a Batcher", d.runs)
	}
	if s := b.Stats(); s.Failed != 2 || s.Written != 1 {
		t.Errorf("stats %+v, want 2 failed (403, long 429) and 1 written", s)
	}
	if n := strings.Count(log.String(), "run records not written"); n != 2 {
		t.Errorf("%d failures logged, want 2:\n%s", n, log.String())
	}
	if len(fake.Rows()) != 1 {
		t.Errorf("rows = %v, want the third submission's", fake.Rows())
	}
}

// TestRunRecordsOff: without RUN_RECORDS_ENDPOINT nothing is recorded.
func TestRunRecordsOff(t *testing.T) {
	d := testDeps(t, nil)
	if _, ok := d.runs.(runrecord.Nop); !ok {
		t.Errorf("run records are %T, want runrecord.Nop", d.runs)
	}
}

// TestRunRecordsOfSync: handler sync writes a row per feed and one for
// the drain of the local spool.
func TestRunRecordsOfSync(t *testing.T) {
	fake, vars := runRecordsFake(t)
	feed := httptest.NewServer(http.NotFoundHandler())
	defer feed.Close()
	vars["F2S_DATA_DIR"] = t.TempDir()
	vars["FEED_SSLBL_URL"] = feed.URL + "/sslblacklist.csv"
	code, out, errs := runCLI(t, vars, "", "sync", "--feed", "sslbl", "--feed", "threatfox")
	if code != 1 {
		t.Fatalf("exit %d (want 1: sslbl fails)\n%s\n%s", code, out, errs)
	}
	got := map[string]string{}
	for _, r := range rowsBy(fake.Rows(), "sync") {
		got[r["Feed"].(string)] = r["Outcome"].(string)
	}
	want := map[string]string{"sslbl": "failed", "threatfox": "skipped", "": "uploaded"}
	if len(got) != len(want) {
		t.Fatalf("sync rows %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("sync row %q: outcome %q, want %q", k, got[k], v)
		}
	}
	if n := len(fake.Requests()); n != 1 {
		t.Errorf("%d calls, want the rows batched into one", n)
	}
}
