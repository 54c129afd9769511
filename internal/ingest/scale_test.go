package ingest_test

import (
	"context"
	"flag"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/feeds2sentinel/feeds2sentinel/internal/config"
	"github.com/feeds2sentinel/feeds2sentinel/internal/feed"
	"github.com/feeds2sentinel/feeds2sentinel/internal/feed/feedtest"
	"github.com/feeds2sentinel/feeds2sentinel/internal/fetch"
	"github.com/feeds2sentinel/feeds2sentinel/internal/ingest"
	"github.com/feeds2sentinel/feeds2sentinel/internal/queue"
	"github.com/feeds2sentinel/feeds2sentinel/internal/sentinel"
	"github.com/feeds2sentinel/feeds2sentinel/internal/state"
)

var (
	feedRunSizes = flag.String("ingest.feedrun", "100000", "comma-separated record counts of BenchmarkFeedRun")
	feedRunChunk = flag.Int("ingest.chunk", 0, "indicators per chunk in the scale runs (0 = DefaultChunkSize)")
)

// scaleEnv is a local pipeline as `handler sync` builds it (fetch over
// loopback → bbolt state → spool, drained into a bundle file), with a
// generated ThreatFox payload of n records served from disk.
type scaleEnv struct {
	dir   string
	srv   *httptest.Server
	spec  ingest.FeedSpec
	store *state.BoltStore
	spool *queue.Spool
	p     *ingest.Pipeline
}

// scaleNow is close to the generated timestamps, so no record is expired.
var scaleNow = time.Date(2026, 7, 29, 0, 0, 0, 0, time.UTC)

func newScaleEnv(tb testing.TB, n int) *scaleEnv {
	tb.Helper()
	e := &scaleEnv{dir: tb.TempDir()}
	payload := filepath.Join(e.dir, "threatfox.json")
	f, err := os.Create(payload)
	if err != nil {
		tb.Fatal(err)
	}
	if err := feedtest.WriteThreatFoxJSON(f, n); err != nil {
		tb.Fatal(err)
	}
	f.Close()
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, payload)
	}))
	tb.Cleanup(e.srv.Close)
	src, _ := feed.Lookup(feed.Builtin(), "threatfox")
	src.MinInterval, src.Body = 0, nil
	cfg, _ := config.Load(map[string]string{}, config.ModeLocal)
	fc, _ := cfg.Feed("threatfox")
	fc.Enabled, fc.URL, fc.MaxBytes = true, e.srv.URL+"/threatfox.json", 4<<30
	e.spec = ingest.FeedSpec{Source: src, Config: fc}
	e.open(tb)
	return e
}

// open (re)opens the store and spool and builds the pipeline.
func (e *scaleEnv) open(tb testing.TB) {
	tb.Helper()
	var err error
	if e.store, err = state.OpenBolt(filepath.Join(e.dir, "state.db"), nil); err != nil {
		tb.Fatal(err)
	}
	if e.spool, err = queue.OpenSpool(filepath.Join(e.dir, "spool"), &queue.SpoolOptions{Logger: slog.New(slog.DiscardHandler)}); err != nil {
		tb.Fatal(err)
	}
	fc, err := fetch.New(&fetch.Options{MaxBytes: 4 << 30})
	if err != nil {
		tb.Fatal(err)
	}
	e.p = &ingest.Pipeline{Fetcher: fc, Publisher: e.spool, Store: e.store, AuthKey: "bench",
		TempDir: e.dir, ChunkSize: *feedRunChunk, Now: func() time.Time { return scaleNow }, Logger: slog.New(slog.DiscardHandler)}
}

func (e *scaleEnv) close() { e.store.Close(); e.spool.Close() }

// run runs the feed once and returns its report.
func (e *scaleEnv) run(tb testing.TB) *ingest.Report {
	tb.Helper()
	rep, err := e.p.RunFeed(context.Background(), e.spec)
	if err != nil {
		tb.Fatal(err)
	}
	return rep
}

// drain uploads the spool into a bundle file.
func (e *scaleEnv) drain(tb testing.TB) ingest.DrainResult {
	tb.Helper()
	b, err := sentinel.OpenBundleSink(filepath.Join(e.dir, "bundle.json"))
	if err != nil {
		tb.Fatal(err)
	}
	res, err := ingest.Drain(context.Background(), e.spool, &ingest.Uploads{Uploader: b, Parker: e.spool, Store: e.store, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	if err := b.Close(); err != nil {
		tb.Fatal(err)
	}
	return res
}

// peakMeter samples the live heap (runtime/metrics) and the resident set
// size every few milliseconds and keeps the peaks.
type peakMeter struct {
	stop       chan struct{}
	done       sync.WaitGroup
	heap, rss  uint64
	base       uint64 // live heap when the meter started
	heapSample []metrics.Sample
}

func startPeakMeter() *peakMeter {
	runtime.GC()
	m := &peakMeter{stop: make(chan struct{}), heapSample: []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}}
	// What the process holds already (other tests' leftovers) is not the
	// run's: peaks are measured above it.
	metrics.Read(m.heapSample)
	m.base = m.heapSample[0].Value.Uint64()
	m.done.Go(func() {
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(m.heapSample)
			m.heap = max(m.heap, m.heapSample[0].Value.Uint64())
			m.rss = max(m.rss, rss())
			select {
			case <-m.stop:
				return
			case <-t.C:
			}
		}
	})
	return m
}

// end stops the meter and returns the peak heap above the starting point
// and the peak anonymous RSS.
func (m *peakMeter) end() (heap, rss uint64) {
	close(m.stop)
	m.done.Wait()
	if m.heap < m.base {
		return 0, m.rss
	}
	return m.heap - m.base, m.rss
}

// rss is the process's anonymous resident memory now (RssAnon, 0 where
// /proc is missing): the memory that cannot be reclaimed. The state
// database's pages, mapped read-only from its file (RssFile), are left
// out: the kernel drops them under memory pressure.
func rss() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "RssAnon:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// TestFeedRunMemoryBounded runs a generated 200k-record ThreatFox dump
// (50k with -short) through the local pipeline twice (a first run, then an
// unchanged re-run) and checks that the heap stays bounded by the chunk,
// not the feed: at most 128 MiB above what the process held before, at any
// moment, garbage not yet collected included (before chunking, 200k
// records took about 3 GB). The figure depends little on the size: 50k and
// 200k records peak at about 50 and 60 MiB.
func TestFeedRunMemoryBounded(t *testing.T) {
	n := 200_000
	if testing.Short() {
		n = 50_000
	}
	e := newScaleEnv(t, n)
	defer e.close()
	const bound = 128 << 20
	m := startPeakMeter()
	first := e.run(t)
	res := e.drain(t)
	again := e.run(t)
	heap, rss := m.end()
	t.Logf("%d records: first run %+v; drained %d objects; re-run %+v; peak heap %.1f MiB, peak anonymous RSS %.1f MiB",
		n, first.Counts, res.Uploaded, again.Counts, float64(heap)/(1<<20), float64(rss)/(1<<20))
	if first.Counts.New+first.Counts.Duplicate+first.Counts.RejectedTotal() != n || first.Counts.Enqueued != first.Counts.New {
		t.Errorf("first run counts %+v do not add up to %d records", first.Counts, n)
	}
	// Unchanged, but those close to their valid_until are refreshed.
	if again.Counts.Unchanged+again.Counts.Refreshed != first.Counts.New || again.Counts.Enqueued != again.Counts.Refreshed {
		t.Errorf("unchanged re-run %+v, want %d unchanged or refreshed and only the refreshed enqueued", again.Counts, first.Counts.New)
	}
	if heap > bound {
		t.Errorf("peak live heap %d MiB, want at most %d MiB", heap>>20, bound>>20)
	}
}

// BenchmarkFeedRun measures a whole local feed run (fetch over loopback →
// parse → normalize → STIX → bbolt state diff → spool) on generated
// ThreatFox dumps of -ingest.feedrun records: "first" on an empty store,
// "rerun" unchanged on a full one (the common case), with the peak live
// heap and RSS over the run. Run one size per process for clean RSS
// figures, e.g. -ingest.feedrun=2000000 -benchtime=1x.
func BenchmarkFeedRun(b *testing.B) {
	for _, s := range strings.Split(*feedRunSizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			b.Fatal(err)
		}
		b.Run("first/n="+s, func(b *testing.B) {
			var heap, rssPeak uint64
			var elapsed, cpu time.Duration
			for b.Loop() {
				b.StopTimer()
				e := newScaleEnv(b, n)
				m := startPeakMeter()
				b.StartTimer()
				t0, c0 := time.Now(), cpuTime()
				e.run(b)
				elapsed += time.Since(t0)
				cpu += cpuTime() - c0
				b.StopTimer()
				h, r := m.end()
				heap, rssPeak = max(heap, h), max(rssPeak, r)
				e.close()
				b.StartTimer()
			}
			report(b, n, elapsed, cpu, heap, rssPeak)
		})
		b.Run("rerun/n="+s, func(b *testing.B) {
			e := newScaleEnv(b, n)
			defer e.close()
			e.run(b)
			var heap, rssPeak uint64
			var elapsed, cpu time.Duration
			for b.Loop() {
				m := startPeakMeter()
				t0, c0 := time.Now(), cpuTime()
				e.run(b)
				elapsed += time.Since(t0)
				cpu += cpuTime() - c0
				h, r := m.end()
				heap, rssPeak = max(heap, h), max(rssPeak, r)
			}
			report(b, n, elapsed, cpu, heap, rssPeak)
		})
	}
}

func report(b *testing.B, n int, elapsed, cpu time.Duration, heap, rss uint64) {
	b.ReportMetric(float64(n)*float64(b.N)/elapsed.Seconds(), "records/s")
	// CPU time (all threads, GC included) is steadier than wall time on a
	// shared machine; the run is mostly one goroutine.
	b.ReportMetric(float64(n)*float64(b.N)/cpu.Seconds(), "records/cpu-s")
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(n*b.N), "ns/record")
	b.ReportMetric(float64(heap)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(rss)/(1<<20), "peak-anon-rss-MiB")
}
