package runrecord

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/feeds2sentinel/feeds2sentinel/internal/runrecord/ingestfake"
)

const testRule = "dcr-00112233445566778899aabbccddeeff"

// bicepStream reads the stream declaration of the data collection rule
// infra deploys: the rows must match it.
func bicepStream(t *testing.T) (string, []ingestfake.Column) {
	t.Helper()
	b, err := os.ReadFile("../../infra/modules/runrecords.bicep")
	if err != nil {
		t.Fatal(err)
	}
	stream, cols, err := ingestfake.StreamFromBicep(string(b))
	if err != nil {
		t.Fatal(err)
	}
	return stream, cols
}

func newFake(t *testing.T) *ingestfake.Server {
	t.Helper()
	stream, cols := bicepStream(t)
	f := ingestfake.New(testRule, stream, cols)
	t.Cleanup(f.Close)
	return f
}

// sleeps records the waits a Client asked for instead of waiting.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(_ context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d = append(s.d, d)
	return nil
}

func newClient(t *testing.T, f *ingestfake.Server, opts ClientOptions) (*Client, *sleeps) {
	t.Helper()
	sl := &sleeps{}
	opts.Endpoint, opts.RuleID = f.URL, testRule
	if opts.Sleep == nil {
		opts.Sleep = sl.sleep
	}
	c, err := NewClient(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c, sl
}

func TestRowMatchesStreamDeclaration(t *testing.T) {
	t.Parallel()
	stream, cols := bicepStream(t)
	if stream != Stream {
		t.Errorf("the Bicep declares stream %s, the code writes %s", stream, Stream)
	}
	goType := map[reflect.Type]string{
		reflect.TypeFor[time.Time](): "datetime", reflect.TypeFor[string](): "string",
		reflect.TypeFor[int64](): "long", reflect.TypeFor[map[string]int64](): "dynamic",
	}
	rt := reflect.TypeFor[Row]()
	var fields []ingestfake.Column
	for i := range rt.NumField() {
		f := rt.Field(i)
		typ, ok := goType[f.Type]
		if !ok {
			t.Errorf("Row.%s has type %s, which maps to no column type", f.Name, f.Type)
		}
		fields = append(fields, ingestfake.Column{Name: f.Tag.Get("json"), Type: typ})
	}
	if !reflect.DeepEqual(fields, cols) {
		t.Errorf("Row columns\n%v\nBicep stream columns\n%v", fields, cols)
	}
	// The exact schema the workbook and health rules query.
	want := "TimeGenerated:datetime Function:string Feed:string Outcome:string Fetched:long Rejected:long RejectedByReason:dynamic " +
		"New:long Changed:long Refreshed:long Revoked:long Enqueued:long Uploaded:long SentinelRejected:long Parked:long DeadLettered:long DurationMs:long Error:string"
	var got []string
	for _, c := range cols {
		got = append(got, c.Name+":"+c.Type)
	}
	if g := strings.Join(got, " "); g != want {
		t.Errorf("schema\n%s\nwant\n%s", g, want)
	}
}

func TestRowJSON(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", MaxErrorBytes) // 2 bytes each: the cut falls inside one
	for _, tc := range []struct {
		name string
		row  Row
		want map[string]any
	}{
		{"zero row has an empty reason object", Row{}, map[string]any{"RejectedByReason": map[string]any{}, "Error": ""}},
		{"time in UTC", Row{TimeGenerated: time.Date(2026, 12, 6, 11, 0, 0, 0, time.FixedZone("x", 3600))},
			map[string]any{"TimeGenerated": "2026-12-06T10:00:00Z"}},
		{"reasons kept", Row{RejectedByReason: map[string]int64{"allowlisted": 2}}, map[string]any{"RejectedByReason": map[string]any{"allowlisted": 2.0}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := json.Marshal(tc.row)
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]any
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.want {
				if !reflect.DeepEqual(got[k], v) {
					t.Errorf("%s = %#v, want %#v", k, got[k], v)
				}
			}
		})
	}
	b, _ := json.Marshal(Row{Error: long})
	var got Row
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Error) > MaxErrorBytes || len(got.Error) < MaxErrorBytes-utf8.UTFMax || !utf8.ValidString(got.Error) || strings.ContainsRune(got.Error, utf8.RuneError) {
		t.Errorf("Error cut to %d bytes (valid UTF-8 %v), want at most %d on a character boundary", len(got.Error), utf8.ValidString(got.Error), MaxErrorBytes)
	}
}

func FuzzTruncate(f *testing.F) {
	for _, s := range []string{"", "abc", "é", "日本語", "\xff\xfe", "a\xe6\x97"} {
		f.Add(s, 3)
	}
	f.Fuzz(func(t *testing.T, s string, n int) {
		if n < 0 || n > 1<<16 {
			return
		}
		got := truncate(s, n)
		if len(got) > n || !strings.HasPrefix(s, got) {
			t.Fatalf("truncate(%q, %d) = %q", s, n, got)
		}
		if utf8.ValidString(s) && !utf8.ValidString(got) {
			t.Fatalf("truncate(%q, %d) = %q splits a character", s, n, got)
		}
	})
}

func FuzzStreamFromBicep(f *testing.F) {
	b, err := os.ReadFile("../../infra/modules/runrecords.bicep")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(b))
	f.Add("streamDeclarations: { 'Custom-X': { columns: [ { name: 'a' type: 'string' } ] } }")
	f.Add("streamDeclarations: { 'Custom-X': { columns: cols } }\nvar cols = [\n")
	f.Add("streamDeclarations: { 'Custom-X': { columns: [")
	f.Fuzz(func(t *testing.T, src string) {
		stream, cols, err := ingestfake.StreamFromBicep(src)
		if err == nil && (stream == "" || len(cols) == 0) {
			t.Fatalf("no error, stream %q, %d columns", stream, len(cols))
		}
	})
}

func rows(n int, errLen int) []json.RawMessage {
	var out []json.RawMessage
	for i := range n {
		b, _ := json.Marshal(Row{TimeGenerated: time.Unix(int64(i), 0), Function: "FeedURLhaus", Feed: "urlhaus", Outcome: "succeeded",
			Fetched: int64(i), Error: strings.Repeat("x", errLen)})
		out = append(out, b)
	}
	return out
}

func TestClientSendsGzipArrays(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	c, _ := newClient(t, f, ClientOptions{})
	if err := c.Send(context.Background(), rows(3, 0)); err != nil {
		t.Fatal(err)
	}
	reqs := f.Requests()
	if len(reqs) != 1 || !reqs[0].Gzip || reqs[0].Rows != 3 || reqs[0].Status != http.StatusNoContent {
		t.Fatalf("requests = %+v, want one gzip call of 3 rows", reqs)
	}
	got := f.Rows()
	if got[2]["Fetched"] != int64(2) || got[0]["Feed"] != "urlhaus" {
		t.Errorf("rows = %v", got)
	}
}

func TestClientSplitsAt1MB(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	c, _ := newClient(t, f, ClientOptions{})
	// 300 rows of ~8 KB: about 2.5 MB of JSON, so at least 3 calls.
	in := rows(300, MaxErrorBytes)
	if err := c.Send(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	reqs := f.Requests()
	if len(reqs) < 3 {
		t.Fatalf("%d calls, want at least 3", len(reqs))
	}
	total := 0
	for _, r := range reqs {
		if r.Status != http.StatusNoContent {
			t.Errorf("call refused: %+v", r)
		}
		total += r.Rows
	}
	if total != 300 || len(f.Rows()) != 300 {
		t.Errorf("%d rows written in %d calls, want 300", total, len(reqs))
	}
	// An uncompressed body of more than 1 MB is refused by the fake, as by
	// the service: the split is what lets the rows through.
	big, tooLarge := chunk(in, 10*MaxCallBytes)
	if tooLarge != 0 || len(big) != 1 {
		t.Fatalf("chunk: %d chunks, %d too large", len(big), tooLarge)
	}
	resp := post(t, f, "/dataCollectionRules/"+testRule+"/streams/"+Stream, big[0].body, true)
	if resp != http.StatusRequestEntityTooLarge {
		t.Errorf("a 2.5 MB array: status %d, want 413", resp)
	}
}

func TestChunk(t *testing.T) {
	t.Parallel()
	in := []json.RawMessage{[]byte(`{"a":1}`), []byte(`{"b":22}`), []byte(`{"c":333}`), []byte(strings.Repeat("x", 50))}
	for _, tc := range []struct {
		max      int
		want     []string
		tooLarge int
	}{
		{100, []string{`[{"a":1},{"b":22},{"c":333},` + strings.Repeat("x", 50) + `]`}, 0},
		{20, []string{`[{"a":1},{"b":22}]`, `[{"c":333}]`}, 1},
		{10, []string{`[{"a":1}]`, `[{"b":22}]`}, 2},
	} {
		chunks, tl := chunk(in, tc.max)
		var got []string
		for _, c := range chunks {
			got = append(got, string(c.body))
			if len(c.body) > tc.max {
				t.Errorf("max %d: chunk of %d bytes", tc.max, len(c.body))
			}
		}
		if !reflect.DeepEqual(got, tc.want) || tl != tc.tooLarge {
			t.Errorf("max %d: %q (%d too large), want %q (%d)", tc.max, got, tl, tc.want, tc.tooLarge)
		}
	}
}

func TestClientHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	f.Throttle("7", "")
	c, sl := newClient(t, f, ClientOptions{})
	if err := c.Send(context.Background(), rows(2, 0)); err != nil {
		t.Fatal(err)
	}
	if want := []time.Duration{7 * time.Second, 2 * time.Second}; !reflect.DeepEqual(sl.d, want) {
		t.Errorf("waited %v, want %v (Retry-After, then back-off without one)", sl.d, want)
	}
	if n := len(f.Rows()); n != 2 {
		t.Errorf("%d rows written after the throttling, want 2", n)
	}
}

func TestClientGivesUpOnLongThrottling(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		throttle []string
		waits    int
	}{
		{"Retry-After beyond MaxRetryAfter", []string{"3600"}, 0},
		{"too many 429s", []string{"1", "1", "1", "1"}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			f.Throttle(tc.throttle...)
			c, sl := newClient(t, f, ClientOptions{})
			err := c.Send(context.Background(), rows(2, 0))
			var se *SendError
			if !errors.As(err, &se) || se.Failed != 2 {
				t.Fatalf("err = %v, want a SendError for 2 rows", err)
			}
			if len(sl.d) != tc.waits {
				t.Errorf("waited %v, want %d waits", sl.d, tc.waits)
			}
		})
	}
}

func TestClientCountsPartialFailure(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	f.Fail(http.StatusForbidden) // the first of the calls
	c, _ := newClient(t, f, ClientOptions{MaxBytes: 3000})
	in := rows(10, 500)
	chunks, _ := chunk(in, 3000)
	if len(chunks) < 3 {
		t.Fatalf("%d chunks, want at least 3", len(chunks))
	}
	err := c.Send(context.Background(), in)
	var se *SendError
	if !errors.As(err, &se) || se.Failed != chunks[0].rows {
		t.Fatalf("err = %v, want %d rows failed", err, chunks[0].rows)
	}
	if n := len(f.Rows()); n != 10-chunks[0].rows {
		t.Errorf("%d rows written, want the other %d", n, 10-chunks[0].rows)
	}
}

// post sends body as one call with a token, straight to the fake.
func post(t *testing.T, f *ingestfake.Server, path string, body []byte, auth bool) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.URL+path+"?api-version="+ingestfake.APIVersion, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if auth {
		req.Header.Set("Authorization", "Bearer t")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestFakeRefusesWhatTheServiceRefuses keeps the fake honest.
func TestFakeRefusesWhatTheServiceRefuses(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	good, _ := json.Marshal([]Row{{Function: "x"}})
	path := "/dataCollectionRules/" + testRule + "/streams/" + Stream
	for _, tc := range []struct {
		name, path string
		body       string
		auth       bool
		want       int
	}{
		{"good", path, string(good), true, http.StatusNoContent},
		{"no token", path, string(good), false, http.StatusUnauthorized},
		{"wrong stream", "/dataCollectionRules/" + testRule + "/streams/Custom-Other_CL", string(good), true, http.StatusBadRequest},
		{"wrong rule", "/dataCollectionRules/dcr-0/streams/" + Stream, string(good), true, http.StatusNotFound},
		{"not an array", path, `{"Function":"x"}`, true, http.StatusBadRequest},
		{"array of non-objects", path, `[1,2]`, true, http.StatusBadRequest},
		{"undeclared column", path, `[{"Function":"x","Extra":1}]`, true, http.StatusBadRequest},
		{"wrong type", path, `[{"Fetched":"many"}]`, true, http.StatusBadRequest},
		{"over 1 MB", path, "[" + strings.Repeat(" ", ingestfake.MaxCallBytes) + "]", true, http.StatusRequestEntityTooLarge},
	} {
		if got := post(t, f, tc.path, []byte(tc.body), tc.auth); got != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, got, tc.want)
		}
	}
}

type failingSender struct{ err error }

func (s failingSender) Send(context.Context, []json.RawMessage) error { return s.err }

func TestBatcherFlushesWhenFullAndAtTheEnd(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	c, _ := newClient(t, f, ClientOptions{})
	b, err := NewBatcher(BatcherOptions{Sender: c, MaxRows: 3})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 4 {
		b.Record(ctx, Row{Function: "f", Fetched: int64(i)})
	}
	if reqs := f.Requests(); len(reqs) != 1 || reqs[0].Rows != 3 {
		t.Fatalf("after 4 rows with MaxRows 3: requests %+v, want one call of 3", reqs)
	}
	// A cancelled context (the invocation's deadline passed) still flushes.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := b.Flush(cctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Flush(ctx); err != nil { // empty: no call
		t.Fatal(err)
	}
	if reqs := f.Requests(); len(reqs) != 2 || reqs[1].Rows != 1 {
		t.Fatalf("requests %+v, want a second call of 1 row", reqs)
	}
	if s := b.Stats(); s != (Stats{Written: 4}) {
		t.Errorf("stats %+v", s)
	}
}

func TestBatcherCountsAndLogsFailures(t *testing.T) {
	t.Parallel()
	var log bytes.Buffer
	b, err := NewBatcher(BatcherOptions{Sender: failingSender{errors.New("boom")}, MaxRows: 2,
		Logger: slog.New(slog.NewJSONHandler(&log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	b.Record(ctx, Row{}) // buffered
	b.Record(ctx, Row{}) // full: the send fails, Record does not
	b.Record(ctx, Row{})
	if err := b.Flush(ctx); err == nil {
		t.Error("Flush hid the failure from its caller")
	}
	if s := b.Stats(); s != (Stats{Failed: 3}) {
		t.Errorf("stats %+v, want 3 failed", s)
	}
	if !strings.Contains(log.String(), "run records not written") || !strings.Contains(log.String(), "boom") {
		t.Errorf("log lacks the failure: %s", log.String())
	}
}

func TestNewClientRefuses(t *testing.T) {
	t.Parallel()
	for _, opts := range []ClientOptions{
		{Endpoint: "", RuleID: testRule},
		{Endpoint: "http://example.com", RuleID: testRule},
		{Endpoint: "https://x.ingest.monitor.azure.com", RuleID: ""},
		{Endpoint: "https://x.ingest.monitor.azure.com", RuleID: testRule}, // no credential
	} {
		if _, err := NewClient(opts); err == nil {
			t.Errorf("NewClient(%+v) succeeded", opts)
		}
	}
}

type staticCred struct{}

func (staticCred) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: "t", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

func TestCloudAudience(t *testing.T) {
	t.Parallel()
	for host, want := range map[string]string{
		"x.eastus-1.ingest.monitor.azure.com":       "https://monitor.azure.com/",
		"x.usgovvirginia-1.ingest.monitor.azure.us": "https://monitor.azure.us/",
		"x.chinanorth3-1.ingest.monitor.azure.cn":   "https://monitor.azure.cn/",
	} {
		c := cloudFor(host)
		var got string
		for name, svc := range c.Services {
			if strings.Contains(string(name), "azlogs") {
				got = svc.Audience
			}
		}
		if got != want {
			t.Errorf("%s: audience %q, want %q", host, got, want)
		}
	}
	if _, err := NewClient(ClientOptions{Endpoint: "https://x.ingest.monitor.azure.us", RuleID: testRule, Credential: staticCred{}}); err != nil {
		t.Error(err)
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		header  map[string]string
		attempt int
		want    time.Duration
	}{
		{"seconds", map[string]string{"Retry-After": "12"}, 0, 12 * time.Second},
		{"milliseconds first", map[string]string{"Retry-After": "12", "retry-after-ms": "250"}, 0, 250 * time.Millisecond},
		{"x-ms milliseconds", map[string]string{"x-ms-retry-after-ms": "1500"}, 0, 1500 * time.Millisecond},
		{"a date in the past", map[string]string{"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0, 0},
		{"garbage backs off", map[string]string{"Retry-After": "soon"}, 2, 4 * time.Second},
		{"negative backs off", map[string]string{"Retry-After": "-5"}, 0, time.Second},
		{"none, late attempt capped", nil, 30, 64 * time.Second},
	} {
		h := http.Header{}
		for k, v := range tc.header {
			h.Set(k, v)
		}
		if got := retryAfter(&http.Response{Header: h}, tc.attempt); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

func FuzzRetryAfter(f *testing.F) {
	for _, s := range []string{"1", "0", "-1", "99999999999999999999", "Wed, 21 Oct 2015 07:28:00 GMT", "", "1.5"} {
		f.Add(s, 1)
	}
	f.Fuzz(func(t *testing.T, v string, attempt int) {
		if attempt < 0 {
			return
		}
		h := http.Header{}
		h.Set("Retry-After", v)
		if d := retryAfter(&http.Response{Header: h}, attempt); d < 0 {
			t.Fatalf("retryAfter(%q) = %s", v, d)
		}
	})
}

// BenchmarkSend measures packing, compressing and sending 1,000 rows
// (several calls) to the fake.
func BenchmarkSend(b *testing.B) {
	stream, cols, err := ingestfake.StreamFromBicep(func() string {
		s, _ := os.ReadFile("../../infra/modules/runrecords.bicep")
		return string(s)
	}())
	if err != nil {
		b.Fatal(err)
	}
	f := ingestfake.New(testRule, stream, cols)
	defer f.Close()
	c, err := NewClient(ClientOptions{Endpoint: f.URL, RuleID: testRule})
	if err != nil {
		b.Fatal(err)
	}
	in := rows(1000, 1000)
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Send(context.Background(), in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPack measures the client's own work for 1,000 rows: packing
// them into calls and compressing each.
func BenchmarkPack(b *testing.B) {
	c := &Client{}
	in := rows(1000, 1000)
	b.ReportAllocs()
	for b.Loop() {
		chunks, _ := chunk(in, MaxCallBytes)
		for _, ch := range chunks {
			c.compress(ch.body)
		}
	}
}
