package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// testStore is the conformance suite every Store passes. open returns a
// fresh, empty store; the suite closes it.
func testStore(t *testing.T, open func(t *testing.T) Store) {
	t.Run("CRUD", func(t *testing.T) { t.Parallel(); testCRUD(t, open(t)) })
	t.Run("Invalid", func(t *testing.T) { t.Parallel(); testInvalid(t, open(t)) })
	t.Run("ConcurrentWriters", func(t *testing.T) { t.Parallel(); testConcurrentWriters(t, open(t)) })
	t.Run("Batch", func(t *testing.T) { t.Parallel(); testBatch(t, open(t)) })
	t.Run("Scan", func(t *testing.T) { t.Parallel(); testScan(t, open(t)) })
	t.Run("FeedStatus", func(t *testing.T) { t.Parallel(); testFeedStatus(t, open(t)) })
	t.Run("Cursor", func(t *testing.T) { t.Parallel(); testCursor(t, open(t)) })
	t.Run("UploaderStats", func(t *testing.T) { t.Parallel(); testUploaderStats(t, open(t)) })
}

var t0 = time.Date(2025, 3, 1, 12, 30, 0, 123456789, time.UTC)

func sample(key string) *Indicator {
	return &Indicator{
		Key: key, ID: "indicator--0b6d1a1e-0000-4000-8000-000000000001", Revision: 1,
		Type: "domain", Value: strings.TrimPrefix(key, "domain:"),
		Sources: []SourceSeen{{Source: "threatfox", RecordID: "1234", FirstSeen: t0, LastSeen: t0.Add(time.Hour)}},
		Labels:  []string{"botnet_cc", "win.cobalt_strike"}, Confidence: 75, Fingerprint: "sha256:abc",
		Created: t0, LastUploaded: t0.Add(2 * time.Hour), ValidUntil: t0.Add(30 * 24 * time.Hour),
		Status: StatusActive, Object: json.RawMessage(`{"type":"indicator","id":"indicator--0b6d1a1e-0000-4000-8000-000000000001"}`),
	}
}

// sameRecord compares two indicators ignoring the ETag.
func sameRecord(t *testing.T, want, got *Indicator) {
	t.Helper()
	w, g := want.Clone(), got.Clone()
	w.ETag, g.ETag = "", ""
	if !reflect.DeepEqual(w, g) {
		t.Errorf("record mismatch:\nwant %+v\ngot  %+v", w, g)
	}
}

// keysIn returns n distinct keys whose partition is pk ("" = any).
func keysIn(prefix, pk string, n int) []string {
	var keys []string
	for i := 0; len(keys) < n; i++ {
		k := fmt.Sprintf("domain:%s-%d.example", prefix, i)
		if p, _ := location(k); pk == "" || p == pk {
			keys = append(keys, k)
		}
	}
	return keys
}

func testCRUD(t *testing.T, s Store) {
	ctx := t.Context()
	defer s.Close()
	got, err := s.Get(ctx, []string{"domain:a.example"})
	if err != nil || len(got) != 0 {
		t.Fatalf("Get(empty store) = %v, %v; want empty, nil", got, err)
	}
	a, b := sample("domain:a.example"), sample("domain:b.example")
	b.Sources, b.Labels, b.Object = nil, nil, nil
	if err := s.Put(ctx, []*Indicator{a, b}); err != nil {
		t.Fatalf("Put(new): %v", err)
	}
	if a.ETag == "" || b.ETag == "" {
		t.Fatalf("Put did not set ETags: %q %q", a.ETag, b.ETag)
	}
	got, err = s.Get(ctx, []string{a.Key, b.Key, "domain:missing.example", a.Key})
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if len(got) != 2 {
		t.Fatalf("Get returned %d records, want 2", len(got))
	}
	sameRecord(t, a, got[a.Key])
	sameRecord(t, b, got[b.Key])
	if got[a.Key].ETag != a.ETag {
		t.Errorf("Get ETag = %q, Put set %q", got[a.Key].ETag, a.ETag)
	}

	// Update with the current ETag.
	upd := got[a.Key]
	upd.Revision, upd.Status = 2, StatusRevoked
	old := upd.ETag
	if err := s.Put(ctx, []*Indicator{upd}); err != nil {
		t.Fatalf("Put(update): %v", err)
	}
	if upd.ETag == old {
		t.Errorf("ETag unchanged after update")
	}
	// A stale ETag and a second insert both conflict.
	stale := a.Clone()
	stale.ETag = old
	dup := sample(b.Key)
	err = s.Put(ctx, []*Indicator{stale, dup})
	var ce *ConflictError
	if !errors.Is(err, ErrConflict) || !errors.As(err, &ce) {
		t.Fatalf("Put(stale, duplicate insert) = %v, want a *ConflictError", err)
	}
	slices.Sort(ce.Keys)
	if want := []string{a.Key, b.Key}; !slices.Equal(ce.Keys, want) {
		t.Errorf("conflict keys = %q, want %q", ce.Keys, want)
	}
	if stale.ETag != old || dup.ETag != "" {
		t.Errorf("conflicting records' ETags changed")
	}
	got, err = s.Get(ctx, []string{a.Key})
	if err != nil {
		t.Fatal(err)
	}
	sameRecord(t, upd, got[a.Key])
	if err := s.Put(ctx, nil); err != nil {
		t.Errorf("Put(nil) = %v", err)
	}
}

func testInvalid(t *testing.T, s Store) {
	ctx := t.Context()
	defer s.Close()
	big := sample("domain:big.example")
	big.Object = json.RawMessage(`"` + strings.Repeat("x", MaxObjectSize) + `"`)
	notJSON := sample("domain:nj.example")
	notJSON.Object = json.RawMessage(`{`)
	cases := []struct {
		name string
		recs []*Indicator
	}{
		{"empty key", []*Indicator{{}}},
		{"nil", []*Indicator{nil}},
		{"duplicate", []*Indicator{sample("domain:d.example"), sample("domain:d.example")}},
		{"object too large", []*Indicator{big}},
		{"object not JSON", []*Indicator{notJSON}},
		{"value too long", []*Indicator{{Key: "url:x", Value: strings.Repeat("v", maxStringSize+1)}}},
	}
	for _, tc := range cases {
		if err := s.Put(ctx, append(tc.recs, sample("domain:ok.example"))); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Put = %v, want ErrInvalid", tc.name, err)
		}
	}
	if got, _ := s.Get(ctx, []string{"domain:ok.example"}); len(got) != 0 {
		t.Errorf("invalid Put wrote a record")
	}
}

// testConcurrentWriters has writers read-modify-write the same keys with
// retry; every writer's update must survive.
func testConcurrentWriters(t *testing.T, s Store) {
	ctx := t.Context()
	defer s.Close()
	const writers, rounds = 8, 3
	keys := []string{"domain:hot.example", "domain:hot2.example"}
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for r := range rounds {
				label := fmt.Sprintf("w%d-r%d", w, r)
				if err := readModifyWrite(ctx, s, keys, func(ind *Indicator) {
					ind.Labels = append(ind.Labels, label)
					ind.Revision++
				}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		ind := got[k]
		if ind == nil || ind.Revision != writers*rounds || len(ind.Labels) != writers*rounds {
			t.Fatalf("%s: lost updates: %+v", k, ind)
		}
	}
}

// readModifyWrite is the caller's retry loop: read, modify, write, and on conflict
// re-read and retry only the conflicting keys.
func readModifyWrite(ctx context.Context, s Store, keys []string, modify func(*Indicator)) error {
	for attempt := 0; len(keys) > 0; attempt++ {
		if attempt > 1000 {
			return errors.New("too many conflicts")
		}
		cur, err := s.Get(ctx, keys)
		if err != nil {
			return err
		}
		recs := make([]*Indicator, 0, len(keys))
		for _, k := range keys {
			ind := cur[k]
			if ind == nil {
				ind = &Indicator{Key: k, Status: StatusActive}
			}
			modify(ind)
			recs = append(recs, ind)
		}
		err = s.Put(ctx, recs)
		var ce *ConflictError
		if !errors.As(err, &ce) {
			return err
		}
		keys = ce.Keys
	}
	return nil
}
