package sentinel_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/feeds2sentinel/feeds2sentinel/internal/sentinel"
	"github.com/feeds2sentinel/feeds2sentinel/internal/sentinel/sentineltest"
)

func TestNewValidation(t *testing.T) {
	t.Parallel()
	cred := &fakeCredential{tokens: []string{"t"}}
	ok := sentinel.Options{WorkspaceID: testWorkspace, SourceSystem: testSource, Credential: cred}
	cases := []struct {
		name    string
		edit    func(*sentinel.Options)
		wantErr string // "" = valid
	}{
		{"defaults", func(*sentinel.Options) {}, ""},
		{"braced workspace", func(o *sentinel.Options) { o.WorkspaceID = "{" + testWorkspace + "}" }, ""},
		{"legacy", func(o *sentinel.Options) { o.API = sentinel.APILegacy }, ""},
		{"loopback http without credential", func(o *sentinel.Options) { o.Endpoint, o.Credential = "http://127.0.0.1:8080", nil }, ""},
		{"localhost http", func(o *sentinel.Options) { o.Endpoint, o.Credential = "http://localhost:1/", nil }, ""},
		{"ipv6 loopback http", func(o *sentinel.Options) { o.Endpoint, o.Credential = "http://[::1]:1", nil }, ""},
		{"unknown API", func(o *sentinel.Options) { o.API = "graph" }, "SENTINEL_API"},
		{"empty workspace", func(o *sentinel.Options) { o.WorkspaceID = "" }, "SENTINEL_WORKSPACE_ID"},
		{"resource id", func(o *sentinel.Options) {
			o.WorkspaceID = "/subscriptions/x/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/w"
		}, "not the resource ID"},
		{"empty source", func(o *sentinel.Options) { o.SourceSystem = " " }, "SENTINEL_SOURCE_SYSTEM"},
		{"reserved source", func(o *sentinel.Options) { o.SourceSystem = "microsoft SENTINEL" }, "reserved"},
		{"long source", func(o *sentinel.Options) { o.SourceSystem = strings.Repeat("é", 257) }, "SENTINEL_SOURCE_SYSTEM"},
		{"plain http elsewhere", func(o *sentinel.Options) { o.Endpoint = "http://sentinel.example" }, "SENTINEL_ENDPOINT"},
		{"not a URL", func(o *sentinel.Options) { o.Endpoint = "api.ti.sentinel.azure.com" }, "SENTINEL_ENDPOINT"},
		{"https without credential", func(o *sentinel.Options) { o.Credential = nil }, "credential"},
		{"rate too high", func(o *sentinel.Options) { o.RequestsPerMinute = 101 }, "SENTINEL_REQUESTS_PER_MINUTE"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := ok
			tc.edit(&o)
			_, err := sentinel.New(o)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("New error = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestURL(t *testing.T) {
	t.Parallel()
	cred := &fakeCredential{tokens: []string{"t"}}
	for api, want := range map[sentinel.API]string{
		sentinel.APISTIXObjects: "https://api.ti.sentinel.azure.com/workspaces/" + testWorkspace + "/threat-intelligence-stix-objects:upload?api-version=2024-02-01-preview",
		sentinel.APILegacy:      "https://sentinelus.azure-api.net/workspaces/" + testWorkspace + "/threatintelligenceindicators:upload?api-version=2022-07-01",
	} {
		c, err := sentinel.New(sentinel.Options{API: api, WorkspaceID: "{" + testWorkspace + "}", SourceSystem: testSource, Credential: cred})
		if err != nil {
			t.Fatal(err)
		}
		if c.URL() != want {
			t.Errorf("%s: URL = %s, want %s", api, c.URL(), want)
		}
	}
}

func TestUploadAllAccepted(t *testing.T) {
	t.Parallel()
	for _, api := range sentinel.PossibleAPIValues() {
		t.Run(string(api), func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, sentineltest.ServerOptions{}, sentinel.Options{API: api})
			res, err := f.client.Upload(context.Background(), indicators(0, 100))
			if err != nil {
				t.Fatal(err)
			}
			if res.Accepted != 100 || len(res.Rejected) != 0 || len(res.Dropped) != 0 {
				t.Fatalf("result = %+v", res)
			}
			reqs := f.srv.Requests()
			if len(reqs) != 1 || reqs[0].API != string(api) || reqs[0].Status != 200 || reqs[0].SourceSystem != testSource {
				t.Fatalf("requests = %+v", reqs)
			}
			if f.srv.Uploads(indicatorID(42)) != 1 || f.srv.Count(indicatorID(42)) != 1 {
				t.Fatal("indicator 42 not stored once")
			}
			st := f.client.Stats()
			if st.Requests != 1 || st.Accepted != 100 || st.Retries != 0 || !st.LastSuccess.Equal(testStart) {
				t.Fatalf("stats = %+v", st)
			}
		})
	}
}

func TestUploadPerRecordErrors(t *testing.T) {
	t.Parallel()
	// The documentation's key and the swagger's.
	for _, key := range []string{"", "errorMessages", "validationErrorMessages"} {
		t.Run("key="+key, func(t *testing.T) {
			t.Parallel()
			testUploadPerRecordErrors(t, key)
		})
	}
}

func testUploadPerRecordErrors(t *testing.T, key string) {
	f := newFixture(t, sentineltest.ServerOptions{ValidationKey: key}, sentinel.Options{})
	objs := indicators(0, 6)
	objs[1] = json.RawMessage(strings.Replace(string(objs[1]), `"id":`, `"xid":`, 1))
	objs[3] = json.RawMessage(strings.Replace(string(objs[3]), `"valid_until":"2026-06-01T00:00:00.000Z"`, `"valid_until":"2026-04-01T00:00:00.000Z"`, 1))
	objs[4] = json.RawMessage(`{"type": "indicator", "id": `) // not JSON: never sent
	res, err := f.client.Upload(context.Background(), objs)
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 3 {
		t.Errorf("Accepted = %d, want 3", res.Accepted)
	}
	got := map[int]sentinel.RecordError{}
	for _, r := range res.Rejected {
		got[r.Index] = r
	}
	if len(got) != 3 {
		t.Fatalf("rejected = %+v", res.Rejected)
	}
	if r := got[1]; r.ID != "" || len(r.Messages) == 0 || r.Messages[0] != "Error for Property=id: Required property is missing. Actual value: NULL." {
		t.Errorf("record 1 = %+v", r)
	}
	if r := got[3]; r.ID != indicatorID(3) || !strings.Contains(strings.Join(r.Messages, ";"), "Property=valid_until") {
		t.Errorf("record 3 = %+v", r)
	}
	if r := got[4]; !strings.Contains(strings.Join(r.Messages, ";"), "not sent") {
		t.Errorf("record 4 = %+v", r)
	}
	if n := f.srv.Requests()[0].Objects; n != 5 {
		t.Errorf("server saw %d objects, want 5", n)
	}
	if st := f.client.Stats(); st.Accepted != 3 || st.Rejected != 3 {
		t.Errorf("stats = %+v", st)
	}
}

func TestLegacyDropsNonIndicators(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sentineltest.ServerOptions{}, sentinel.Options{API: sentinel.APILegacy})
	objs := append([]json.RawMessage{json.RawMessage(identity)}, indicators(0, 2)...)
	res, err := f.client.Upload(context.Background(), objs)
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 2 || len(res.Rejected) != 0 || len(res.Dropped) != 1 || res.Dropped[0].Index != 0 ||
		res.Dropped[0].ID != "identity--733c5838-34d9-4fbf-949c-62aba761184c" {
		t.Fatalf("result = %+v", res)
	}
	if r := f.srv.Requests(); len(r) != 1 || r[0].Objects != 2 || r[0].API != "legacy" {
		t.Fatalf("requests = %+v", r)
	}
	// Only identities: nothing to send, no request.
	res, err = f.client.Upload(context.Background(), []json.RawMessage{json.RawMessage(identity)})
	if err != nil || len(res.Dropped) != 1 || len(f.srv.Requests()) != 1 {
		t.Fatalf("identity-only upload: %+v, %v, %d requests", res, err, len(f.srv.Requests()))
	}
	// The STIX objects API takes the identity.
	g := newFixture(t, sentineltest.ServerOptions{}, sentinel.Options{})
	if res, err := g.client.Upload(context.Background(), objs); err != nil || res.Accepted != 3 {
		t.Fatalf("stix-objects: %+v, %v", res, err)
	}
}

func TestTooManyObjects(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sentineltest.ServerOptions{}, sentinel.Options{})
	_, err := f.client.Upload(context.Background(), indicators(0, 101))
	if !errors.Is(err, sentinel.ErrTooManyObjects) {
		t.Fatalf("err = %v", err)
	}
	if n := len(f.srv.Requests()); n != 0 {
		t.Fatalf("%d requests sent", n)
	}
	if res, err := f.client.Upload(context.Background(), nil); err != nil || res.Accepted != 0 {
		t.Fatalf("empty upload: %+v, %v", res, err)
	}
}
