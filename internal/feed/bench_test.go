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
// allocs/record, bytes allocated per record and the peak heap above the
// payload itself (sampled every 4096 records: it stays flat when the parser
// streams).
func benchParse(b *testing.B, parse Parser, payload []byte) {
	b.Helper()
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	ctx := context.Background()
	emitted := 0
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var peak uint64
	emit := func(*ioc.Record) error {
		if emitted++; emitted%4096 == 0 {
			metrics.Read(sample)
			peak = max(peak, sample[0].Value.Uint64())
		}
		return nil
	}
	var before, after runtime.MemStats
	runtime.GC()
	metrics.Read(sample)
	base := sample[0].Value.Uint64()
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
	if peak > base {
		b.ReportMetric(float64(peak-base)/(1<<20), "peak-heap-MiB")
	}
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
