package feed

import (
	"bytes"
	"context"
	"runtime"
	"runtime/metrics"
	"testing"

	"github.com/feeds2sentinel/feeds2sentinel/internal/feed/feedtest"
	"github.com/feeds2sentinel/feeds2sentinel/internal/ioc"
)

const benchRecords = 100_000

// benchParse measures parse over payload, reporting records/s,
// allocs/record and bytes allocated per record.
func benchParse(b *testing.B, parse Parser, payload []byte) {
	b.Helper()
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	ctx := context.Background()
	emitted := 0
	emit := func(*ioc.Record) error { emitted++; return nil }
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for b.Loop() {
		if _, err := parse(ctx, bytes.NewReader(payload), emit); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	if emitted == 0 {
		b.Fatal("no records")
	}
	b.ReportMetric(float64(emitted)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(emitted), "allocs/record")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(emitted), "B/record")
}

func BenchmarkThreatFoxJSON(b *testing.B) {
	benchParse(b, ParseThreatFoxJSON, feedtest.ThreatFoxJSON(benchRecords))
}

func BenchmarkThreatFoxCSV(b *testing.B) {
	benchParse(b, ParseThreatFoxCSV, feedtest.ThreatFoxCSV(benchRecords))
}

func BenchmarkURLhausCSV(b *testing.B) {
	benchParse(b, ParseURLhausCSV, feedtest.URLhausCSV(benchRecords))
}

func BenchmarkURLhausAPI(b *testing.B) {
	benchParse(b, ParseURLhausAPI, feedtest.URLhausAPI(benchRecords))
}

func BenchmarkFeodoTracker(b *testing.B) {
	benchParse(b, ParseFeodoTracker, feedtest.FeodoJSON(benchRecords))
}

func BenchmarkMalwareBazaarJSON(b *testing.B) {
	benchParse(b, ParseMalwareBazaar, feedtest.MalwareBazaarJSON(benchRecords/3))
}

func BenchmarkMalwareBazaarCSV(b *testing.B) {
	benchParse(b, ParseMalwareBazaar, feedtest.MalwareBazaarCSV(benchRecords/3))
}

func BenchmarkSSLBL(b *testing.B) {
	benchParse(b, ParseSSLBL, feedtest.SSLBLCSV(benchRecords))
}

func BenchmarkOpenPhish(b *testing.B) {
	benchParse(b, ParseOpenPhish, feedtest.OpenPhish(benchRecords))
}

func BenchmarkSpamhausDROP(b *testing.B) {
	benchParse(b, ParseSpamhausDROP, feedtest.SpamhausDROP(benchRecords))
}

func BenchmarkUserList(b *testing.B) {
	benchParse(b, ListParser("mylist", ""), feedtest.List(benchRecords))
}

// TestGeneratedPayloads checks every generator's output parses completely.
func TestGeneratedPayloads(t *testing.T) {
	t.Parallel()
	const n = 500
	cases := []struct {
		name    string
		parse   Parser
		payload []byte
		want    int
	}{
		{"threatfox", ParseThreatFoxJSON, feedtest.ThreatFoxJSON(n), n},
		{"threatfox-csv", ParseThreatFoxCSV, feedtest.ThreatFoxCSV(n), n},
		{"urlhaus", ParseURLhausCSV, feedtest.URLhausCSV(n), n},
		{"urlhaus-api", ParseURLhausAPI, feedtest.URLhausAPI(n), n},
		{"feodotracker", ParseFeodoTracker, feedtest.FeodoJSON(n), n},
		{"malwarebazaar", ParseMalwareBazaar, feedtest.MalwareBazaarJSON(n), 3 * n},
		{"malwarebazaar-csv", ParseMalwareBazaar, feedtest.MalwareBazaarCSV(n), 3 * n},
		{"sslbl", ParseSSLBL, feedtest.SSLBLCSV(n), n},
		{"openphish", ParseOpenPhish, feedtest.OpenPhish(n), n},
		{"spamhaus-drop", ParseSpamhausDROP, feedtest.SpamhausDROP(n), n},
		{"list", ListParser("mylist", ""), feedtest.List(n), n},
	}
	for _, tc := range cases {
		recs, st, err := collect(tc.parse, tc.payload)
		if err != nil || len(recs) != tc.want || st.Skipped != 0 && tc.name != "spamhaus-drop" || len(st.FieldErrors) != 0 {
			t.Errorf("%s: %d records, stats %+v, err %v; want %d clean records", tc.name, len(recs), st, err, tc.want)
		}
	}
}

// BenchmarkPeakLiveHeap reports, per parser, the peak live heap above the
// payload itself while parsing a generated 100k-record payload: sampled
// after a forced GC every 10,000 records. It stays flat (well under 1 MiB)
// because every parser streams; the payload is already in memory here.
func BenchmarkPeakLiveHeap(b *testing.B) {
	for _, bc := range []struct {
		name  string
		parse Parser
		gen   func(int) []byte
	}{
		{"threatfox-json", ParseThreatFoxJSON, feedtest.ThreatFoxJSON},
		{"threatfox-csv", ParseThreatFoxCSV, feedtest.ThreatFoxCSV},
		{"urlhaus-csv", ParseURLhausCSV, feedtest.URLhausCSV},
		{"urlhaus-api", ParseURLhausAPI, feedtest.URLhausAPI},
		{"feodotracker", ParseFeodoTracker, feedtest.FeodoJSON},
		{"malwarebazaar-json", ParseMalwareBazaar, feedtest.MalwareBazaarJSON},
		{"malwarebazaar-csv", ParseMalwareBazaar, feedtest.MalwareBazaarCSV},
		{"sslbl", ParseSSLBL, feedtest.SSLBLCSV},
		{"openphish", ParseOpenPhish, feedtest.OpenPhish},
		{"spamhaus-drop", ParseSpamhausDROP, feedtest.SpamhausDROP},
	} {
		b.Run(bc.name, func(b *testing.B) {
			payload := bc.gen(benchRecords)
			sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
			live := func() uint64 {
				runtime.GC()
				metrics.Read(sample)
				return sample[0].Value.Uint64()
			}
			var peak uint64
			n := 0
			emit := func(*ioc.Record) error {
				if n++; n%10_000 == 0 {
					peak = max(peak, live())
				}
				return nil
			}
			base := live()
			for b.Loop() {
				if _, err := bc.parse(context.Background(), bytes.NewReader(payload), emit); err != nil {
					b.Fatal(err)
				}
			}
			if peak > base {
				b.ReportMetric(float64(peak-base)/(1<<20), "peak-live-heap-MiB")
			} else {
				b.ReportMetric(0, "peak-live-heap-MiB")
			}
		})
	}
}
