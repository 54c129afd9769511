package submission_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/feeds2sentinel/feeds2sentinel/internal/ingest"
	"github.com/feeds2sentinel/feeds2sentinel/internal/ioc"
	"github.com/feeds2sentinel/feeds2sentinel/internal/stix"
	"github.com/feeds2sentinel/feeds2sentinel/internal/submission"
)

// FuzzSubmit feeds arbitrary bodies to the submission decoder (JSON items,
// STIX, free text): it never panics, a refused submission says why, and
// every accepted item re-validates — its canonical value normalizes to
// itself and its STIX object's pattern parses back to it.
func FuzzSubmit(f *testing.F) {
	for _, seed := range []struct{ ctype, body string }{
		{"application/json", `["hxxp://evil-site[.]top/a?b=c", "45.147.230.12", {"value":"9e107d9d372bb6826bd81d3542a419d6","type":"md5"}]`},
		{"application/json", `{"source":"x","labels":["a"],"confidence":90,"tlp":"amber","lifetime":"3d","indicators":["a.top",{"value":"b.top","valid_until":"2027-01-01T00:00:00Z"}]}`},
		{"application/json", `{"type":"bundle","objects":[{"type":"indicator","id":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","pattern":"[url:value = 'http://x.top/\\'q']","pattern_type":"stix"}]}`},
		{"application/json", `[{"value":1},{"type":"ja3","value":"x"},null,[],"",{}]`},
		{"text/plain", "C2: 45[.]147[.]230[.]12:443 and hxxps://cdn[.]bad[.]top/x.zip; setup.exe v1.2.3 billing[@]bad[.]top"},
		{"text/plain", "[2001:db8::1]:443 2a02:cf40::5 fe80::1 user@example.com"},
		// Hostile inputs of issue 12: quadratic text, label floods, hidden
		// characters, out-of-range values.
		{"text/plain", strings.Repeat("0", 4096)},
		{"text/plain", strings.Repeat("1.", 2048)},
		{"text/plain", "http://a.b.com/x" + strings.Repeat(")", 1000) + " " + strings.Repeat("evil.com/](", 100)},
		{"application/json", `{"labels":["a","A","\u202eexe.txt","zero\u200bwidth","\ufeff","x\u0000"],"indicators":["evil.top"]}`},
		{"application/json", `[{"value":"evil.top","labels":["a","b","a"],"valid_until":"9999-12-31T00:00:00Z"},{"value":"-evil.com"},{"value":"evil-.com"},{"value":"http://evil.top/\u202egpj.exe"}]`},
		{"application/json", `{"lifetime":"100000d","indicators":["evil.top"]}`},
		{"application/json", `[{"type":"indicator","id":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","pattern":"[domain-name:value = 'evil.top']","pattern_type":"stix","confidence":500,"labels":["x\u0000"]}]`},
	} {
		f.Add(seed.ctype, []byte(seed.body))
	}
	p := &ingest.Pipeline{Logger: slog.New(slog.DiscardHandler)}
	s := &ingest.Submissions{Pipeline: p, MaxItems: 1000, Confidence: 70, Source: "manual", TLP: "clear"}
	f.Fuzz(func(t *testing.T, ctype string, body []byte) {
		resp, err := submit(context.Background(), s, request{ContentType: ctype, Body: body, DryRun: true})
		if err != nil {
			var se *ingest.SubmitError
			if !errors.As(err, &se) || submission.HTTPStatus(se) < 400 || se.Code == "" || se.Message == "" {
				t.Fatalf("refusal without a clear answer: %v", err)
			}
			return
		}
		if resp.Accepted+resp.Rejected != len(resp.Results) {
			t.Fatalf("totals %d+%d != %d results", resp.Accepted, resp.Rejected, len(resp.Results))
		}
		for _, r := range resp.Results {
			if r.Status != "accepted" {
				continue
			}
			o, err := ioc.Normalize(r.Value, ioc.Type(r.Type))
			if err != nil || o.Value != r.Value {
				t.Fatalf("accepted %q (%s) does not re-validate: %v %q", r.Value, r.Type, err, o.Value)
			}
		}
		for _, raw := range resp.Objects {
			var ind struct {
				Type, Pattern string
			}
			if err := json.Unmarshal(raw, &ind); err != nil {
				t.Fatalf("object is not JSON: %v", err)
			}
			if ind.Type != "indicator" {
				continue
			}
			if _, err := stix.ParsePattern(ind.Pattern); err != nil {
				t.Fatalf("pattern %q does not parse: %v", ind.Pattern, err)
			}
		}
	})
}
