package state

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestFileStore(t *testing.T) {
	t.Parallel()
	testStore(t, func(t *testing.T) Store {
		s, err := OpenFile(filepath.Join(t.TempDir(), "state.jsonl"), nil)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestFileStorePersistence(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "state.jsonl")
	s := openManual(t, path)
	a := sample("domain:a.example")
	if err := s.Put(ctx, []*Indicator{a}); err != nil {
		t.Fatal(err)
	}
	st := FeedStatus{Feed: "urlhaus", Enabled: true, Counts: map[string]int{"new": 1}}
	c := Cursor{ETag: `"e"`, LastFetch: t0}
	up := UploaderStats{Batches: 2, LastSuccess: t0}
	if err := errors.Join(s.PutFeedStatus(ctx, st), s.PutCursor(ctx, "urlhaus", c), s.AddUploaderStats(ctx, up)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("file written before Flush (FlushInterval < 0): %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close = %v, want ErrClosed", err)
	}
	if _, err := s.Get(ctx, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Get after Close = %v, want ErrClosed", err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d files, want only the state file", len(entries))
	}

	s2, err := OpenFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	got, err := s2.Get(ctx, []string{a.Key})
	if err != nil {
		t.Fatal(err)
	}
	sameRecord(t, a, got[a.Key])
	if got[a.Key].ETag == "" || got[a.Key].ETag == a.ETag {
		t.Errorf("reopened ETag = %q (old %q), want a fresh one", got[a.Key].ETag, a.ETag)
	}
	sts, _ := s2.FeedStatuses(ctx)
	gc, _ := s2.Cursor(ctx, "urlhaus")
	gu, _ := s2.UploaderStats(ctx)
	if len(sts) != 1 || sts[0].Counts["new"] != 1 || gc != c || gu != up {
		t.Errorf("reopened status/cursor/uploader = %+v %+v %+v", sts, gc, gu)
	}
	if s2.Len() != 1 {
		t.Errorf("Len = %d, want 1", s2.Len())
	}
}

func TestFileStoreBackgroundFlush(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.jsonl")
	s, err := OpenFile(path, &FileOptions{FlushInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Writes race with the background flushes (for the race detector).
	for _, k := range keysIn("bg", "", 200) {
		if err := s.Put(t.Context(), []*Indicator{sample(k)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Put(t.Context(), []*Indicator{sample("domain:a.example")}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if err == nil && bytes.Contains(b, []byte("domain:a.example")) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("state file not flushed in the background: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestOpenFileErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cases := []struct {
		name, content string
	}{
		{"not JSON", "{\n"},
		{"no key", `{"indicator":{"value":"x"}}` + "\n"},
		{"bad time", `{"indicator":{"key":"domain:x","created":"yesterday"}}` + "\n"},
	}
	for _, tc := range cases {
		p := filepath.Join(dir, tc.name)
		if err := os.WriteFile(p, []byte(tc.content), 0o600); err != nil {
			t.Fatal(err)
		}
		if s, err := OpenFile(p, nil); err == nil {
			s.Close()
			t.Errorf("%s: OpenFile succeeded", tc.name)
		}
	}
	if _, err := OpenFile(filepath.Join(dir, "missing", "state.jsonl"), nil); err != nil {
		t.Errorf("OpenFile(missing file) = %v, want an empty store", err)
	}
}

var update = flag.Bool("update", false, "update golden files")

// TestFileStoreGolden pins the file format: a store with known content
// must flush to testdata/state.jsonl byte for byte, and loading that file
// and flushing it again must reproduce it.
func TestFileStoreGolden(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "state.jsonl")
	s := openManual(t, path)
	b := sample("domain:b.example")
	b.Status, b.Labels, b.Object = StatusRevoked, nil, nil
	u := sample("url:http://x.example/<a&b>")
	u.Type, u.Value = "url", "http://x.example/<a&b>"
	err := errors.Join(
		s.Put(ctx, []*Indicator{sample("domain:a.example"), b, u}),
		s.PutFeedStatus(ctx, FeedStatus{Feed: "urlhaus", Enabled: true, Schedule: "0 */5 * * * *", LastStart: t0,
			LastEnd: t0.Add(time.Minute), Outcome: "succeeded", Counts: map[string]int{"fetched": 3, "new": 2},
			Rejected: map[string]int{"reserved": 1}, LastSuccess: t0.Add(time.Minute)}),
		s.PutFeedStatus(ctx, FeedStatus{Feed: "threatfox", Outcome: "failed", LastError: "fetch: status 503"}),
		s.PutCursor(ctx, "urlhaus", Cursor{ETag: `"abc"`, LastModified: "Sat, 01 Mar 2025 12:00:00 GMT", LastFetch: t0}),
		s.AddUploaderStats(ctx, UploaderStats{Batches: 1, Objects: 3, LastSuccess: t0}),
		s.Close(),
	)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile("testdata/state.jsonl", got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile("testdata/state.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("flushed file differs from testdata/state.jsonl (go test -update to accept):\n%s", got)
	}
	l := &FileStore{inds: map[string]*Indicator{}, feeds: map[string]FeedStatus{}, cursors: map[string]Cursor{}}
	if err := l.load(bytes.NewReader(want)); err != nil {
		t.Fatal(err)
	}
	again, err := l.snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, want) {
		t.Errorf("load + snapshot of testdata/state.jsonl does not round trip:\n%s", again)
	}
}

func FuzzLoadFile(f *testing.F) {
	if b, err := os.ReadFile("testdata/state.jsonl"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"indicator":{"key":"k","object":{"a":1}}}`))
	f.Add([]byte(`{"uploader":{"batches":1}}` + "\n" + `{"cursor":{"feed":"x","etag":"y"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := &FileStore{inds: map[string]*Indicator{}, feeds: map[string]FeedStatus{}, cursors: map[string]Cursor{}}
		if err := s.load(bytes.NewReader(data)); err != nil {
			return
		}
		snap, err := s.snapshot()
		if err != nil {
			return // e.g. a time beyond year 9999 loads but does not encode
		}
		s2 := &FileStore{inds: map[string]*Indicator{}, feeds: map[string]FeedStatus{}, cursors: map[string]Cursor{}}
		if err := s2.load(bytes.NewReader(snap)); err != nil {
			t.Fatalf("reloading a snapshot: %v", err)
		}
		if len(s2.inds) != len(s.inds) || len(s2.feeds) != len(s.feeds) || len(s2.cursors) != len(s.cursors) {
			t.Fatalf("snapshot round trip lost records")
		}
	})
}

// openManual opens the file store at path with the background flush off
// (only Flush and Close persist), failing the test on error.
func openManual(t *testing.T, path string) *FileStore {
	t.Helper()
	s, err := OpenFile(path, &FileOptions{FlushInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	return s
}
