package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/feeds2sentinel/feeds2sentinel/internal/ingest"
	"github.com/feeds2sentinel/feeds2sentinel/internal/stix/stixtest"
)

type submitResult struct {
	status int
	body   []byte
	resp   ingest.SubmitResponse
	err    struct {
		Error struct{ Code, Message string }
	}
}

func post(t *testing.T, url, ctype string, body []byte) submitResult {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r submitResult
	r.status = resp.StatusCode
	r.body, _ = io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q: every answer is JSON", ct)
	}
	json.Unmarshal(r.body, &r.resp)
	json.Unmarshal(r.body, &r.err)
	return r
}

func TestSubmitForms(t *testing.T) {
	d := testDeps(t, map[string]string{"SUBMIT_MAX_ITEMS": "50", "SUBMIT_MAX_BYTES": "4096"})
	srv := testServer(t, d)
	url := srv.URL + "/api/indicators"
	vendor, _ := os.ReadFile(filepath.Join("testdata", "vendor_report.txt"))
	notes, _ := os.ReadFile(filepath.Join("testdata", "release_notes.txt"))

	tests := []struct {
		name           string
		ctype, body    string
		status         int
		accepted       int
		rejected       int
		code           string
		wantValues     []string
		forbiddenValue []string
	}{
		{name: "json array of strings", ctype: "application/json", body: `["hxxp://evil-site[.]top/a?b=c", "45.147.230.12", "10.0.0.1"]`,
			status: 202, accepted: 2, rejected: 1, wantValues: []string{"http://evil-site.top/a?b=c", "45.147.230.12"}},
		{name: "object form with defaults", ctype: "application/json; charset=utf-8",
			body:   `{"source":"ir-case-42","labels":["case-42"],"confidence":90,"tlp":"amber","indicators":["bad-invoices.top",{"value":"9e107d9d372bb6826bd81d3542a419d6","type":"md5","labels":["dropper"],"valid_until":"2027-01-01T00:00:00Z"},{"type":"domain"}]}`,
			status: 202, accepted: 2, rejected: 1, wantValues: []string{"bad-invoices.top", "9e107d9d372bb6826bd81d3542a419d6"}},
		{name: "stix bundle", ctype: "application/json",
			body:   `{"type":"bundle","id":"bundle--1a2b3c4d-0000-4000-8000-000000000000","objects":[{"type":"indicator","spec_version":"2.1","id":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","created":"2026-01-01T00:00:00.000Z","modified":"2026-01-01T00:00:00.000Z","pattern":"[url:value = 'HTTP://Evil-Site.top/x']","pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z"},{"type":"indicator","id":"indicator--9e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","pattern":"[ipv4-addr:value = '1.2.3.4' AND ipv4-addr:value = '5.6.7.8']","pattern_type":"stix"},{"type":"malware","id":"malware--0e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","name":"x","is_family":true}]}`,
			status: 202, accepted: 1, rejected: 2, wantValues: []string{"http://evil-site.top/x"}},
		{name: "vendor text", ctype: "text/plain", body: string(vendor), status: 202,
			wantValues:     []string{"45.147.230.12", "194.26.29.18", "https://cdn-update.bad-invoices.top/dl/inv_0934.zip", "secure-login-portal.xyz", "billing@bad-invoices.top", "2c4a5b1e9f0d7c3b6a8e1f2d4c6b8a0e2f4d6c8b0a2e4f6d8c0b2a4e6f8d0c2b", "9e107d9d372bb6826bd81d3542a419d6"},
			forbiddenValue: []string{"8.8.8.8", "www.microsoft.com"}},
		{name: "text without IOCs", ctype: "text/plain", body: string(notes), status: 400, code: "empty"},
		{name: "malformed json", ctype: "application/json", body: "[\"1.2.3.4\",\n  {\"value\": }]", status: 400, code: "malformed_json"},
		{name: "unsupported type", ctype: "application/xml", body: "<x/>", status: 415, code: "unsupported_media_type"},
		{name: "empty", ctype: "application/json", body: "  ", status: 400, code: "empty"},
		{name: "too many items", ctype: "application/json", body: "[" + strings.Repeat(`"bad-invoices.top",`, 50) + `"x.top"]`, status: 413, code: "too_many_items"},
		{name: "too large", ctype: "text/plain", body: strings.Repeat("a", 5000), status: 413, code: "body_too_large"},
		{name: "wrong shape", ctype: "application/json", body: `{"foo":1}`, status: 400, code: "bad_shape"},
		{name: "bad tlp", ctype: "application/json", body: `{"tlp":"purple","indicators":["bad-invoices.top"]}`, status: 400, code: "bad_tlp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := post(t, url+"?dry_run=true", tt.ctype, []byte(tt.body))
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if tt.code != "" {
				if r.err.Error.Code != tt.code || r.err.Error.Message == "" {
					t.Errorf("error = %+v, want code %s", r.err.Error, tt.code)
				}
				if strings.Contains(string(r.body), "<x/>") {
					t.Error("the error echoes the input")
				}
				return
			}
			if tt.accepted > 0 && r.resp.Accepted != tt.accepted || tt.rejected > 0 && r.resp.Rejected != tt.rejected {
				t.Errorf("accepted %d rejected %d, want %d %d: %s", r.resp.Accepted, r.resp.Rejected, tt.accepted, tt.rejected, r.body)
			}
			got := map[string]bool{}
			for _, res := range r.resp.Results {
				if res.Status == "accepted" {
					got[res.Value] = true
					if res.ID == "" || res.Type == "" {
						t.Errorf("accepted result lacks id/type: %+v", res)
					}
				} else if res.Reason == "" || res.Message == "" {
					t.Errorf("rejected result lacks reason/message: %+v", res)
				}
			}
			for _, v := range tt.wantValues {
				if !got[v] {
					t.Errorf("%s not accepted; got %v", v, got)
				}
			}
			for _, v := range tt.forbiddenValue {
				if got[v] {
					t.Errorf("%s accepted (allowlisted benign infrastructure)", v)
				}
			}
			var objs [][]byte
			for _, o := range r.resp.Objects {
				objs = append(objs, o)
			}
			if len(objs) == 0 {
				t.Fatal("dry run returned no STIX objects")
			}
			stixtest.ValidateAll(t, objs)
		})
	}
	if ready, _, _, _ := d.spool.Counts(); ready != 0 {
		t.Errorf("dry runs queued %d messages", ready)
	}
}

func TestSubmitEnqueuesAndStatus(t *testing.T) {
	d := testDeps(t, nil)
	srv := testServer(t, d)
	r := post(t, srv.URL+"/api/indicators", "application/json", []byte(`{"source":"ir-case-42","tlp":"red","indicators":["bad-invoices.top","45.147.230.12"]}`))
	if r.status != 202 || r.resp.Enqueued != 2 {
		t.Fatalf("status %d enqueued %d: %s", r.status, r.resp.Enqueued, r.body)
	}
	if !strings.Contains(string(r.body), `"source": "ir-case-42"`) {
		t.Errorf("response source: %s", r.body)
	}
	if ready, _, _, _ := d.spool.Counts(); ready != 1 {
		t.Errorf("spool ready = %d, want 1 batch", ready)
	}
	// Method checks.
	resp, _ := http.Get(srv.URL + "/api/indicators")
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /api/indicators = %d", resp.StatusCode)
	}
	resp.Body.Close()
	// Status shows the submission source and every feed.
	resp, err := http.Get(srv.URL + "/api/status")
	if err != nil {
		t.Fatal(err)
	}
	var doc statusDocument
	json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(doc.Feeds) < 9 {
		t.Fatalf("status %d, %d feeds", resp.StatusCode, len(doc.Feeds))
	}
	found := false
	for _, f := range doc.Feeds {
		if f.Feed == "ir-case-42" && f.Counts["enqueued"] == 2 {
			found = true
		}
	}
	if !found {
		t.Errorf("status lacks the submission's run: %+v", doc.Feeds)
	}
}

func TestSubmitEdgeCases(t *testing.T) {
	d := testDeps(t, nil)
	srv := testServer(t, d)
	url := srv.URL + "/api/indicators?dry_run=true"
	// A UTF-8 byte-order mark (PowerShell's Out-File) is not an error.
	r := post(t, url, "application/json", append([]byte("\xef\xbb\xbf"), `["45.147.230.12"]`...))
	if r.status != 202 || r.resp.Accepted != 1 {
		t.Errorf("BOM: %d %s", r.status, r.body)
	}
	// An item that is already expired is rejected with the reason.
	r = post(t, url, "application/json", []byte(`[{"value":"bad-invoices.top","valid_until":"2020-01-01T00:00:00Z"}]`))
	if r.status != 202 || r.resp.Rejected != 1 || r.resp.Results[0].Reason != "expired" {
		t.Errorf("expired item: %d %s", r.status, r.body)
	}
	// A submission may not take a feed's name (it would overwrite the
	// feed's status and be revoked by its sweep).
	r = post(t, url, "application/json", []byte(`{"source":"FeodoTracker","indicators":["45.147.230.12"]}`))
	if r.status != 400 || r.err.Error.Code != "bad_source" {
		t.Errorf("feed name as source: %d %s", r.status, r.body)
	}
	// dry_run must parse: an unknown value would otherwise enqueue.
	r = post(t, srv.URL+"/api/indicators?dry_run=yes", "application/json", []byte(`["45.147.230.12"]`))
	if r.status != 400 || r.err.Error.Code != "bad_dry_run" {
		t.Errorf("dry_run=yes: %d %s", r.status, r.body)
	}
	if ready, _, _, _ := d.spool.Counts(); ready != 0 {
		t.Errorf("refused requests queued %d batches", ready)
	}
	// No Content-Type at all (curl --data sets a form type): 415 naming what works.
	r = post(t, url, "application/x-www-form-urlencoded", []byte("ioc=1.2.3.4"))
	if r.status != 415 || !strings.Contains(r.err.Error.Message, "text/plain") {
		t.Errorf("form body: %d %s", r.status, r.body)
	}
}
