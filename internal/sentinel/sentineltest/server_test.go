package sentineltest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

const ws = "0a1b2c3d-1234-4abc-8def-0123456789ab"

const (
	stixPath   = "/workspaces/" + ws + "/threat-intelligence-stix-objects:upload?api-version=2024-02-01-preview"
	legacyPath = "/workspaces/" + ws + "/threatintelligenceindicators:upload?api-version=2022-07-01"
)

func ind(i int, extra string) string {
	return fmt.Sprintf(`{"type":"indicator","spec_version":"2.1","id":"indicator--%08x-0000-4000-8000-000000000000",`+
		`"created":"2026-05-01T00:00:00Z","modified":"2026-05-01T00:00:00Z","pattern":"[url:value = 'http://x.example/%d']",`+
		`"pattern_type":"stix","valid_from":"2026-05-01T00:00:00Z"%s}`, i, i, extra)
}

func post(t *testing.T, s *Server, path, contentType, token, body string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func TestRequestChecks(t *testing.T) {
	t.Parallel()
	ok := `{"sourcesystem":"src","stixobjects":[` + ind(1, "") + `]}`
	many := make([]string, 101)
	for i := range many {
		many[i] = ind(i, "")
	}
	cases := []struct {
		name, path, ct, token, body string
		status                      int
		bodyHas                     string
	}{
		{"ok", stixPath, "application/json", "", ok, 200, ""},
		{"charset ok", stixPath, "application/json; charset=utf-8", "", ok, 200, ""},
		{"legacy ok", legacyPath, "application/json", "", `{"sourcesystem":"src","indicators":[` + ind(1, "") + `]}`, 200, ""},
		{"unknown path", "/workspaces/" + ws + "/threatintelligencestixobjects:upload?api-version=2024-02-01-preview", "application/json", "", ok, 404, ""},
		{"wrong api-version", strings.Replace(stixPath, "2024-02-01-preview", "2022-07-01", 1), "application/json", "", ok, 400, "api-version"},
		{"resource id as workspace", "/workspaces/my-workspace/threat-intelligence-stix-objects:upload?api-version=2024-02-01-preview", "application/json", "", ok, 404, ""},
		{"content type", stixPath, "text/plain", "", ok, 415, ""},
		{"invalid JSON", stixPath, "application/json", "", `{"sourcesystem":`, 400, "Body of the request is not in valid JSON format."},
		{"no sourcesystem", stixPath, "application/json", "", `{"stixobjects":[` + ind(1, "") + `]}`, 400, "SourceSystem"},
		{"reserved sourcesystem", stixPath, "application/json", "", `{"sourcesystem":"Microsoft Sentinel","stixobjects":[` + ind(1, "") + `]}`, 400, "cannot be Microsoft Sentinel"},
		{"long sourcesystem", stixPath, "application/json", "", `{"sourcesystem":"` + strings.Repeat("a", 257) + `","stixobjects":[` + ind(1, "") + `]}`, 400, "256"},
		{"stix with indicators", stixPath, "application/json", "", `{"sourcesystem":"s","indicators":[` + ind(1, "") + `]}`, 400, "stixobjects"},
		{"legacy with value", legacyPath, "application/json", "", `{"sourcesystem":"s","value":[` + ind(1, "") + `]}`, 400, "indicators"},
		{"empty array", stixPath, "application/json", "", `{"sourcesystem":"s","stixobjects":[]}`, 400, ""},
		{"101 objects", stixPath, "application/json", "", `{"sourcesystem":"s","stixobjects":[` + strings.Join(many, ",") + `]}`, 400, "100"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := NewServer(ServerOptions{})
			defer s.Close()
			status, body, _ := post(t, s, tc.path, tc.ct, tc.token, tc.body)
			if status != tc.status || !strings.Contains(body, tc.bodyHas) {
				t.Fatalf("got %d %s; want %d containing %q", status, body, tc.status, tc.bodyHas)
			}
			if status == 200 && body != "" {
				t.Fatalf("200 with body %s", body)
			}
		})
	}
}

func TestMethodNotPost(t *testing.T) {
	t.Parallel()
	s := NewServer(ServerOptions{})
	defer s.Close()
	resp, err := s.Client().Get(s.URL + stixPath)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET: %d", resp.StatusCode)
	}
}

func TestTokenRequired(t *testing.T) {
	t.Parallel()
	s := NewServer(ServerOptions{RequireToken: true, ValidToken: func(tok string) bool { return tok == "good" }})
	defer s.Close()
	body := `{"sourcesystem":"s","stixobjects":[` + ind(1, "") + `]}`
	for tok, want := range map[string]int{"": 401, "bad": 401, "good": 200} {
		if status, b, _ := post(t, s, stixPath, "application/json", tok, body); status != want {
			t.Errorf("token %q: %d %s, want %d", tok, status, b, want)
		}
	}
}

func TestRecordValidation(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		obj    string
		legacy bool
		want   string // substring of the message; "" = valid
	}{
		{"valid", ind(1, ""), false, ""},
		{"valid 2.0 without pattern_type", strings.Replace(strings.Replace(ind(1, ""), `"pattern_type":"stix",`, "", 1), `"2.1"`, `"2.0"`, 1), false, ""},
		{"missing id", strings.Replace(ind(1, ""), `"id":`, `"x_id":`, 1), false, "Error for Property=id: Required property is missing. Actual value: NULL."},
		{"missing created", strings.Replace(ind(1, ""), `"created":`, `"x_created":`, 1), false, "Property=created: Required property is missing"},
		{"missing pattern", strings.Replace(ind(1, ""), `"pattern":`, `"x_pattern":`, 1), false, "Property=pattern: Required"},
		{"missing valid_from", strings.Replace(ind(1, ""), `"valid_from":`, `"x_valid_from":`, 1), false, "Property=valid_from: Required"},
		{"missing pattern_type", strings.Replace(ind(1, ""), `"pattern_type":"stix",`, "", 1), false, "Property=pattern_type: Required"},
		{"empty pattern_type", strings.Replace(ind(1, ""), `"pattern_type":"stix"`, `"pattern_type":""`, 1), false, "Property=pattern_type: Required property is empty"},
		{"blank pattern_type on 2.0", strings.Replace(strings.Replace(ind(1, ""), `"pattern_type":"stix"`, `"pattern_type":" "`, 1), `"2.1"`, `"2.0"`, 1), false, "Property=pattern_type: Required property is empty"},
		{"empty yara pattern", strings.Replace(strings.Replace(ind(1, ""), `"pattern_type":"stix"`, `"pattern_type":"yara"`, 1), `[url:value = 'http://x.example/1']`, ``, 1), false, "Property=pattern: Required property is empty"},
		{"id prefix", strings.Replace(ind(1, ""), `"id":"indicator--`, `"id":"malware--`, 1), false, "Property=id"},
		{"id not uuid", `{"type":"identity","id":"identity--123","created":"2026-05-01T00:00:00Z","modified":"2026-05-01T00:00:00Z"}`, false, "Property=id"},
		{"spec_version", strings.Replace(ind(1, ""), `"2.1"`, `"2.2"`, 1), false, "Property=spec_version"},
		{"timestamp", strings.Replace(ind(1, ""), `"modified":"2026-05-01T00:00:00Z"`, `"modified":"May 1 2026"`, 1), false, "Property=modified: Invalid timestamp"},
		{"valid_until equal", ind(1, `,"valid_until":"2026-05-01T00:00:00Z"`), false, "Property=valid_until"},
		{"valid_until later", ind(1, `,"valid_until":"2026-05-01T00:00:00.001Z"`), false, ""},
		{"confidence range", ind(1, `,"confidence":101`), false, "Property=confidence"},
		{"confidence fraction", ind(1, `,"confidence":5.5`), false, "Property=confidence"},
		{"confidence ok", ind(1, `,"confidence":0`), false, ""},
		{"bad stix pattern", strings.Replace(ind(1, ""), `[url:value = 'http://x.example/1']`, `url:value = 'x'`, 1), false, "Property=pattern"},
		{"compound pattern", strings.Replace(ind(1, ""), `[url:value = 'http://x.example/1']`, `[file:name = 'help' AND (file:hashes.'MD5' = 'ab')]`, 1), false, ""},
		{"yara pattern", strings.Replace(strings.Replace(ind(1, ""), `"pattern_type":"stix"`, `"pattern_type":"yara"`, 1), `[url:value = 'http://x.example/1']`, `rule x { condition: true }`, 1), false, ""},
		{"identity", `{"type":"identity","spec_version":"2.1","id":"identity--733c5838-34d9-4fbf-949c-62aba761184c","created":"2026-05-01T00:00:00Z","modified":"2026-05-01T00:00:00Z","name":"x"}`, false, ""},
		{"identity on legacy", `{"type":"identity","spec_version":"2.1","id":"identity--733c5838-34d9-4fbf-949c-62aba761184c","created":"2026-05-01T00:00:00Z","modified":"2026-05-01T00:00:00Z","name":"x"}`, true, "Property=type"},
		{"not an object", `42`, false, "Property=object"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			msgs := validate(json.RawMessage(tc.obj), tc.legacy)
			joined := strings.Join(msgs, "\n")
			if tc.want == "" && len(msgs) != 0 || tc.want != "" && !strings.Contains(joined, tc.want) {
				t.Fatalf("messages %q, want %q", msgs, tc.want)
			}
		})
	}
}

func TestPartialFailureBodyAndStore(t *testing.T) {
	t.Parallel()
	s := NewServer(ServerOptions{})
	defer s.Close()
	bad := strings.Replace(ind(3, ""), `"id":`, `"x_id":`, 1)
	revoked := ind(2, `,"revoked":true`)
	body := `{"sourcesystem":"src","stixobjects":[` + ind(0, "") + `,` + ind(1, `,"valid_until":"2020-01-01T00:00:00Z","valid_from":"2019-01-01T00:00:00Z"`) + `,` + revoked + `,` + bad + `]}`
	// ind(1) has valid_from twice; the later key wins in encoding/json, as in most parsers.
	status, got, _ := post(t, s, stixPath, "application/json", "", body)
	want := `{"errors":[{"recordIndex":3,"errorMessages":["Error for Property=id: Required property is missing. Actual value: NULL."]}]}`
	if status != 200 || got != want {
		t.Fatalf("got %d %s\nwant 200 %s", status, got, want)
	}
	if n := len(s.Objects()); n != 3 {
		t.Fatalf("%d objects stored", n)
	}
	if a := s.Active(); len(a) != 1 || a[0] != Name("src", "indicator--00000000-0000-4000-8000-000000000000") {
		t.Fatalf("active = %v", a)
	}
	if r := s.Revoked(); len(r) != 1 || !strings.HasSuffix(r[0], "indicator--00000002-0000-4000-8000-000000000000") {
		t.Fatalf("revoked = %v", r)
	}
	// Upsert: same (sourcesystem, id) again, plus another sourcesystem.
	post(t, s, stixPath, "application/json", "", `{"sourcesystem":"src","stixobjects":[`+ind(0, `,"confidence":5`)+`]}`)
	post(t, s, stixPath, "application/json", "", `{"sourcesystem":"other","stixobjects":[`+ind(0, "")+`]}`)
	id := "indicator--00000000-0000-4000-8000-000000000000"
	if s.Uploads(id) != 3 || s.Count(id) != 2 {
		t.Fatalf("uploads %d count %d, want 3 and 2", s.Uploads(id), s.Count(id))
	}
	if o, ok := s.Object("src", id); !ok || !strings.Contains(string(o), `"confidence":5`) {
		t.Fatalf("latest version not kept: %s", o)
	}
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	clock := NewVirtualClock(time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC))
	s := NewServer(ServerOptions{Clock: clock.Now, RetryAfterHeader: true})
	defer s.Close()
	body := `{"sourcesystem":"s","stixobjects":[` + ind(1, "") + `]}`
	for i := range 100 {
		if status, b, _ := post(t, s, stixPath, "application/json", "", body); status != 200 {
			t.Fatalf("request %d: %d %s", i, status, b)
		}
		clock.Advance(100 * time.Millisecond)
	}
	// 100 requests in [0s, 9.9s]; now 10s: the window frees at 60s, in 50 s.
	status, b, h := post(t, s, stixPath, "application/json", "", body)
	if status != 429 || b != `{"statusCode":429,"message":"Rate limit is exceeded. Try again in 50 seconds."}` || h.Get("Retry-After") != "50" {
		t.Fatalf("got %d %s Retry-After=%q", status, b, h.Get("Retry-After"))
	}
	// Without ServerOptions.Identity every token shares one window.
	if status, _, _ := post(t, s, stixPath, "application/json", "other", body); status != 429 {
		t.Fatalf("other token: %d, want 429 (one window for all tokens)", status)
	}
	clock.Advance(50 * time.Second)
	if status, _, _ := post(t, s, stixPath, "application/json", "", body); status != 200 {
		t.Fatalf("after the window: %d", status)
	}
}

// TestRateLimitExactWindow: the window is exactly 60 seconds of Clock; a
// burst of the whole limit is fine.
func TestRateLimitExactWindow(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	clock := NewVirtualClock(start)
	s := NewServer(ServerOptions{Clock: clock.Now, RequestsPerMinute: 3})
	defer s.Close()
	body := `{"sourcesystem":"s","stixobjects":[` + ind(1, "") + `,` + ind(2, "") + `]}`
	for i, c := range []struct {
		advance time.Duration
		status  int
	}{{0, 200}, {0, 200}, {0, 200}, {0, 429}, {time.Minute - time.Nanosecond, 429}, {time.Nanosecond, 200}, {0, 200}, {0, 200}, {0, 429}, {time.Minute, 200}} {
		clock.Advance(c.advance)
		if status, b, _ := post(t, s, stixPath, "application/json", "", body); status != c.status {
			t.Fatalf("request %d at +%v: %d %s, want %d", i, clock.Now().Sub(start), status, b, c.status)
		}
	}
	// 3 requests of 2 objects in each of the 2 whole minutes before the
	// last accepted request.
	if got, want := s.Rate(start), (Rate{Requests: 10, Throttled: 3, Minutes: 2, ObjectsPerMinute: 6}); got != want {
		t.Fatalf("Rate = %+v, want %+v", got, want)
	}
}

func TestRateLimitPerIdentity(t *testing.T) {
	t.Parallel()
	clock := NewVirtualClock(time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC))
	// Two tokens of identity A (say, before and after a refresh) and one of B.
	ident := map[string]string{"a1": "A", "a2": "A", "b1": "B"}
	s := NewServer(ServerOptions{Clock: clock.Now, RequestsPerMinute: 3, Identity: func(tok string) string { return ident[tok] }})
	defer s.Close()
	body := `{"sourcesystem":"s","stixobjects":[` + ind(1, "") + `]}`
	for i, c := range []struct {
		token  string
		status int
	}{{"a1", 200}, {"a2", 200}, {"a1", 200}, {"a2", 429}, {"b1", 200}, {"a1", 429}} {
		if status, b, _ := post(t, s, stixPath, "application/json", c.token, body); status != c.status {
			t.Fatalf("request %d (token %s): %d %s, want %d", i, c.token, status, b, c.status)
		}
	}
}

func TestValidationKey(t *testing.T) {
	t.Parallel()
	bad := strings.Replace(ind(1, ""), `"id":`, `"x_id":`, 1)
	body := `{"sourcesystem":"s","stixobjects":[` + ind(0, "") + `,` + bad + `]}`
	for key, want := range map[string]string{
		"":                        `{"errors":[{"recordIndex":1,"errorMessages":["Error for Property=id: Required property is missing. Actual value: NULL."]}]}`,
		"validationErrorMessages": `{"errors":[{"recordIndex":1,"validationErrorMessages":["Error for Property=id: Required property is missing. Actual value: NULL."]}]}`,
	} {
		s := NewServer(ServerOptions{ValidationKey: key})
		status, got, _ := post(t, s, stixPath, "application/json", "", body)
		s.Close()
		if status != 200 || got != want {
			t.Errorf("key %q: got %d %s, want 200 %s", key, status, got, want)
		}
	}
}

func TestMaxBodyBytes(t *testing.T) {
	t.Parallel()
	one := `{"sourcesystem":"s","stixobjects":[` + ind(1, "") + `]}`
	two := `{"sourcesystem":"s","stixobjects":[` + ind(1, "") + `,` + ind(2, "") + `]}`
	s := NewServer(ServerOptions{MaxBodyBytes: len(one)})
	defer s.Close()
	if status, b, _ := post(t, s, stixPath, "application/json", "", one); status != 200 {
		t.Fatalf("body at the limit: %d %s", status, b)
	}
	status, b, _ := post(t, s, stixPath, "application/json", "", two)
	if status != 413 || !strings.Contains(b, "RequestTooLarge") {
		t.Fatalf("body over the limit: %d %s", status, b)
	}
	if n := len(s.Objects()); n != 1 {
		t.Fatalf("%d objects stored, want 1", n)
	}
}

func TestActiveUnreadableValidUntil(t *testing.T) {
	t.Parallel()
	clock := NewVirtualClock(time.Date(2026, 5, 2, 0, 0, 0, 0, time.UTC))
	s := NewServer(ServerOptions{Clock: clock.Now})
	defer s.Close()
	identity := func(uuid, validUntil string) string {
		return `{"type":"identity","spec_version":"2.1","id":"identity--` + uuid + `","created":"2026-05-01T00:00:00Z","modified":"2026-05-01T00:00:00Z","name":"x"` + validUntil + `}`
	}
	objs := []string{
		ind(0, ""), // no valid_until: active
		ind(1, `,"valid_until":"2026-06-01T00:00:00Z"`),                           // future: active
		ind(2, `,"valid_until":"soon"`),                                           // indicator: refused by validation
		identity("733c5838-34d9-4fbf-949c-62aba761184c", `,"valid_until":"soon"`), // not checked on identities: stored, expired
		identity("833c5838-34d9-4fbf-949c-62aba761184c", `,"valid_until":12`),
		identity("933c5838-34d9-4fbf-949c-62aba761184c", `,"valid_until":null`), // null = absent: active
	}
	status, b, _ := post(t, s, stixPath, "application/json", "", `{"sourcesystem":"src","stixobjects":[`+strings.Join(objs, ",")+`]}`)
	if status != 200 || !strings.Contains(b, `"recordIndex":2,`) || !strings.Contains(b, "Property=valid_until: Invalid timestamp") {
		t.Fatalf("got %d %s", status, b)
	}
	if n := len(s.Objects()); n != 5 {
		t.Fatalf("%d objects stored, want 5", n)
	}
	want := []string{Name("src", "identity--933c5838-34d9-4fbf-949c-62aba761184c"),
		Name("src", "indicator--00000000-0000-4000-8000-000000000000"), Name("src", "indicator--00000001-0000-4000-8000-000000000000")}
	slices.Sort(want)
	if a := s.Active(); !slices.Equal(a, want) {
		t.Fatalf("active = %v\nwant %v", a, want)
	}
}

func TestFaults(t *testing.T) {
	t.Parallel()
	s := NewServer(ServerOptions{})
	defer s.Close()
	body := `{"sourcesystem":"s","stixobjects":[` + ind(1, "") + `]}`
	s.Inject(Fault{Status: 500}, Fault{Status: 429, RetryAfter: 7 * time.Second}, Fault{Status: 403, Times: 2})
	wants := []struct {
		status int
		has    string
	}{{500, `"message": "Internal server error"`}, {429, "Try again in 7 seconds."}, {403, ""}, {403, ""}, {200, ""}}
	for i, w := range wants {
		status, b, h := post(t, s, stixPath, "application/json", "", body)
		if status != w.status || !strings.Contains(b, w.has) || h.Get("Retry-After") != "" {
			t.Fatalf("request %d: %d %s, want %d %q", i, status, b, w.status, w.has)
		}
	}
}

func TestRandomFaultsAreSeeded(t *testing.T) {
	t.Parallel()
	run := func() []int {
		s := NewServer(ServerOptions{Seed: 42, FaultProbability: 0.3, RandomFaults: []Fault{{Status: 500}, {Status: 503}}, RequestsPerMinute: -1})
		defer s.Close()
		var out []int
		for range 40 {
			status, _, _ := post(t, s, stixPath, "application/json", "", `{"sourcesystem":"s","stixobjects":[`+ind(1, "")+`]}`)
			out = append(out, status)
		}
		return out
	}
	a, b := run(), run()
	faults := 0
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("runs differ at %d: %v vs %v", i, a, b)
		}
		if a[i] != 200 {
			faults++
		}
	}
	if faults == 0 || faults == len(a) {
		t.Fatalf("%d faults in %d requests", faults, len(a))
	}
}

func FuzzValidate(f *testing.F) {
	f.Add(ind(1, ""), false)
	f.Add(ind(2, `,"valid_until":"2026-01-01T00:00:00Z","confidence":-3`), true)
	f.Add(`{"type":"identity","id":"identity--x"}`, true)
	f.Add(`[]`, false)
	f.Fuzz(func(t *testing.T, obj string, legacy bool) {
		for _, m := range validate(json.RawMessage(obj), legacy) {
			if !strings.HasPrefix(m, "Error for Property=") {
				t.Fatalf("message %q", m)
			}
		}
	})
}
