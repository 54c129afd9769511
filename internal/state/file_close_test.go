package state

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestFileStoreCloseRacingWrites is the regression test for writes lost
// at Close: a write landing after the final flush's snapshot used to
// succeed and never reach the file. Every write that succeeds while Close
// runs must be in the file; the others must fail with ErrClosed.
func TestFileStoreCloseRacingWrites(t *testing.T) {
	t.Parallel()
	const rounds, writers = 10, 4
	for round := range rounds {
		path := filepath.Join(t.TempDir(), "state.jsonl")
		s, err := OpenFile(path, &FileOptions{FlushInterval: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		var (
			wg      sync.WaitGroup
			started sync.WaitGroup
			keys    [writers][]string
			cursors [writers]int // last cursor written, per writer
		)
		started.Add(writers)
		for w := range writers {
			wg.Go(func() {
				var once sync.Once
				defer once.Do(started.Done)
				for i := 0; ; i++ {
					k := fmt.Sprintf("domain:w%d-%d.example", w, i)
					err := s.Put(t.Context(), []*Indicator{{Key: k, Status: StatusActive}})
					if err == nil {
						keys[w] = append(keys[w], k)
						err = s.PutCursor(t.Context(), fmt.Sprint(w), Cursor{ETag: fmt.Sprint(i)})
						if err == nil {
							cursors[w] = i
						}
					}
					if i == 10 {
						once.Do(started.Done)
					}
					if errors.Is(err, ErrClosed) {
						return
					}
					if err != nil {
						t.Errorf("writer %d: %v", w, err)
						return
					}
				}
			})
		}
		started.Wait() // every writer is busy
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		wg.Wait()

		s2 := openManual(t, path)
		for w := range writers {
			got, err := s2.Get(t.Context(), keys[w])
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(keys[w]) {
				t.Fatalf("round %d, writer %d: %d of %d successful Puts persisted", round, w, len(got), len(keys[w]))
			}
			if c, _ := s2.Cursor(t.Context(), fmt.Sprint(w)); c.ETag != fmt.Sprint(cursors[w]) {
				t.Fatalf("round %d, writer %d: persisted cursor %q, last written %d", round, w, c.ETag, cursors[w])
			}
		}
		s2.Close()
	}
}

// TestFileStoreWritesRefusedWhileClosing pins the order: once Close has
// started, writes fail with ErrClosed while reads still work.
func TestFileStoreWritesRefusedWhileClosing(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "state.jsonl")
	s := openManual(t, path)
	a := sample("domain:a.example")
	if err := s.Put(ctx, []*Indicator{a}); err != nil {
		t.Fatal(err)
	}
	s.flushMu.Lock() // holds Close inside its final Flush
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	for {
		s.mu.RLock()
		closing := s.closing
		s.mu.RUnlock()
		if closing {
			break
		}
		time.Sleep(time.Millisecond)
	}
	b := sample("domain:b.example")
	if err := s.Put(ctx, []*Indicator{b}); !errors.Is(err, ErrClosed) {
		t.Errorf("Put while closing = %v, want ErrClosed", err)
	}
	if b.ETag != "" {
		t.Errorf("refused Put set an ETag")
	}
	if err := errors.Join(
		s.PutCursor(ctx, "f", Cursor{ETag: "x"}),
		s.PutFeedStatus(ctx, FeedStatus{Feed: "f"}),
		s.AddUploaderStats(ctx, UploaderStats{Batches: 1}),
	); err == nil {
		t.Errorf("writes while closing succeeded")
	}
	if got, err := s.Get(ctx, []string{a.Key}); err != nil || got[a.Key] == nil {
		t.Errorf("Get while closing = %v, %v", got, err)
	}
	s.flushMu.Unlock()
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, []string{a.Key}); !errors.Is(err, ErrClosed) {
		t.Errorf("Get after Close = %v, want ErrClosed", err)
	}
	s2 := openManual(t, path)
	defer s2.Close()
	if got, _ := s2.Get(ctx, []string{a.Key, b.Key}); got[a.Key] == nil || got[b.Key] != nil {
		t.Errorf("reopened store = %v, want only %s", got, a.Key)
	}
}

// TestFileStoreFlushClean checks that Flush, the caller's durability point
// after each run, does not rewrite the file when nothing changed.
func TestFileStoreFlushClean(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "state.jsonl")
	s := openManual(t, path)
	var _ interface{ Flush() error } = s // the optional interface callers test for
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Flush of a new, unchanged store wrote the file: %v", err)
	}
	a := sample("domain:a.example")
	if err := s.Put(ctx, []*Indicator{a}); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("Flush after a Put: %v", err)
	}
	// Remove the file: any rewrite would bring it back.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	stale := a.Clone()
	stale.ETag = "stale"
	_, gerr := s.Get(ctx, []string{a.Key})
	_, ferr := s.FeedStatuses(ctx)
	_, cerr := s.Cursor(ctx, "x")
	_, uerr := s.UploaderStats(ctx)
	if err := errors.Join(gerr, ferr, cerr, uerr, s.Put(ctx, nil),
		s.Scan(ctx, ScanFilter{}, func(*Indicator) error { return nil })); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, []*Indicator{stale}); !errors.Is(err, ErrConflict) {
		t.Fatalf("Put(stale) = %v", err)
	}
	for range 3 {
		if err := s.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Flush rewrote the file although nothing changed: %v", err)
	}
	// A change is flushed, once.
	if err := s.PutCursor(ctx, "x", Cursor{ETag: "e"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("Flush after a change: %v", err)
	}
	if err := errors.Join(s.Flush(), s.Close(), s.Flush()); err != nil {
		t.Fatal(err)
	}
	fi2, err := os.Stat(path)
	if err != nil || !os.SameFile(fi, fi2) {
		t.Errorf("clean Flush or Close replaced the file (%v)", err)
	}
}
