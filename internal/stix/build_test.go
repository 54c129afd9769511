package stix

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/feeds2sentinel/feeds2sentinel/internal/ioc"
)

var (
	testNow = time.Date(2024, 6, 1, 12, 0, 0, 987654321, time.UTC)
	nowMS   = testNow.Truncate(time.Millisecond)
	day     = 24 * time.Hour
)

func testOpts() *Options { return &Options{Now: func() time.Time { return testNow }} }

var ip = ioc.Observable{Type: ioc.TypeIPv4, Value: "198.51.100.7"}

func TestNewIndicatorZeroRecord(t *testing.T) {
	t.Parallel()
	for name, r := range map[string]*ioc.Record{"nil": nil, "zero": {}} {
		x, err := NewIndicator(ip, r, testOpts())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want := &Indicator{
			ID: IndicatorID(ip, 0), Created: nowMS, Modified: nowMS, Confidence: 50,
			ObjectMarkingRefs: []string{TLPClear}, Name: "ip 198.51.100.7",
			IndicatorTypes: []string{"malicious-activity"}, Pattern: "[ipv4-addr:value = '198.51.100.7']",
			PatternType: "stix", PatternVersion: "2.1", ValidFrom: nowMS, ValidUntil: nowMS.Add(14 * day),
			Observable: ip,
		}
		if !reflect.DeepEqual(x, want) {
			t.Errorf("%s record:\n got %+v\nwant %+v", name, x, want)
		}
	}
}

func TestNewIndicatorNilOptions(t *testing.T) {
	t.Parallel()
	before := time.Now().Add(-time.Second)
	x, err := NewIndicator(ip, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if x.Created.Before(before) || x.Confidence != DefaultConfidence || x.ObjectMarkingRefs[0] != TLPClear {
		t.Errorf("defaults not applied: %+v", x)
	}
}

func TestLifetimes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		typ   ioc.Type
		value string
		want  time.Duration
	}{
		{ioc.TypeIPv4, "198.51.100.7", 14 * day},
		{ioc.TypeIPv6, "2001:db8::1", 14 * day},
		{ioc.TypeCIDRv4, "198.51.100.0/24", 14 * day},
		{ioc.TypeCIDRv6, "2001:db8::/32", 14 * day},
		{ioc.TypeDomain, "evil.example", 30 * day},
		{ioc.TypeURL, "http://evil.example/", 30 * day},
		{ioc.TypeEmail, "a@evil.example", 30 * day},
		{ioc.TypeMD5, strings.Repeat("a", 32), 365 * day},
		{ioc.TypeSHA1, strings.Repeat("a", 40), 365 * day},
		{ioc.TypeSHA256, strings.Repeat("a", 64), 365 * day},
		{ioc.TypeSHA512, strings.Repeat("a", 128), 365 * day},
		{ioc.TypeX509SHA1, strings.Repeat("a", 40), 365 * day},
	}
	last := time.Date(2024, 5, 20, 0, 0, 0, 0, time.UTC)
	for _, tc := range cases {
		o := ioc.Observable{Type: tc.typ, Value: tc.value}
		x, err := NewIndicator(o, &ioc.Record{LastSeen: last}, testOpts())
		if err != nil {
			t.Fatalf("%s: %v", tc.typ, err)
		}
		if got := x.ValidUntil.Sub(last); got != tc.want {
			t.Errorf("%s: lifetime %v, want %v", tc.typ, got, tc.want)
		}
	}
	opts := testOpts()
	opts.Lifetimes = map[ioc.Type]time.Duration{ioc.TypeIPv4: 2 * day, ioc.TypeDomain: -1}
	x, _ := NewIndicator(ip, &ioc.Record{LastSeen: last}, opts)
	if got := x.ValidUntil.Sub(last); got != 2*day {
		t.Errorf("override: lifetime %v, want 2 days", got)
	}
	x, _ = NewIndicator(ioc.Observable{Type: ioc.TypeDomain, Value: "a.example"}, &ioc.Record{LastSeen: last}, opts)
	if got := x.ValidUntil.Sub(last); got != 30*day {
		t.Errorf("non-positive override: lifetime %v, want default", got)
	}
}

func TestValidity(t *testing.T) {
	t.Parallel()
	d := func(day int) time.Time { return time.Date(2024, 5, day, 0, 0, 0, 0, time.UTC) }
	ms := time.Millisecond
	cases := []struct {
		name      string
		r         ioc.Record
		from, til time.Time
	}{
		{"nothing", ioc.Record{}, nowMS, nowMS.Add(14 * day)},
		{"first only", ioc.Record{FirstSeen: d(1)}, d(1), d(15)},
		{"last only", ioc.Record{LastSeen: d(10)}, d(10), d(24)},
		{"first and last", ioc.Record{FirstSeen: d(1), LastSeen: d(10)}, d(1), d(24)},
		{"last before first", ioc.Record{FirstSeen: d(10), LastSeen: d(1)}, d(10), d(24)},
		{"explicit until", ioc.Record{FirstSeen: d(1), ValidUntil: d(3)}, d(1), d(3)},
		{"until equals from", ioc.Record{FirstSeen: d(5), ValidUntil: d(5)}, d(5), d(5).Add(ms)},
		{"until before from", ioc.Record{FirstSeen: d(5), ValidUntil: d(1)}, d(5), d(5).Add(ms)},
		{"sub-ms apart", ioc.Record{FirstSeen: d(5).Add(100), ValidUntil: d(5).Add(900)}, d(5), d(5).Add(ms)},
		{"non-UTC zone", ioc.Record{FirstSeen: d(1).In(time.FixedZone("X", 3600))}, d(1), d(15)},
	}
	for _, tc := range cases {
		x, err := NewIndicator(ip, &tc.r, testOpts())
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !x.ValidFrom.Equal(tc.from) || !x.ValidUntil.Equal(tc.til) || x.ValidFrom.Location() != time.UTC {
			t.Errorf("%s: valid %v .. %v, want %v .. %v", tc.name, x.ValidFrom, x.ValidUntil, tc.from, tc.til)
		}
	}
	// Broken dates are bounded: nothing starts after now, nothing is valid
	// for more than MaxValidity from now.
	bounded := []struct {
		name      string
		r         ioc.Record
		from, til time.Time
	}{
		{"year 10000 first seen", ioc.Record{FirstSeen: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}, nowMS, nowMS.Add(14 * day)},
		{"future last seen", ioc.Record{FirstSeen: d(1), LastSeen: nowMS.Add(3000 * day)}, d(1), nowMS.Add(14 * day)},
		{"valid_until 9999-12-31", ioc.Record{FirstSeen: d(1), ValidUntil: time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)}, d(1), nowMS.Add(MaxValidity)},
	}
	for _, tc := range bounded {
		x, err := NewIndicator(ip, &tc.r, testOpts())
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !x.ValidFrom.Equal(tc.from) || !x.ValidUntil.Equal(tc.til) {
			t.Errorf("%s: valid %v .. %v, want %v .. %v", tc.name, x.ValidFrom, x.ValidUntil, tc.from, tc.til)
		}
	}
}

func TestConfidence(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		r    ioc.Record
		def  int
		want int
	}{
		{"unset", ioc.Record{}, 0, 50},
		{"unset, default 80", ioc.Record{}, 80, 80},
		{"unset, default 300", ioc.Record{}, 300, 100},
		{"set 0", ioc.Record{ConfidenceSet: true}, 80, 0},
		{"set 75", ioc.Record{Confidence: 75, ConfidenceSet: true}, 0, 75},
		{"set -1", ioc.Record{Confidence: -1, ConfidenceSet: true}, 0, 0},
		{"set 101", ioc.Record{Confidence: 101, ConfidenceSet: true}, 0, 100},
		{"value without flag", ioc.Record{Confidence: 90}, 0, 50},
	}
	for _, tc := range cases {
		opts := testOpts()
		opts.DefaultConfidence = tc.def
		x, err := NewIndicator(ip, &tc.r, opts)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if x.Confidence != tc.want {
			t.Errorf("%s: confidence %d, want %d", tc.name, x.Confidence, tc.want)
		}
	}
	opts := testOpts()
	opts.MinConfidence = 60
	_, err := NewIndicator(ip, &ioc.Record{ID: "7", Confidence: 59, ConfidenceSet: true}, opts)
	var rej *ioc.Rejection
	if !errors.As(err, &rej) || rej.Reason != ioc.ReasonLowConfidence || rej.RecordID != "7" || !errors.Is(err, ioc.ErrRejected) {
		t.Errorf("below MinConfidence: err = %v, want a low-confidence rejection", err)
	}
}

func TestLabels(t *testing.T) {
	t.Parallel()
	r := &ioc.Record{
		Source: "threatfox", ThreatType: "botnet_cc", Malware: "win.cobalt_strike", MalwarePrintable: "Cobalt Strike",
		MalwareAliases: []string{"BEACON", "cobalt strike", "CobaltStrike", " "},
		Tags:           []string{"c2", "ThreatFox", "beacon", "C2", ""},
		Labels:         []string{"feed-label", "BOTNET_CC"},
	}
	opts := testOpts()
	opts.Labels = []string{"extra", "Extra", "port:443"}
	x, err := NewIndicator(ioc.Observable{Type: ioc.TypeIPv4, Value: "198.51.100.7", Port: 443}, r, opts)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"Cobalt Strike", "BEACON", "CobaltStrike", "botnet_cc", "c2", "ThreatFox", "feed-label", "extra", "port:443"}
	if !reflect.DeepEqual(x.Labels, want) {
		t.Errorf("labels = %q, want %q", x.Labels, want)
	}
	// Appending to one list must not overwrite another (shared backing array).
	x.IndicatorTypes = append(x.IndicatorTypes, "x")
	x.ObjectMarkingRefs = append(x.ObjectMarkingRefs, "y")
	x.Sources = append(x.Sources, "z")
	if x.Labels[0] != "Cobalt Strike" || x.ObjectMarkingRefs[0] != TLPClear || x.Sources[0] != "threatfox" {
		t.Errorf("lists alias each other: %+v", x)
	}
	x, _ = NewIndicator(ip, &ioc.Record{Malware: "elf.mirai"}, testOpts())
	if !reflect.DeepEqual(x.Labels, []string{"elf.mirai"}) {
		t.Errorf("malware id label = %q", x.Labels)
	}
}

func TestVocabularies(t *testing.T) {
	t.Parallel()
	cases := []struct {
		threat, typ, phase string
	}{
		{"botnet_cc", "malicious-activity", "command-and-control"},
		{"payload_delivery", "malicious-activity", "delivery"},
		{"payload", "malicious-activity", "installation"},
		{"phishing", "malicious-activity", "delivery"},
		{"", "malicious-activity", ""},
		{"scanner", "malicious-activity", ""},
		{"tor_exit", "anonymization", ""},
		{"monitor", "malicious-activity", ""},
		{"compromised", "compromised", ""},
		{"success", "malicious-activity", ""},
	}
	for _, tc := range cases {
		x, err := NewIndicator(ip, &ioc.Record{ThreatType: tc.threat}, testOpts())
		if err != nil {
			t.Fatal(err)
		}
		if x.IndicatorTypes[0] != tc.typ {
			t.Errorf("%q: indicator_types %q, want %q", tc.threat, x.IndicatorTypes, tc.typ)
		}
		var want []KillChainPhase
		if tc.phase != "" {
			want = []KillChainPhase{{LockheedMartinKillChain, tc.phase}}
		}
		if !reflect.DeepEqual(x.KillChainPhases, want) {
			t.Errorf("%q: kill_chain_phases %v, want %v", tc.threat, x.KillChainPhases, want)
		}
	}
}

func TestExternalReferences(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		r    ioc.Record
		want []ExternalReference
	}{
		{"none", ioc.Record{Source: "x"}, nil},
		{"id only", ioc.Record{Source: "threatfox", ID: "42"}, []ExternalReference{{SourceName: "threatfox", ExternalID: "42"}}},
		{"url only, no source", ioc.Record{RecordURL: "https://a.example/42"}, []ExternalReference{{SourceName: "unknown", URL: "https://a.example/42"}}},
		{"all", ioc.Record{Source: "threatfox", ID: "42", RecordURL: "https://threatfox.abuse.ch/ioc/42/",
			Reference: "https://blog.example/post?id=1", Malware: "win.emotet", MalpediaURL: "https://malpedia.caad.fkie.fraunhofer.de/details/win.emotet"},
			[]ExternalReference{
				{SourceName: "threatfox", ExternalID: "42", URL: "https://threatfox.abuse.ch/ioc/42/"},
				{SourceName: "threatfox", Description: "reference", URL: "https://blog.example/post?id=1"},
				{SourceName: "malpedia", ExternalID: "win.emotet", URL: "https://malpedia.caad.fkie.fraunhofer.de/details/win.emotet"},
			}},
		{"reference equals record url", ioc.Record{Source: "s", RecordURL: "https://a.example/1", Reference: "https://a.example/1"},
			[]ExternalReference{{SourceName: "s", URL: "https://a.example/1"}}},
		{"invalid urls dropped", ioc.Record{Source: "s", RecordURL: "ftp://a.example/", Reference: "not a url", MalpediaURL: "https://a.example/ bad"}, nil},
	}
	for _, tc := range cases {
		x, err := NewIndicator(ip, &tc.r, testOpts())
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !reflect.DeepEqual(x.ExternalReferences, tc.want) {
			t.Errorf("%s: external_references %+v, want %+v", tc.name, x.ExternalReferences, tc.want)
		}
	}
}

func TestValidURL(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{
		"https://a.example/x?y=1#z": true, "HTTP://A.example": true, "http://a.example/%41": true,
		"": false, "http://": false, "http:///x": false, "https://a.example/%4": false, "https://a.example/%zz": false,
		"https://a.example/ x": false, "https://a.example/\"": false, "https://a.example/é": false, "javascript:alert(1)": false,
		"mailto:a@b": false, "//a.example": false, "http://[": false, "http://[::1]:80/": true, "http://a.example:8080/x": true,
		"http://a.example:x/": false, "http://u:p@a.example/": true, "http://[1.2.3.4]/": false, "http://a.example/[x]": true,
		"http://%zz/": false, "http://:80/": false,
	} {
		if got := validURL(s); got != want {
			t.Errorf("validURL(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestTLPMarkingID(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, want string }{
		{"", TLPClear}, {"clear", TLPClear}, {"white", TLPClear}, {"TLP:WHITE", TLPClear}, {" Clear ", TLPClear},
		{"green", TLPGreen}, {"tlp:green", TLPGreen}, {"amber", TLPAmber}, {"AMBER+STRICT", TLPAmberStrict},
		{"red", TLPRed}, {"purple", ""}, {"amber strict", ""}, {"tlp:", TLPClear},
	}
	for _, tc := range cases {
		got, err := TLPMarkingID(tc.in)
		if tc.want == "" {
			if !errors.Is(err, ErrUnknownTLP) {
				t.Errorf("TLPMarkingID(%q) = %q, %v; want ErrUnknownTLP", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("TLPMarkingID(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	opts := testOpts()
	opts.TLP = "green"
	x, _ := NewIndicator(ip, nil, opts)
	y, _ := NewIndicator(ip, &ioc.Record{TLP: "red"}, opts)
	if x.ObjectMarkingRefs[0] != TLPGreen || y.ObjectMarkingRefs[0] != TLPRed {
		t.Errorf("TLP precedence: %v, %v", x.ObjectMarkingRefs, y.ObjectMarkingRefs)
	}
	if _, err := NewIndicator(ip, &ioc.Record{TLP: "purple"}, opts); !errors.Is(err, ErrUnknownTLP) {
		t.Errorf("bad record TLP: %v", err)
	}
}

func TestNewIndicatorErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		o    ioc.Observable
		want error
	}{
		{ioc.Observable{Type: "ja3", Value: "x"}, ErrUnsupportedType},
		{ioc.Observable{Type: ioc.TypeURL}, ErrInvalidIndicator},
		{ioc.Observable{Type: ioc.TypeURL, Value: "http://a.example/\xff"}, ErrInvalidIndicator},
	}
	for _, tc := range cases {
		if _, err := NewIndicator(tc.o, nil, testOpts()); !errors.Is(err, tc.want) {
			t.Errorf("NewIndicator(%+v) = %v, want %v", tc.o, err, tc.want)
		}
	}
}

func TestNameAndDescription(t *testing.T) {
	t.Parallel()
	r := &ioc.Record{
		Source: "threatfox", ThreatType: "botnet_cc", Malware: "win.cobalt_strike", MalwarePrintable: "Cobalt Strike",
		FirstSeen: time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC), Reporter: "abuse_ch", Status: "online",
		Description: "Seen in a campaign.",
	}
	x, err := NewIndicator(ioc.Observable{Type: ioc.TypeIPv4, Value: "198.51.100.7", Port: 443}, r, testOpts())
	if err != nil {
		t.Fatal(err)
	}
	if want := "Cobalt Strike botnet C2 ip 198.51.100.7:443"; x.Name != want {
		t.Errorf("name %q, want %q", x.Name, want)
	}
	wantDesc := "Malware: Cobalt Strike (win.cobalt_strike). Threat type: botnet_cc. Port: 443. " +
		"First seen: 2024-05-01T10:00:00.000Z. Reporter: abuse_ch. Status: online. Source: threatfox. Seen in a campaign."
	if x.Description != wantDesc {
		t.Errorf("description\n %q\nwant %q", x.Description, wantDesc)
	}
	long := "http://a.example/" + strings.Repeat("é", 200)
	x, _ = NewIndicator(ioc.Observable{Type: ioc.TypeURL, Value: long}, nil, testOpts())
	if len(x.Name) > 140 || !strings.HasSuffix(x.Name, "…") || !utf8Valid(x.Name) {
		t.Errorf("long name not shortened: %q", x.Name)
	}
	x, _ = NewIndicator(ioc.Observable{Type: ioc.TypeIPv6, Value: "2001:db8::1", Port: 8080}, nil, testOpts())
	if x.Name != "ip [2001:db8::1]:8080" {
		t.Errorf("ipv6 name %q", x.Name)
	}
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "?") == s }

// FuzzNewIndicator: for any value and context NewIndicator either fails or
// returns an indicator whose JSON is valid and decodes to the same pattern
// and observable.
func FuzzNewIndicator(f *testing.F) {
	f.Add("url", "http://a.example/'\\x", "tag\x00\u2028", "botnet_cc", 443)
	f.Add("ipv4", "1.2.3.4", "", "", 0)
	f.Add("sha256", "\xff", "a", "payload", -1)
	f.Fuzz(func(t *testing.T, typ, value, tag, threat string, port int) {
		o := ioc.Observable{Type: ioc.Type(typ), Value: value, Port: port}
		x, err := NewIndicator(o, &ioc.Record{Source: tag, Tags: []string{tag}, ThreatType: threat, Description: tag,
			Reference: tag, RecordURL: value, MalpediaURL: value}, testOpts())
		if err != nil {
			return
		}
		data, err := x.MarshalJSON()
		if err != nil || !json.Valid(data) {
			t.Fatalf("invalid JSON %v: %s", err, data)
		}
		var back Indicator
		if err := json.Unmarshal(data, &back); err != nil {
			t.Fatalf("Unmarshal: %v\n%s", err, data)
		}
		wantType := o.Type
		if (wantType == ioc.TypeIPv4 || wantType == ioc.TypeIPv6) && strings.Contains(value, "/") {
			wantType = map[ioc.Type]ioc.Type{ioc.TypeIPv4: ioc.TypeCIDRv4, ioc.TypeIPv6: ioc.TypeCIDRv6}[wantType]
		}
		if (wantType == ioc.TypeCIDRv4 || wantType == ioc.TypeCIDRv6) && !strings.Contains(value, "/") {
			wantType = map[ioc.Type]ioc.Type{ioc.TypeCIDRv4: ioc.TypeIPv4, ioc.TypeCIDRv6: ioc.TypeIPv6}[wantType]
		}
		if back.Pattern != x.Pattern || back.Observable.Value != value || back.Observable.Type != wantType {
			t.Fatalf("round trip: %q %+v, want %q %q %q", back.Pattern, back.Observable, x.Pattern, wantType, value)
		}
	})
}
