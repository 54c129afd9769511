package stix

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/feeds2sentinel/feeds2sentinel/internal/ioc"
)

func TestAppendString(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, want string }{
		{"", `""`},
		{"abc", `"abc"`},
		{`"\`, `"\"\\"`},
		{"a\nb\r\t\b\f", `"a\nb\r\t\b\f"`},
		{"\x00\x01\x1f\x7f", `"\u0000\u0001\u001f` + "\x7f" + `"`},
		{"\u2028x\u2029", `"\u2028x\u2029"`},
		{"bad\xffutf8\xc3", `"bad\ufffdutf8\ufffd"`},
		{"日本語 <>&'", `"日本語 <>&'"`},
	}
	for _, tc := range cases {
		if got := string(appendString(nil, tc.in)); got != tc.want {
			t.Errorf("appendString(%q) = %s, want %s", tc.in, got, tc.want)
		}
		var back string
		if err := json.Unmarshal(appendString(nil, tc.in), &back); err != nil {
			t.Errorf("decoding appendString(%q): %v", tc.in, err)
		} else if want := strings.ToValidUTF8(tc.in, "\uFFFD"); utf8.ValidString(tc.in) && back != want {
			t.Errorf("decoded %q, want %q", back, want)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	f.Add("a\"b\\c\x00\u2028\xff")
	f.Fuzz(func(t *testing.T, s string) {
		var back string
		if err := json.Unmarshal(appendString(nil, s), &back); err != nil {
			t.Fatalf("appendString(%q) is not a JSON string: %v", s, err)
		}
		if utf8.ValidString(s) && back != s {
			t.Fatalf("round trip of %q = %q", s, back)
		}
	})
}

func sampleIndicator() *Indicator {
	t0 := time.Date(2024, 5, 1, 10, 0, 0, 123e6, time.UTC)
	return &Indicator{
		ID:                 IndicatorID(ioc.Observable{Type: ioc.TypeURL, Value: "http://e.example/'x'"}, 0),
		Created:            t0,
		Modified:           t0.Add(time.Hour),
		CreatedByRef:       IdentityID("urlhaus"),
		Revoked:            true,
		Labels:             []string{"emotet", "a\"b"},
		Confidence:         0,
		Lang:               "en",
		ExternalReferences: []ExternalReference{{SourceName: "urlhaus", ExternalID: "1", URL: "https://urlhaus.abuse.ch/url/1/"}, {SourceName: "x", Description: "d"}},
		ObjectMarkingRefs:  []string{TLPAmber},
		Name:               "url http://e.example/'x'",
		Description:        "line1\nline2\u2028",
		IndicatorTypes:     []string{"malicious-activity"},
		Pattern:            `[url:value = 'http://e.example/\'x\'']`,
		PatternType:        "stix",
		PatternVersion:     "2.1",
		ValidFrom:          t0,
		ValidUntil:         t0.Add(30 * 24 * time.Hour),
		KillChainPhases:    []KillChainPhase{{KillChainName: LockheedMartinKillChain, PhaseName: "delivery"}},
		Observable:         ioc.Observable{Type: ioc.TypeURL, Value: "http://e.example/'x'"},
	}
}

func TestIndicatorJSONRoundTrip(t *testing.T) {
	t.Parallel()
	cases := map[string]*Indicator{
		"full":    sampleIndicator(),
		"minimal": {ID: "indicator--x", Pattern: "[domain-name:value = 'a.example']", PatternType: "stix", Observable: ioc.Observable{Type: ioc.TypeDomain, Value: "a.example"}},
	}
	for name, x := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			data, err := json.Marshal(x)
			if err != nil {
				t.Fatal(err)
			}
			if !json.Valid(data) {
				t.Fatalf("invalid JSON: %s", data)
			}
			var back Indicator
			if err := json.Unmarshal(data, &back); err != nil {
				t.Fatalf("Unmarshal: %v\n%s", err, data)
			}
			if !reflect.DeepEqual(&back, x) {
				t.Errorf("round trip mismatch:\n got %+v\nwant %+v", &back, x)
			}
		})
	}
}

func TestIndicatorJSONOmitsEmpty(t *testing.T) {
	t.Parallel()
	x := &Indicator{ID: "indicator--x", Pattern: "[url:value = 'a']", PatternType: "stix"}
	got := string(x.AppendJSON(nil))
	want := `{"type":"indicator","spec_version":"2.1","id":"indicator--x","created":"0001-01-01T00:00:00.000Z",` +
		`"modified":"0001-01-01T00:00:00.000Z","confidence":0,"pattern":"[url:value = 'a']","pattern_type":"stix",` +
		`"valid_from":"0001-01-01T00:00:00.000Z"}`
	if got != want {
		t.Errorf("AppendJSON =\n%s\nwant\n%s", got, want)
	}
}

func TestUnmarshalRejects(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		`{"type":"identity","id":"indicator--x"}`,
		`{"id":"indicator--x"}`,
		`{"type":"indicator","spec_version":"2.0"}`,
	} {
		var x Indicator
		if err := json.Unmarshal([]byte(in), &x); !errors.Is(err, ErrInvalidIndicator) {
			t.Errorf("Unmarshal(%s) = %v, want ErrInvalidIndicator", in, err)
		}
	}
	var id Identity
	if err := json.Unmarshal([]byte(`{"type":"indicator"}`), &id); !errors.Is(err, ErrInvalidIndicator) {
		t.Errorf("Identity.Unmarshal of an indicator = %v, want ErrInvalidIndicator", err)
	}
}

func TestIdentityJSONRoundTrip(t *testing.T) {
	t.Parallel()
	x := NewSourceIdentity("threatfox")
	data, err := json.Marshal(x)
	if err != nil {
		t.Fatal(err)
	}
	var back Identity
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&back, x) {
		t.Errorf("round trip = %+v, want %+v", &back, x)
	}
	if !reflect.DeepEqual(NewSourceIdentity("threatfox"), x) {
		t.Error("NewSourceIdentity is not deterministic")
	}
}

func TestAppendTime(t *testing.T) {
	t.Parallel()
	for _, tm := range []time.Time{
		{},
		time.Date(2024, 2, 29, 23, 59, 59, 999999999, time.UTC),
		time.Date(1999, 12, 31, 1, 2, 3, 4e6, time.FixedZone("X", -7*3600)),
		time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		want := `"` + tm.UTC().Format(TimeFormat) + `"`
		if got := string(appendTime(nil, tm)); got != want {
			t.Errorf("appendTime(%v) = %s, want %s", tm, got, want)
		}
	}
}
