package stix_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/feeds2sentinel/feeds2sentinel/internal/ioc"
	"github.com/feeds2sentinel/feeds2sentinel/internal/stix"
	"github.com/feeds2sentinel/feeds2sentinel/internal/stix/stixtest"
)

// stateMaxObjectSize mirrors internal/state.MaxObjectSize (the state store
// refuses larger objects); stix.MaxObjectSize must stay well under it.
const stateMaxObjectSize = 32 << 10

// checkFits fails unless x marshals (as the state store stores it, with
// json.Marshal) to at most stix.MaxObjectSize bytes, within the label and
// reference caps, and passes the STIX schemas. It returns the encoding.
func checkFits(t *testing.T, x *stix.Indicator) []byte {
	t.Helper()
	data, err := json.Marshal(x)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > stix.MaxObjectSize {
		t.Errorf("indicator is %d bytes, max %d", len(data), stix.MaxObjectSize)
	}
	if len(x.Labels) > stix.MaxLabels || len(x.ExternalReferences) > stix.MaxExternalReferences {
		t.Errorf("%d labels, %d external references: over the caps", len(x.Labels), len(x.ExternalReferences))
	}
	for _, l := range x.Labels {
		if len(l) > stix.MaxLabelLen {
			t.Errorf("label of %d bytes, max %d", len(l), stix.MaxLabelLen)
		}
	}
	stixtest.Validate(t, x.AppendJSON(nil))
	return data
}

func TestSizeLimitsLeaveRoom(t *testing.T) {
	if stix.MaxObjectSize > stateMaxObjectSize/2 {
		t.Errorf("MaxObjectSize %d is not well under the state store's %d", stix.MaxObjectSize, stateMaxObjectSize)
	}
}

// manyTagsRecord is the ThreatFox record of the regression: 4,000 tags made
// a 49 KB object that the state store refused, failing the whole run.
func manyTagsRecord(tags int) (ioc.Observable, *ioc.Record) {
	r := &ioc.Record{
		Source: "threatfox", ID: "1797050", ThreatType: "botnet_cc", Malware: "elf.xorddos", MalwarePrintable: "XOR DDoS",
		Confidence: 75, ConfidenceSet: true, FirstSeen: goldenNow.Add(-time.Hour),
		RecordURL: "https://threatfox.abuse.ch/ioc/1797050/", Labels: []string{"analyst"},
	}
	for i := range tags {
		r.Tags = append(r.Tags, fmt.Sprintf("tag-%04d-%s", i, strings.Repeat("x", 4)))
	}
	return ioc.Observable{Type: ioc.TypeIPv4, Value: "141.98.10.115", Port: 443}, r
}

func TestNewIndicatorManyTags(t *testing.T) {
	t.Parallel()
	opts := &stix.Options{Now: func() time.Time { return goldenNow }, Labels: []string{"feed-label"}}
	o, r := manyTagsRecord(4000)
	x, err := stix.NewIndicator(o, r, opts)
	if err != nil {
		t.Fatal(err)
	}
	checkFits(t, x)
	if len(x.Labels) < stix.MaxLabels-2 || x.Labels[len(x.Labels)-1] != stix.TruncatedLabel {
		t.Errorf("labels = %d, last %q; want about %d ending with %q", len(x.Labels), x.Labels[len(x.Labels)-1], stix.MaxLabels, stix.TruncatedLabel)
	}
	// The labels that say where the IOC comes from survive the tags.
	for _, want := range []string{"XOR DDoS", "botnet_cc", "tag-0000-xxxx", "threatfox", "analyst", "feed-label", "port:443"} {
		if !slices.Contains(x.Labels, want) {
			t.Errorf("label %q dropped: %q", want, x.Labels)
		}
	}
	// Deterministic: the same record gives the same object.
	y, err := stix.NewIndicator(o, r, opts)
	if err != nil || !reflect.DeepEqual(x, y) || stix.Fingerprint(x) != stix.Fingerprint(y) {
		t.Errorf("two builds differ: %v\n%+v\n%+v", err, x, y)
	}
	// A record within the caps is not marked.
	o, r = manyTagsRecord(10)
	if x, err = stix.NewIndicator(o, r, opts); err != nil || slices.Contains(x.Labels, stix.TruncatedLabel) {
		t.Errorf("10 tags: %v, labels %q", err, x.Labels)
	}
}

func TestNewIndicatorTrims(t *testing.T) {
	t.Parallel()
	opts := &stix.Options{Now: func() time.Time { return goldenNow }}
	long := "https://a.example/" + strings.Repeat("p", ioc.MaxURLLen)
	hostile := strings.Repeat("<&>\x01\u2028é", 20000) // 6 bytes each when encoded
	cases := []struct {
		name  string
		r     ioc.Record
		check func(*testing.T, *stix.Indicator)
	}{
		{"long labels", ioc.Record{Tags: []string{strings.Repeat("é", 300), strings.Repeat("a", 101)}},
			func(t *testing.T, x *stix.Indicator) {
				if !strings.HasSuffix(x.Labels[0], "…") || !strings.HasSuffix(x.Labels[1], "…") {
					t.Errorf("labels not cut: %q", x.Labels)
				}
			}},
		{"hostile description", ioc.Record{Description: hostile, Reporter: hostile, Status: hostile, Malware: hostile},
			func(t *testing.T, x *stix.Indicator) {
				if !strings.HasSuffix(x.Description, "…") {
					t.Errorf("description not cut: %q", x.Description)
				}
			}},
		{"over-long references", ioc.Record{Source: "s", ID: strings.Repeat("1", 300), RecordURL: "https://a.example/r",
			Reference: long, MalpediaURL: "https://malpedia.example/x", Malware: "win.x"},
			func(t *testing.T, x *stix.Indicator) {
				want := []stix.ExternalReference{{SourceName: "malpedia", URL: "https://malpedia.example/x", ExternalID: "win.x"}}
				if !reflect.DeepEqual(x.ExternalReferences, want) {
					t.Errorf("external references = %+v, want %+v", x.ExternalReferences, want)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			x, err := stix.NewIndicator(ip1, &tc.r, opts)
			if err != nil {
				t.Fatal(err)
			}
			checkFits(t, x)
			if x.Labels[len(x.Labels)-1] != stix.TruncatedLabel {
				t.Errorf("no %q label: %q", stix.TruncatedLabel, x.Labels)
			}
			tc.check(t, x)
		})
	}
}

var ip1 = ioc.Observable{Type: ioc.TypeIPv4, Value: "198.51.100.7"}

// TestNewIndicatorTooLarge: a value whose pattern alone exceeds the limit is
// rejected with a reason, not stored.
func TestNewIndicatorTooLarge(t *testing.T) {
	t.Parallel()
	o := ioc.Observable{Type: ioc.TypeURL, Value: "http://a.example/" + strings.Repeat("\x01", 3000)}
	_, err := stix.NewIndicator(o, nil, nil)
	if !errors.Is(err, stix.ErrInvalidIndicator) || !strings.Contains(err.Error(), "max 16384") {
		t.Errorf("err = %v, want ErrInvalidIndicator naming the limit", err)
	}
}

// TestMergeManySources: an indicator merged run after run with new sources,
// tags and references stays within the limits and, once trimmed, stops
// changing (no upload churn).
func TestMergeManySources(t *testing.T) {
	t.Parallel()
	now := goldenNow
	build := func(i int) *stix.Indicator {
		r := &ioc.Record{Source: fmt.Sprintf("feed-%d", i), ID: fmt.Sprint(i), ThreatType: "botnet_cc",
			Reference:   fmt.Sprintf("https://blog.example/%d/%s", i, strings.Repeat("r", 1500)),
			Description: strings.Repeat(fmt.Sprintf("run %d <says> more & more. ", i), 60)}
		for j := range 30 {
			r.Tags = append(r.Tags, fmt.Sprintf("t%d-%d", i, j))
		}
		x, err := stix.NewIndicator(ip1, r, &stix.Options{Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	m := build(0)
	for i := 1; i < 200; i++ {
		now = now.Add(time.Hour)
		m = stix.Merge(m, build(i), now)
		checkFits(t, m)
	}
	if m.Labels[len(m.Labels)-1] != stix.TruncatedLabel || m.Labels[0] != "botnet_cc" {
		t.Errorf("labels = %q: want them sorted and %q last", m.Labels, stix.TruncatedLabel)
	}
	// Saturated: merging the same content again changes nothing.
	cur := build(199)
	again := stix.Merge(m, cur, now.Add(time.Hour))
	if stix.Fingerprint(again) != stix.Fingerprint(m) || !again.Modified.Equal(m.Modified) {
		t.Errorf("re-merge changed the indicator: %q vs %q", again.Labels, m.Labels)
	}
}

// FuzzLimits: whatever the number and size of tags and text, NewIndicator
// returns an indicator within the limits (or an error).
func FuzzLimits(f *testing.F) {
	f.Add("tag", 4000, "description", 1)
	f.Add("<&>\u2028\x01", 60, strings.Repeat("\x00", 100), 3000)
	f.Fuzz(func(t *testing.T, tag string, n int, text string, repeat int) {
		n, repeat = min(max(n, 0), 5000), min(max(repeat, 0), 5000)
		r := &ioc.Record{Source: tag, Description: strings.Repeat(text, repeat), Malware: tag, Reporter: text,
			MalwareAliases: []string{tag, strings.Repeat(tag, repeat)}}
		for i := range n {
			r.Tags = append(r.Tags, fmt.Sprint(tag, i))
		}
		x, err := stix.NewIndicator(ip1, r, &stix.Options{Now: func() time.Time { return goldenNow }})
		if err != nil {
			t.Fatal(err) // the IOC is short: trimming must always succeed
		}
		checkFits(t, x)
		m := stix.Merge(x, x, goldenNow.Add(time.Hour))
		checkFits(t, m)
	})
}

// BenchmarkNewIndicatorManyTags: a 4,000-tag record costs time linear in
// its tags (the label deduplication compares with at most MaxLabels labels,
// and not at all once they are full).
func BenchmarkNewIndicatorManyTags(b *testing.B) {
	o, r := manyTagsRecord(4000)
	opts := &stix.Options{Now: func() time.Time { return goldenNow }}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := stix.NewIndicator(o, r, opts); err != nil {
			b.Fatal(err)
		}
	}
}
