package submission_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/feeds2sentinel/feeds2sentinel/internal/ingest"
	"github.com/feeds2sentinel/feeds2sentinel/internal/submission"
)

func dryRunSubmissions() *ingest.Submissions {
	p := &ingest.Pipeline{Logger: slog.New(slog.DiscardHandler)}
	return &ingest.Submissions{Pipeline: p, MaxItems: 10000, Confidence: 70, Source: "manual", TLP: "clear"}
}

// quoted returns n JSON strings "<prefix><i>" joined by commas.
func quoted(prefix string, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Quote(prefix + strconv.Itoa(i)))
	}
	return b.String()
}

// TestSubmitRefusals covers the request-level limits: each answer has the
// status and code the README documents.
func TestSubmitRefusals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, ctype, body string
		status            int
		code              string
	}{
		// 3,000 request labels on 3,000 items took 56 s and 573 MB.
		{"too many request labels", "application/json",
			`{"labels":[` + quoted("l", 3000) + `],"indicators":[` + quoted("evil", 3000) + `]}`, 413, "too_many_labels"},
		{"NUL in a request label", "application/json", `{"labels":["a\u0000b"],"indicators":["evil.top"]}`, 400, "bad_labels"},
		{"long request label", "application/json", `{"labels":["` + strings.Repeat("x", 65) + `"],"indicators":["evil.top"]}`, 400, "bad_labels"},
		{"bidi override in the source", "application/json", `{"source":"case\u202e24","indicators":["evil.top"]}`, 400, "bad_source"},
		{"NUL in the source", "application/json", `{"source":"case\u0000","indicators":["evil.top"]}`, 400, "bad_source"},
		{"lifetime beyond the cap", "application/json", `{"lifetime":"100000d","indicators":["evil.top"]}`, 400, "bad_lifetime"},
		{"lifetime of 5 years and a day", "application/json", `{"lifetime":"1826d","indicators":["evil.top"]}`, 400, "bad_lifetime"},
	}
	s := dryRunSubmissions()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := submit(context.Background(), s, request{ContentType: tt.ctype, Body: []byte(tt.body), DryRun: true})
			var se *ingest.SubmitError
			if !errors.As(err, &se) || submission.HTTPStatus(se) != tt.status || se.Code != tt.code {
				t.Fatalf("Submit = %v, want %d %s", err, tt.status, tt.code)
			}
		})
	}
}

// TestSubmitItemLimits covers the item-level checks: a bad item is
// rejected with a message, the others go through.
func TestSubmitItemLimits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body string
		message    string // "" = accepted
	}{
		{"too many item labels", `[{"value":"evil.top","labels":[` + quoted("l", 17) + `]}]`, "at most 16"},
		{"16 item labels", `[{"value":"evil.top","labels":[` + quoted("l", 16) + `]}]`, ""},
		{"NUL in a label", `[{"value":"evil.top","labels":["a\u0000b"]}]`, "control characters"},
		{"long label", `[{"value":"evil.top","labels":["` + strings.Repeat("é", 40) + `"]}]`, "longer than 64 bytes"},
		{"valid_until far ahead", `[{"value":"evil.top","valid_until":"9999-12-31T00:00:00Z"}]`, "too far ahead"},
		{"valid_until next year", `[{"value":"evil.top","valid_until":"` + nextYear() + `"}]`, ""},
		{"stix confidence 500", stixItem(`"confidence":500`), "confidence must be 0-100"},
		{"stix confidence -1", stixItem(`"confidence":-1`), "confidence must be 0-100"},
		{"stix confidence 80", stixItem(`"confidence":80`), ""},
		{"stix valid_until far ahead", stixItem(`"valid_until":"9999-12-31T00:00:00Z"`), "too far ahead"},
		{"stix labels with NUL", stixItem(`"labels":["x\u0000"]`), "control characters"},
	}
	s := dryRunSubmissions()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp, err := submit(context.Background(), s, request{ContentType: "application/json", Body: []byte(tt.body), DryRun: true})
			if err != nil {
				t.Fatal(err)
			}
			r := resp.Results[0]
			if tt.message == "" {
				if r.Status != "accepted" {
					t.Fatalf("result %+v, want accepted", r)
				}
				return
			}
			if r.Status != "rejected" || !strings.Contains(r.Message, tt.message) {
				t.Fatalf("result %+v, want rejected with %q", r, tt.message)
			}
		})
	}
}

func nextYear() string {
	return fmt.Sprintf("%d-06-01T00:00:00Z", time.Now().Year()+1)
}

func stixItem(extra string) string {
	return `{"type":"indicator","spec_version":"2.1","id":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","pattern":"[domain-name:value = 'evil.top']","pattern_type":"stix",` + extra + `}`
}

// TestSubmitLabelsCleaned checks that invisible format characters are
// removed from labels and duplicates dropped, case-insensitively.
func TestSubmitLabelsCleaned(t *testing.T) {
	t.Parallel()
	body := `{"labels":["Case-42","case-42","\u202etxt.exe","zero\u200bwidth","\ufeffbom"],"indicators":[{"value":"evil.top","labels":["CASE-42","x\u2066y"]}]}`
	resp, err := submit(context.Background(), dryRunSubmissions(), request{ContentType: "application/json", Body: []byte(body), DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	labels := indicatorLabels(t, resp)
	folded := map[string]int{}
	for l, n := range labels {
		folded[strings.ToLower(l)] += n
		if strings.ContainsAny(l, "\u202e\u200b\ufeff\u2066\x00") {
			t.Errorf("label %q kept", l)
		}
	}
	for _, want := range []string{"case-42", "txt.exe", "zerowidth", "bom", "xy"} {
		if folded[want] != 1 {
			t.Errorf("label %q appears %d times in %v", want, folded[want], labels)
		}
	}
}

// indicatorLabels counts the labels of the first indicator of a dry run.
func indicatorLabels(t *testing.T, resp *ingest.SubmitResponse) map[string]int {
	t.Helper()
	for _, raw := range resp.Objects {
		var o struct {
			Type   string
			Labels []string
		}
		if err := json.Unmarshal(raw, &o); err != nil {
			t.Fatal(err)
		}
		if o.Type == "indicator" {
			n := map[string]int{}
			for _, l := range o.Labels {
				n[l]++
			}
			return n
		}
	}
	t.Fatal("no indicator in the dry run")
	return nil
}

// TestSubmitMergedLabelsCapped submits one IOC many times with new labels
// each time: the indicator stops at MaxMergedLabels labels.
func TestSubmitMergedLabelsCapped(t *testing.T) {
	t.Parallel()
	var items []string
	for i := range 20 {
		items = append(items, `{"value":"evil.top","labels":[`+quoted("r"+strconv.Itoa(i)+"-", 16)+`]}`)
	}
	resp, err := submit(context.Background(), dryRunSubmissions(), request{ContentType: "application/json",
		Body: []byte("[" + strings.Join(items, ",") + "]"), DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Rejected == 0 || resp.Accepted == 0 {
		t.Fatalf("accepted %d, rejected %d: want both", resp.Accepted, resp.Rejected)
	}
	if n := len(indicatorLabels(t, resp)); n > ingest.MaxMergedLabels {
		t.Fatalf("indicator has %d labels, want at most %d", n, ingest.MaxMergedLabels)
	}
}

// TestSubmitDryRunBounded refuses a dry run whose answer would be larger
// than MaxDryRunBytes.
func TestSubmitDryRunBounded(t *testing.T) {
	t.Parallel()
	s := dryRunSubmissions()
	s.MaxDryRunBytes = 4096
	body := `[` + quoted("evil-", 100) + `]`
	body = strings.ReplaceAll(body, `",`, `.top",`)
	_, err := submit(context.Background(), s, request{ContentType: "application/json", Body: []byte(body), DryRun: true})
	var se *ingest.SubmitError
	if !errors.As(err, &se) || submission.HTTPStatus(se) != 413 || se.Code != "dry_run_too_large" {
		t.Fatalf("Submit = %v, want 413 dry_run_too_large", err)
	}
}

// TestSubmitTextCancelled stops extracting when the client has gone.
func TestSubmitTextCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := submit(ctx, dryRunSubmissions(), request{ContentType: "text/plain",
		Body: []byte(strings.Repeat("0", 64<<10)), DryRun: true})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Submit(cancelled) = %v, want context.Canceled", err)
	}
}

// BenchmarkSubmitLabels submits bodies of 1 KiB, 64 KiB and 1 MiB of
// items that each carry MaxLabels labels, under MaxLabels request labels.
func BenchmarkSubmitLabels(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 10, 1 << 20} {
		var items []string
		n := 0
		for i := 0; n < size; i++ {
			it := fmt.Sprintf(`{"value":"h%d.evil.top","labels":[%s]}`, i, quoted(fmt.Sprintf("t%d-", i%7), ingest.MaxLabels))
			items = append(items, it)
			n += len(it) + 1
		}
		body := []byte(`{"labels":[` + quoted("req-", ingest.MaxLabels) + `],"indicators":[` + strings.Join(items, ",") + `]}`)
		s := dryRunSubmissions()
		s.MaxDryRunBytes = 1 << 30
		b.Run(strconv.Itoa(size>>10)+"KiB", func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := submit(context.Background(), s, request{ContentType: "application/json", Body: body, DryRun: true}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
