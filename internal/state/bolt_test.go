package state

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "update golden files")

func openBolt(t testing.TB, path string) *BoltStore {
	t.Helper()
	s, err := OpenBolt(path, &BoltOptions{NoSync: true, LockTimeout: -1})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestBoltStore(t *testing.T) {
	t.Parallel()
	testStore(t, func(t *testing.T) Store {
		return openBolt(t, filepath.Join(t.TempDir(), "state.db"))
	})
}

// TestBoltStorePersistence: what a Put returned is there after reopening,
// ETags included, and a closed store refuses every call.
func TestBoltStorePersistence(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "state.db")
	s := openBolt(t, path)
	a := sample("domain:a.example")
	st := FeedStatus{Feed: "urlhaus", Enabled: true, Counts: map[string]int{"new": 1}}
	c := Cursor{ETag: `"e"`, LastFetch: t0, RunStart: t0.Add(-time.Minute)}
	up := UploaderStats{Batches: 2, LastSuccess: t0}
	if err := errors.Join(s.Put(ctx, []*Indicator{a}), s.PutFeedStatus(ctx, st), s.PutCursor(ctx, "urlhaus", c), s.AddUploaderStats(ctx, up)); err != nil {
		t.Fatal(err)
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
	if err := s.Put(ctx, []*Indicator{sample("domain:b.example")}); !errors.Is(err, ErrClosed) {
		t.Errorf("Put after Close = %v, want ErrClosed", err)
	}

	s2 := openBolt(t, path)
	defer s2.Close()
	got, err := s2.Get(ctx, []string{a.Key})
	if err != nil {
		t.Fatal(err)
	}
	sameRecord(t, a, got[a.Key])
	if got[a.Key].ETag != a.ETag {
		t.Errorf("ETag after reopen = %q, want %q", got[a.Key].ETag, a.ETag)
	}
	sts, _ := s2.FeedStatuses(ctx)
	if len(sts) != 1 || sts[0].Counts["new"] != 1 {
		t.Errorf("statuses after reopen = %+v", sts)
	}
	if gc, _ := s2.Cursor(ctx, "urlhaus"); !gc.LastFetch.Equal(t0) || !gc.RunStart.Equal(c.RunStart) {
		t.Errorf("cursor after reopen = %+v", gc)
	}
	if gu, _ := s2.UploaderStats(ctx); gu.Batches != 2 {
		t.Errorf("uploader after reopen = %+v", gu)
	}
	// A fresh insert of an existing key conflicts across reopening too.
	var ce *ConflictError
	if err := s2.Put(ctx, []*Indicator{sample(a.Key)}); !errors.As(err, &ce) {
		t.Errorf("insert over a stored key = %v, want a conflict", err)
	}
}

// TestBoltStoreLocked: a second opener of the same file is refused with a
// message that says why, and gets in once the first closed it.
func TestBoltStoreLocked(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.db")
	s := openBolt(t, path)
	_, err := OpenBolt(path, &BoltOptions{LockTimeout: 50 * time.Millisecond})
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "another feeds2sentinel process") {
		t.Fatalf("second open = %v, want ErrLocked naming the cause", err)
	}
	s.Close()
	s2, err := OpenBolt(path, &BoltOptions{LockTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatalf("open after Close: %v", err)
	}
	s2.Close()
}

// TestBoltStoreCloseWaitsForWrites: writes racing Close either finish
// before it (and are durable) or fail with ErrClosed; none is lost
// silently.
func TestBoltStoreCloseWaitsForWrites(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "state.db")
	s := openBolt(t, path)
	keys := keysIn("race", "", 200)
	ok := make([]bool, len(keys))
	var wg sync.WaitGroup
	for i, k := range keys {
		wg.Go(func() {
			err := s.Put(ctx, []*Indicator{sample(k)})
			switch {
			case err == nil:
				ok[i] = true
			case !errors.Is(err, ErrClosed):
				t.Errorf("Put racing Close = %v", err)
			}
		})
		if i == len(keys)/2 {
			go s.Close()
		}
	}
	wg.Wait()
	s.Close()
	s2 := openBolt(t, path)
	defer s2.Close()
	got, err := s2.Get(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range keys {
		if ok[i] && got[k] == nil {
			t.Errorf("%s: Put succeeded but the record is gone after reopening", k)
		}
	}
}

// TestBoltScanWritesDuringScan: fn may write to the store (Scan holds no
// transaction while calling it), and a scan of more than one page visits
// every record once.
func TestBoltScanWritesDuringScan(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := openBolt(t, filepath.Join(t.TempDir(), "state.db"))
	defer s.Close()
	var recs []*Indicator
	for _, k := range keysIn("scan", "", 3*scanPage+7) {
		recs = append(recs, sample(k))
	}
	if err := s.Put(ctx, recs); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	err := s.Scan(ctx, ScanFilter{Status: StatusActive}, func(ind *Indicator) error {
		seen[ind.Key]++
		ind.Status = StatusExpired
		return s.Put(ctx, []*Indicator{ind})
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != len(recs) {
		t.Errorf("scan visited %d records, want %d", len(seen), len(recs))
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("%s visited %d times", k, n)
		}
	}
	n := 0
	if err := s.Scan(ctx, ScanFilter{Status: StatusActive}, func(*Indicator) error { n++; return nil }); err != nil || n != 0 {
		t.Errorf("active after expiring all = %d, %v", n, err)
	}
}

// TestMigrateGolden: the legacy state file of earlier versions migrates
// record for record.
func TestMigrateGolden(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	legacy := filepath.Join(dir, "state.jsonl")
	data, err := os.ReadFile("testdata/state.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(legacy, data, 0o600); err != nil {
		t.Fatal(err)
	}
	s := openBolt(t, filepath.Join(dir, "state.db"))
	defer s.Close()
	res, migrated, err := MigrateFile(ctx, legacy, s)
	if err != nil || !migrated {
		t.Fatalf("MigrateFile = %v, %v", migrated, err)
	}
	if res != (MigrationResult{Indicators: 3, Feeds: 2, Cursors: 1}) {
		t.Errorf("result = %+v", res)
	}
	if _, err := os.Stat(legacy + ".migrated"); err != nil {
		t.Errorf("legacy file not renamed: %v", err)
	}
	if _, migrated, err := MigrateFile(ctx, legacy, s); migrated || err != nil {
		t.Errorf("second MigrateFile = %v, %v; want nothing to do", migrated, err)
	}
	got, err := s.Get(ctx, []string{"domain:a.example", "domain:b.example", "url:http://x.example/<a&b>"})
	if err != nil || len(got) != 3 {
		t.Fatalf("Get = %d records, %v", len(got), err)
	}
	if got["domain:b.example"].Status != StatusRevoked {
		t.Errorf("b = %+v", got["domain:b.example"])
	}
	sameRecord(t, sample("domain:a.example"), got["domain:a.example"])
	if c, _ := s.Cursor(ctx, "urlhaus"); c.ETag != `"abc"` {
		t.Errorf("cursor = %+v", c)
	}
	if u, _ := s.UploaderStats(ctx); u.Objects != 3 {
		t.Errorf("uploader = %+v", u)
	}
}

// TestMigrateErrors: a damaged legacy file names the line and says what to
// do; a line of 5 MB is refused without reading it whole.
func TestMigrateErrors(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, content, want string }{
		{"not JSON", "{\n", "line 1 is not a state record"},
		{"no key", "\n" + `{"indicator":{"value":"x"}}` + "\n", "line 2: an indicator without a key"},
		{"bad time", `{"indicator":{"key":"domain:x","created":"yesterday"}}`, "line 1 is not a state record"},
		{"too long", `{"uploader":{}}` + "\n" + `{"indicator":{"key":"domain:x","value":"` + strings.Repeat("a", 5<<20) + `"}}` + "\n", "line 2 is longer than"},
		{"object too large", `{"indicator":{"key":"domain:x","object":{"a":"` + strings.Repeat("a", 40<<10) + `"}}}`, "line 1: state: invalid record"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := openBolt(t, filepath.Join(t.TempDir(), "state.db"))
			defer s.Close()
			_, err := Migrate(t.Context(), strings.NewReader(tc.content), s)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Migrate = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func FuzzMigrate(f *testing.F) {
	if b, err := os.ReadFile("testdata/state.jsonl"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"indicator":{"key":"k","object":{"a":1}}}`))
	f.Add([]byte(`{"uploader":{"batches":1}}` + "\n" + `{"cursor":{"feed":"x","etag":"y"}}`))
	dir := f.TempDir()
	s := openBolt(f, filepath.Join(dir, "state.db"))
	f.Cleanup(func() { s.Close() })
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := Migrate(context.Background(), bytes.NewReader(data), s)
		if err != nil {
			return
		}
		if res.Indicators > bytes.Count(data, []byte("\n"))+1 {
			t.Fatalf("migrated %d indicators from %d lines", res.Indicators, bytes.Count(data, []byte("\n"))+1)
		}
	})
}

// TestBoltCodecRoundTrip: every field but ETag survives the binary form,
// zero times and empty lists included.
func TestBoltCodecRoundTrip(t *testing.T) {
	full := sample("domain:ü.example")
	full.Sources = append(full.Sources, SourceSeen{Source: "list", Digest: "sha256:d"})
	full.Created = time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC).Add(time.Hour)
	empty := &Indicator{Key: "k"}
	for _, want := range []*Indicator{full, empty} {
		v := encodeBolt(want, 42)
		got, err := decodeBolt([]byte(want.Key), v)
		if err != nil {
			t.Fatal(err)
		}
		sameRecord(t, want, got)
		if got.ETag != "b42" {
			t.Errorf("ETag %q", got.ETag)
		}
	}
}

func FuzzDecodeBolt(f *testing.F) {
	v := encodeBolt(sample("domain:a.example"), 7)
	f.Add(v)
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 1, 'a', 2, 'k'})
	f.Fuzz(func(t *testing.T, b []byte) {
		ind, err := decodeBolt([]byte("k"), b)
		if err != nil {
			return
		}
		again := encodeBolt(ind, binary.BigEndian.Uint64(b[:8]))
		if _, err := decodeBolt([]byte("k"), again); err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
	})
}
