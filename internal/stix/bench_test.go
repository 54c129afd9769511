package stix

import (
	"testing"
	"time"

	"github.com/feeds2sentinel/feeds2sentinel/internal/ioc"
)

// benchRecord is a typical ThreatFox ip:port record.
func benchRecord() (ioc.Observable, *ioc.Record) {
	first := time.Date(2026, 4, 24, 7, 29, 26, 0, time.UTC)
	return ioc.Observable{Type: ioc.TypeIPv4, Value: "141.98.10.115", Port: 1430}, &ioc.Record{
		Source: "threatfox", ID: "1797050", ThreatType: "botnet_cc", Malware: "elf.xorddos", MalwarePrintable: "XOR DDoS",
		MalwareAliases: []string{"XORDDoS"}, Confidence: 75, ConfidenceSet: true, FirstSeen: first, LastSeen: first,
		Reference: "https://blog.example/xorddos", Reporter: "abuse_ch", Tags: []string{"xorddos", "elf"},
		RecordURL: "https://threatfox.abuse.ch/ioc/1797050/", MalpediaURL: "https://malpedia.caad.fkie.fraunhofer.de/details/elf.xorddos",
	}
}

// maxAllocs is the allocation budget of NewIndicator + AppendJSON per record.
const maxAllocs = 12

func TestAllocs(t *testing.T) {
	o, r := benchRecord()
	opts := &Options{Now: func() time.Time { return time.Date(2026, 4, 25, 0, 0, 0, 0, time.UTC) }, Labels: []string{"feed"}}
	buf := make([]byte, 0, 4096)
	n := testing.AllocsPerRun(100, func() {
		x, err := NewIndicator(o, r, opts)
		if err != nil {
			t.Fatal(err)
		}
		buf = x.AppendJSON(buf[:0])
	})
	t.Logf("allocs per indicator: %v", n)
	if n > maxAllocs {
		t.Errorf("NewIndicator+AppendJSON: %v allocs, budget %d", n, maxAllocs)
	}
}

func BenchmarkNewIndicatorAppendJSON(b *testing.B) {
	o, r := benchRecord()
	opts := &Options{Now: func() time.Time { return time.Date(2026, 4, 25, 0, 0, 0, 0, time.UTC) }, Labels: []string{"feed"}}
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		x, err := NewIndicator(o, r, opts)
		if err != nil {
			b.Fatal(err)
		}
		buf = x.AppendJSON(buf[:0])
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkAppendJSON(b *testing.B) {
	o, r := benchRecord()
	x, err := NewIndicator(o, r, nil)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		buf = x.AppendJSON(buf[:0])
	}
}

func BenchmarkParsePattern(b *testing.B) {
	p := Pattern(ioc.Observable{Type: ioc.TypeURL, Value: "http://198.51.100.20/bins/x86?name='a'"})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParsePattern(p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMerge merges a ThreatFox record's indicator with a user list's,
// as a run does with a duplicate, then the result with the stored version
// of the list's, as the next run does.
func BenchmarkMerge(b *testing.B) {
	now := time.Date(2026, 4, 25, 8, 30, 0, 0, time.UTC)
	o := ioc.Observable{Type: ioc.TypeIPv4, Value: "198.51.100.7", Port: 443}
	opts := &Options{Now: func() time.Time { return now }}
	tf, err := NewIndicator(o, &ioc.Record{Source: "threatfox", ID: "1797050", ThreatType: "botnet_cc",
		Malware: "win.cobalt_strike", MalwarePrintable: "Cobalt Strike", Reporter: "abuse_ch",
		Tags: []string{"CobaltStrike", "c2", "beacon"}, RecordURL: "https://threatfox.abuse.ch/ioc/1797050/"}, opts)
	if err != nil {
		b.Fatal(err)
	}
	list, err := NewIndicator(o, &ioc.Record{Source: "soc-list", Labels: []string{"SOC"}}, opts)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		m := Merge(tf, list, now)
		Merge(m, list, now.Add(time.Hour))
	}
}
