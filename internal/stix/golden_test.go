package stix_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/feeds2sentinel/feeds2sentinel/internal/ioc"
	"github.com/feeds2sentinel/feeds2sentinel/internal/stix"
	"github.com/feeds2sentinel/feeds2sentinel/internal/stix/stixtest"
)

var update = flag.Bool("update", false, "update golden files")

var goldenNow = time.Date(2026, 4, 25, 8, 30, 0, 123456789, time.UTC)

func ts(s string) time.Time {
	t, err := time.Parse(time.DateTime, s)
	if err != nil {
		panic(err)
	}
	return t
}

// goldenCases are representative records, one per observable type.
func goldenCases() []struct {
	o ioc.Observable
	r ioc.Record
} {
	type c = struct {
		o ioc.Observable
		r ioc.Record
	}
	return []c{
		{ioc.Observable{Type: ioc.TypeIPv4, Value: "141.98.10.115", Port: 1430}, ioc.Record{
			Source: "threatfox", ID: "1797050", ThreatType: "botnet_cc", Malware: "elf.xorddos", MalwarePrintable: "XOR DDoS",
			MalwareAliases: []string{"XORDDoS"}, Confidence: 75, ConfidenceSet: true, FirstSeen: ts("2026-04-24 07:29:26"),
			Reporter: "abuse_ch", Tags: []string{"xorddos", "elf"}, RecordURL: "https://threatfox.abuse.ch/ioc/1797050/",
			MalpediaURL: "https://malpedia.caad.fkie.fraunhofer.de/details/elf.xorddos"}},
		{ioc.Observable{Type: ioc.TypeIPv6, Value: "2001:db8::bad:1"}, ioc.Record{
			Source: "manual", Labels: []string{"analyst"}, Description: "Submitted by the SOC.", TLP: "amber"}},
		{ioc.Observable{Type: ioc.TypeCIDRv4, Value: "192.0.2.0/24"}, ioc.Record{
			Source: "spamhaus-drop", ID: "SBL000001", Description: "Hijacked range.", RecordURL: "https://check.spamhaus.org/sbl/query/SBL000001"}},
		{ioc.Observable{Type: ioc.TypeCIDRv6, Value: "2001:db8:bad::/48"}, ioc.Record{Source: "spamhaus-dropv6"}},
		{ioc.Observable{Type: ioc.TypeDomain, Value: "evil-c2.example"}, ioc.Record{
			Source: "threatfox", ID: "1200000", ThreatType: "botnet_cc", Malware: "win.cobalt_strike", MalwarePrintable: "Cobalt Strike",
			MalwareAliases: []string{"BEACON", "CobaltStrike", "cobeacon"}, Confidence: 100, ConfidenceSet: true,
			FirstSeen: ts("2024-07-15 21:03:11"), LastSeen: ts("2024-07-16 01:00:00"), Reference: "https://blog.example/cs-beacons",
			Reporter: "someone", Tags: []string{"CobaltStrike", "c2"}, RecordURL: "https://threatfox.abuse.ch/ioc/1200000/"}},
		{ioc.Observable{Type: ioc.TypeURL, Value: `http://198.51.100.20/bins/x86?name='a'\b`}, ioc.Record{
			Source: "urlhaus", ID: "3000001", ThreatType: "malware_download", Status: "online", FirstSeen: ts("2026-02-26 10:00:05"),
			Tags: []string{"elf", "mirai"}, Reporter: "geenensp", RecordURL: "https://urlhaus.abuse.ch/url/3000001/"}},
		{ioc.Observable{Type: ioc.TypeMD5, Value: "1221b7e3a9b0950eb7ceb2a934e113b6"}, ioc.Record{
			Source: "malwarebazaar", ThreatType: "payload", MalwarePrintable: "AgentTesla", FirstSeen: ts("2026-02-26 09:12:00")}},
		{ioc.Observable{Type: ioc.TypeSHA1, Value: "da39a3ee5e6b4b0d3255bfef95601890afd80709"}, ioc.Record{
			Source: "malwarebazaar", ThreatType: "payload", Tags: []string{"exe"}}},
		{ioc.Observable{Type: ioc.TypeSHA256, Value: "6db12788c37247f2316052e142f42f4b259d6561751e5f401a1ae2a6df9c674b"}, ioc.Record{
			Source: "malwarebazaar", ID: "6db12788c37247f2316052e142f42f4b259d6561751e5f401a1ae2a6df9c674b", ThreatType: "payload",
			Malware: "win.formbook", MalwarePrintable: "Formbook", FirstSeen: ts("2026-02-26 09:12:00"),
			RecordURL: "https://bazaar.abuse.ch/sample/6db12788c37247f2316052e142f42f4b259d6561751e5f401a1ae2a6df9c674b/",
			Labels:    []string{"feed:malwarebazaar"}}},
		{ioc.Observable{Type: ioc.TypeSHA512, Value: strings.Repeat("cf83e1357eefb8bd", 8)}, ioc.Record{Source: "manual", TLP: "red"}},
		{ioc.Observable{Type: ioc.TypeEmail, Value: "ceo-urgent@phish.example"}, ioc.Record{
			Source: "manual", ThreatType: "phishing", Confidence: 90, ConfidenceSet: true, ValidUntil: ts("2026-05-01 00:00:00")}},
		{ioc.Observable{Type: ioc.TypeX509SHA1, Value: "0123456789abcdef0123456789abcdef01234567"}, ioc.Record{
			Source: "sslbl", ThreatType: "botnet_cc", Description: "Listing reason: QakBot C&C", FirstSeen: ts("2024-07-11 08:00:00"),
			MalwarePrintable: "QakBot"}},
	}
}

// TestGolden builds one indicator per observable type, validates it and its
// source identity against the STIX 2.1 schemas and compares the bundle with
// testdata/golden/<type>.json (go test -update rewrites them).
func TestGolden(t *testing.T) {
	t.Parallel()
	opts := &stix.Options{Now: func() time.Time { return goldenNow }}
	seen := map[ioc.Type]bool{}
	for _, tc := range goldenCases() {
		seen[tc.o.Type] = true
		t.Run(string(tc.o.Type), func(t *testing.T) {
			t.Parallel()
			x, err := stix.NewIndicator(tc.o, &tc.r, opts)
			if err != nil {
				t.Fatal(err)
			}
			ind := x.AppendJSON(nil)
			id := stix.NewSourceIdentity(tc.r.Source).AppendJSON(nil)
			stixtest.ValidateAll(t, [][]byte{ind, id})

			var buf bytes.Buffer
			buf.WriteString(`{"type":"bundle","id":"bundle--00000000-0000-4000-8000-000000000000","objects":[`)
			buf.Write(id)
			buf.WriteByte(',')
			buf.Write(ind)
			buf.WriteString("]}")
			compareGolden(t, string(tc.o.Type)+".json", buf.Bytes())
		})
	}
	for _, typ := range ioc.PossibleTypeValues() {
		if !seen[typ] {
			t.Errorf("no golden case for %s", typ)
		}
	}
}

// compareGolden compares the indented JSON obj with testdata/golden/name
// (go test -update rewrites it).
func compareGolden(t *testing.T, name string, obj []byte) {
	t.Helper()
	var got bytes.Buffer
	if err := json.Indent(&got, obj, "", "  "); err != nil {
		t.Fatalf("indent: %v\n%s", err, obj)
	}
	got.WriteByte('\n')
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Errorf("%s differs from the golden file (run go test -update and review the diff):\n%s", path, got.Bytes())
	}
}

// TestValidateEveryShape validates indicators built from sparse and odd
// records, merged and revoked ones.
func TestValidateEveryShape(t *testing.T) {
	t.Parallel()
	opts := &stix.Options{Now: func() time.Time { return goldenNow }, Labels: []string{"x"}, TLP: "amber+strict"}
	var objs [][]byte
	var prev *stix.Indicator
	for _, tc := range goldenCases() {
		for _, r := range []*ioc.Record{nil, {}, &tc.r} {
			x, err := stix.NewIndicator(tc.o, r, opts)
			if err != nil {
				t.Fatal(err)
			}
			objs = append(objs, x.AppendJSON(nil))
			if prev != nil && prev.ID == x.ID {
				m := stix.Merge(prev, x, goldenNow.Add(time.Hour))
				stix.Revoke(m, goldenNow.Add(2*time.Hour))
				objs = append(objs, m.AppendJSON(nil))
			}
			prev = x
		}
	}
	stixtest.ValidateAll(t, objs)
}

// FuzzSchemaValid: whatever URLs and text a record carries, an indicator
// NewIndicator accepts passes the STIX 2.1 schemas.
func FuzzSchemaValid(f *testing.F) {
	f.Add("https://a.example/x", "http://[::1]:80/", "tag", "botnet_cc")
	f.Add("http://a.example/%41", "https://a.example/?q=[1]", "", "")
	f.Fuzz(func(t *testing.T, u1, u2, tag, threat string) {
		o := ioc.Observable{Type: ioc.TypeDomain, Value: "a.example"}
		r := &ioc.Record{Source: tag, ID: tag, RecordURL: u1, Reference: u2, MalpediaURL: u1, Malware: tag,
			Tags: []string{tag}, ThreatType: threat, Description: tag, Reporter: tag}
		x, err := stix.NewIndicator(o, r, &stix.Options{Now: func() time.Time { return goldenNow }})
		if err != nil {
			return
		}
		stixtest.Validate(t, x.AppendJSON(nil))
	})
}
