package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestSubmitBusy answers 503 with Retry-After when every submission slot
// is taken, before reading the body.
func TestSubmitBusy(t *testing.T) {
	d := testDeps(t, nil)
	slots := make(chan struct{}, 1)
	srv := httptest.NewServer(submitHandler(d, slots))
	t.Cleanup(srv.Close)
	slots <- struct{}{} // a submission in progress
	req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(`["45.147.230.12"]`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "5" {
		t.Fatalf("busy: %d Retry-After %q, want 503 and 5", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	<-slots // the slot is free again
	r := post(t, srv.URL+"?dry_run=true", "application/json", []byte(`["45.147.230.12"]`))
	if r.status != http.StatusAccepted {
		t.Fatalf("after the slot is freed: %d %s", r.status, r.body)
	}
	if len(slots) != 0 {
		t.Fatalf("the handler kept its slot")
	}
}

// TestSubmitHostileBodies covers the denial-of-service reports: label
// floods, quadratic text and out-of-range values answer quickly with a
// clear code.
func TestSubmitHostileBodies(t *testing.T) {
	d := testDeps(t, nil)
	srv := testServer(t, d)
	url := srv.URL + "/api/indicators?dry_run=true"
	labels := `"l0"` + strings.Repeat(`,"lx"`, 3000)
	r := post(t, url, "application/json", []byte(`{"labels":[`+labels+`],"indicators":["bad-invoices.top"]}`))
	if r.status != 413 || r.err.Error.Code != "too_many_labels" {
		t.Errorf("label flood: %d %s", r.status, r.body)
	}
	r = post(t, url, "application/json", []byte(`{"lifetime":"100000d","indicators":["bad-invoices.top"]}`))
	if r.status != 400 || r.err.Error.Code != "bad_lifetime" {
		t.Errorf("lifetime: %d %s", r.status, r.body)
	}
	r = post(t, url, "text/plain", []byte(strings.Repeat("0", 64<<10)+" bad-invoices.top"))
	if r.status != 202 || r.resp.Accepted != 1 {
		t.Errorf("64 KiB of zeros: %d %.300s", r.status, r.body)
	}
}

func TestServerTimeouts(t *testing.T) {
	d := testDeps(t, nil)
	read, write := serverTimeouts(d.cfg)
	// 5 MiB at 64 KiB/s is 80 s, plus 30 s; then a 9-minute invocation.
	if read != 110*time.Second || write != read+9*time.Minute+30*time.Second {
		t.Fatalf("serverTimeouts = %v, %v", read, write)
	}
}
