package ingest_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/feeds2sentinel/feeds2sentinel/internal/config"
	"github.com/feeds2sentinel/feeds2sentinel/internal/feed"
	"github.com/feeds2sentinel/feeds2sentinel/internal/fetch"
	"github.com/feeds2sentinel/feeds2sentinel/internal/ingest"
	"github.com/feeds2sentinel/feeds2sentinel/internal/queue"
	"github.com/feeds2sentinel/feeds2sentinel/internal/sentinel"
	"github.com/feeds2sentinel/feeds2sentinel/internal/sentinel/sentineltest"
	"github.com/feeds2sentinel/feeds2sentinel/internal/state"
	"github.com/feeds2sentinel/feeds2sentinel/internal/stix/stixtest"
)

const workspace = "00000000-0000-4000-8000-000000000001"

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// feeds is a local feed server whose payloads tests change between runs.
type feeds struct {
	mu       sync.Mutex
	payloads map[string][]byte
	srv      *httptest.Server
}

func newFeeds(t *testing.T) *feeds {
	f := &feeds{payloads: map[string][]byte{}}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		b, ok := f.payloads[r.URL.Path]
		f.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *feeds) set(path string, b []byte) {
	f.mu.Lock()
	f.payloads[path] = b
	f.mu.Unlock()
}

// harness wires a whole local pipeline against a fake Sentinel.
type harness struct {
	t        *testing.T
	clock    *clock
	feeds    *feeds
	sentinel *sentineltest.Server
	spool    *queue.Spool
	store    *state.BoltStore
	p        *ingest.Pipeline
	up       *ingest.Uploads
	dir      string
	hopts    harnessOptions
}

// harnessOptions tunes the client side of a harness.
type harnessOptions struct {
	tryTimeout time.Duration
	publisher  func(queue.Publisher) queue.Publisher // wraps the spool
}

func newHarness(t *testing.T, sopts sentineltest.ServerOptions) *harness {
	return newHarnessOpts(t, sopts, harnessOptions{})
}

func newHarnessOpts(t *testing.T, sopts sentineltest.ServerOptions, hopts harnessOptions) *harness {
	t.Helper()
	h := &harness{t: t, clock: &clock{t: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}, feeds: newFeeds(t), dir: t.TempDir()}
	if sopts.Clock == nil {
		sopts.Clock = h.clock.Now
	}
	if sopts.RequestsPerMinute == 0 {
		sopts.RequestsPerMinute = -1
	}
	h.sentinel = sentineltest.NewServer(sopts)
	t.Cleanup(h.sentinel.Close)
	h.hopts = hopts
	h.open()
	return h
}

// open (re)opens the process-local parts, as a restarted process would.
func (h *harness) open() {
	t := h.t
	var err error
	if h.spool != nil {
		h.spool.Close() // the old process is gone: its lock with it
	}
	h.spool, err = queue.OpenSpool(filepath.Join(h.dir, "spool"), &queue.SpoolOptions{Now: h.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	h.store, err = state.OpenBolt(filepath.Join(h.dir, "state.db"), &state.BoltOptions{NoSync: true, LockTimeout: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.store.Close() })
	fc, err := fetch.New(&fetch.Options{MaxRetries: 1, RetryDelay: time.Millisecond, MaxRetryDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	vc := sentineltest.NewVirtualClock(h.clock.Now())
	client, err := sentinel.New(sentinel.Options{
		Endpoint: h.sentinel.URL, WorkspaceID: workspace, SourceSystem: "feeds2sentinel-test",
		MaxRetries: -1, MaxThrottleWait: -1, TryTimeout: h.hopts.tryTimeout,
		// The client's limiter runs on its own virtual clock: it never
		// really waits and never moves the simulation's clock.
		Now: vc.Now, Sleep: vc.Sleep,
	})
	if err != nil {
		t.Fatal(err)
	}
	discard := slog.New(slog.DiscardHandler)
	var pub queue.Publisher = h.spool
	if h.hopts.publisher != nil {
		pub = h.hopts.publisher(h.spool)
	}
	h.p = &ingest.Pipeline{Fetcher: fc, Publisher: pub, Store: h.store, AuthKey: "test-key", Now: h.clock.Now, Logger: discard,
		// Small chunks, so every harness test crosses chunk boundaries.
		ChunkSize: 7}
	h.up = &ingest.Uploads{Uploader: client, Parker: h.spool, Store: h.store, Now: h.clock.Now, Logger: discard}
}

// spec returns a built-in feed pointed at the local feed server.
func (h *harness) spec(name, path string) ingest.FeedSpec {
	h.t.Helper()
	src, ok := feed.Lookup(feed.Builtin(), name)
	if !ok {
		h.t.Fatalf("no feed %s", name)
	}
	src.MinInterval = 0
	cfg, _ := config.Load(map[string]string{}, config.ModeLocal)
	fc, ok := cfg.Feed(name)
	if !ok {
		fc = config.Feed{Name: name, Enabled: true, TLP: "clear"}
	}
	fc.Enabled = true
	fc.URL = h.feeds.srv.URL + path
	return ingest.FeedSpec{Source: src, Config: fc}
}

// userList returns a user-defined list pointed at the local feed server.
func (h *harness) userList(name, path string, complete bool) ingest.FeedSpec {
	h.t.Helper()
	u := h.feeds.srv.URL + path
	src, err := feed.NewUserList(name, u, feed.UserListOptions{Complete: complete})
	if err != nil {
		h.t.Fatal(err)
	}
	return ingest.FeedSpec{Source: src, Config: config.Feed{Name: name, User: true, Enabled: true, Complete: complete, URL: u, TLP: "clear"}}
}

func (h *harness) run(spec ingest.FeedSpec) *ingest.Report {
	h.t.Helper()
	rep, err := h.p.RunFeed(context.Background(), spec)
	if err != nil {
		h.t.Fatalf("RunFeed(%s): %v", spec.Config.Name, err)
	}
	return rep
}

// drain uploads everything on the spool, retrying redeliveries.
func (h *harness) drain() ingest.DrainResult {
	h.t.Helper()
	var total ingest.DrainResult
	for i := 0; i < 50; i++ {
		r, _ := ingest.Drain(context.Background(), h.spool, h.up)
		total.Messages += r.Messages
		total.Uploaded += r.Uploaded
		total.Rejected += r.Rejected
		total.Parked += r.Parked
		total.DeadLettered += r.DeadLettered
		total.Redeliveries += r.Redeliveries
		if ready, inflight, _, _ := h.spool.Counts(); ready+inflight == 0 {
			return total
		}
	}
	h.t.Fatal("spool did not drain")
	return total
}

// active returns the fake's active (uploaded, not revoked) indicator ids.
func (h *harness) active() map[string]bool {
	m := map[string]bool{}
	for _, name := range h.sentinel.Active() {
		if _, id, ok := strings.Cut(name, "---"); ok && strings.HasPrefix(id, "indicator--") {
			m[id] = true
		}
	}
	return m
}

// validateAll checks every object the fake holds against the OASIS schemas.
func (h *harness) validateAll() {
	h.t.Helper()
	var objs [][]byte
	for _, o := range h.sentinel.Objects() {
		objs = append(objs, o)
	}
	stixtest.ValidateAll(h.t, objs)
}
