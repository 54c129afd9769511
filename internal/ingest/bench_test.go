package ingest_test

import (
	"bytes"
	"context"
	"io"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/feeds2sentinel/feeds2sentinel/internal/config"
	"github.com/feeds2sentinel/feeds2sentinel/internal/feed"
	"github.com/feeds2sentinel/feeds2sentinel/internal/feed/feedtest"
	"github.com/feeds2sentinel/feeds2sentinel/internal/ingest"
)

// BenchmarkConvert measures the whole per-record path from raw feed bytes
// to STIX JSON (parse → normalize → policy → STIX → encode) on generated
// 100k-record payloads, as `handler convert` runs it.
func BenchmarkConvert(b *testing.B) {
	const n = 100_000
	for _, bc := range []struct {
		name, feed string
		gen        func(int) []byte
	}{
		{"threatfox-json", "threatfox", feedtest.ThreatFoxJSON},
		{"threatfox-csv", "threatfox-csv", feedtest.ThreatFoxCSV},
		{"urlhaus-csv", "urlhaus", feedtest.URLhausCSV},
		{"feodotracker", "feodotracker", feedtest.FeodoJSON},
		{"malwarebazaar", "malwarebazaar", feedtest.MalwareBazaarJSON},
		{"sslbl", "sslbl", feedtest.SSLBLCSV},
		{"openphish", "openphish", feedtest.OpenPhish},
		{"spamhaus-drop", "spamhaus-drop", feedtest.SpamhausDROP},
	} {
		b.Run(bc.name, func(b *testing.B) {
			payload := bc.gen(n)
			src, _ := feed.Lookup(feed.Builtin(), bc.feed)
			cfg, _ := config.Load(map[string]string{}, config.ModeLocal)
			fc, _ := cfg.Feed(bc.feed)
			spec := ingest.FeedSpec{Source: src, Config: fc}
			// A fixed clock close to the generated timestamps keeps every
			// record valid (none rejected as expired).
			now := func() time.Time { return time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC) }
			b.ReportAllocs()
			b.SetBytes(int64(len(payload)))
			var records int
			var ms0, ms1 runtime.MemStats
			runtime.GC() // start clean: no garbage of the generator or earlier runs
			runtime.ReadMemStats(&ms0)
			cpu0 := cpuTime()
			for b.Loop() {
				st, err := ingest.Convert(context.Background(), spec, bytes.NewReader(payload), io.Discard, &ingest.ConvertOptions{Now: now})
				if err != nil {
					b.Fatal(err)
				}
				records += st.Records
			}
			cpu := cpuTime() - cpu0
			runtime.ReadMemStats(&ms1)
			b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
			// CPU time (user+system, all threads, GC included) is steadier
			// than wall time on a shared virtual machine.
			b.ReportMetric(float64(records)/cpu.Seconds(), "records/cpu-s")
			b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(records), "allocs/record")
		})
	}
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
