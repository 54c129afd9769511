package state

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"
)

// testBatch writes more than 100 records to one partition plus records in
// many others, then updates them with one stale record among them.
func testBatch(t *testing.T, s Store) {
	ctx := t.Context()
	defer s.Close()
	keys := append(keysIn("hot", "i00", 150), keysIn("spread", "", 200)...)
	recs := make([]*Indicator, len(keys))
	for i, k := range keys {
		recs[i] = sample(k)
	}
	if err := s.Put(ctx, recs); err != nil {
		t.Fatalf("Put(%d new): %v", len(recs), err)
	}
	got, err := s.Get(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(keys) {
		t.Fatalf("Get returned %d of %d", len(got), len(keys))
	}
	for _, r := range recs {
		if got[r.Key] == nil || got[r.Key].ETag != r.ETag {
			t.Fatalf("%s: stored ETag %v, Put set %q", r.Key, got[r.Key], r.ETag)
		}
	}
	// A concurrent writer changes two records (one in the hot partition).
	other := []*Indicator{got[keys[7]], got[keys[160]]}
	for _, o := range other {
		o.Confidence = 10
	}
	if err := s.Put(ctx, other); err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		r.Confidence = 90
	}
	err = s.Put(ctx, recs)
	var ce *ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("Put(with stale) = %v, want *ConflictError", err)
	}
	if want := map[string]bool{keys[7]: true, keys[160]: true}; len(ce.Keys) != 2 || !want[ce.Keys[0]] || !want[ce.Keys[1]] {
		t.Fatalf("conflict keys = %q, want %q and %q", ce.Keys, keys[7], keys[160])
	}
	got, err = s.Get(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range keys {
		want := 90
		if i == 7 || i == 160 {
			want = 10
		}
		if got[k].Confidence != want {
			t.Fatalf("%s: confidence %d, want %d", k, got[k].Confidence, want)
		}
		if want == 90 && got[k].ETag != recs[i].ETag {
			t.Fatalf("%s: ETag not updated in place", k)
		}
	}
}

// testScan pages through more than 1000 records of one partition (the
// Table service pages at 1000) and filters by status and source.
func testScan(t *testing.T, s Store) {
	ctx := t.Context()
	defer s.Close()
	keys := append(keysIn("scan", "i01", 1050), keysIn("other", "", 100)...)
	recs := make([]*Indicator, len(keys))
	wantRevoked, wantURLhaus := 0, 0
	for i, k := range keys {
		recs[i] = sample(k)
		recs[i].Object = nil
		if i%3 == 0 {
			recs[i].Status = StatusRevoked
			wantRevoked++
		}
		if i%5 == 0 {
			recs[i].Sources = append(recs[i].Sources, SourceSeen{Source: "urlhaus"})
			wantURLhaus++
		}
	}
	if err := s.Put(ctx, recs); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		filter ScanFilter
		want   int
	}{
		{ScanFilter{}, len(keys)},
		{ScanFilter{Status: StatusRevoked}, wantRevoked},
		{ScanFilter{Source: "urlhaus"}, wantURLhaus},
		{ScanFilter{Source: "threatfox", Status: StatusExpired}, 0},
		{ScanFilter{Status: "it's"}, 0},
	}
	for _, tc := range cases {
		seen := make(map[string]bool)
		err := s.Scan(ctx, tc.filter, func(ind *Indicator) error {
			if seen[ind.Key] {
				return fmt.Errorf("%s visited twice", ind.Key)
			}
			seen[ind.Key] = true
			if ind.ETag == "" {
				return fmt.Errorf("%s: no ETag", ind.Key)
			}
			return nil
		})
		if err != nil || len(seen) != tc.want {
			t.Errorf("Scan(%+v) visited %d, %v; want %d, nil", tc.filter, len(seen), err, tc.want)
		}
	}
	stop := errors.New("stop")
	n := 0
	err := s.Scan(ctx, ScanFilter{}, func(*Indicator) error {
		n++
		if n == 10 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 10 {
		t.Errorf("Scan with a failing fn: %d calls, %v; want 10, stop", n, err)
	}
}

func testFeedStatus(t *testing.T, s Store) {
	ctx := t.Context()
	defer s.Close()
	if got, err := s.FeedStatuses(ctx); err != nil || len(got) != 0 {
		t.Fatalf("FeedStatuses(empty) = %v, %v", got, err)
	}
	sts := []FeedStatus{
		{Feed: "urlhaus", Enabled: true, Schedule: "0 */5 * * * *", LastStart: t0, LastEnd: t0.Add(time.Minute),
			Outcome: "succeeded", Counts: map[string]int{"fetched": 10, "new": 3}, Rejected: map[string]int{"reserved": 1},
			LastSuccess: t0.Add(time.Minute)},
		{Feed: "a/b#c?d", Enabled: false, Outcome: "failed", LastError: "fetch: 503"},
	}
	for _, st := range sts {
		if err := s.PutFeedStatus(ctx, st); err != nil {
			t.Fatal(err)
		}
	}
	sts[1].Outcome = "skipped"
	if err := s.PutFeedStatus(ctx, sts[1]); err != nil {
		t.Fatal(err)
	}
	got, err := s.FeedStatuses(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []FeedStatus{sts[1], sts[0]}; !reflect.DeepEqual(got, want) {
		t.Errorf("FeedStatuses mismatch:\nwant %+v\ngot  %+v", want, got)
	}
}

func testCursor(t *testing.T, s Store) {
	ctx := t.Context()
	defer s.Close()
	if c, err := s.Cursor(ctx, "urlhaus"); err != nil || c != (Cursor{}) {
		t.Fatalf("Cursor(missing) = %+v, %v", c, err)
	}
	want := Cursor{ETag: `W/"x"`, LastModified: "Sat, 01 Mar 2025 12:00:00 GMT", LastFetch: t0}
	if err := s.PutCursor(ctx, "urlhaus", want); err != nil {
		t.Fatal(err)
	}
	if c, err := s.Cursor(ctx, "urlhaus"); err != nil || c != want {
		t.Errorf("Cursor = %+v, %v; want %+v", c, err, want)
	}
}

func testUploaderStats(t *testing.T, s Store) {
	ctx := t.Context()
	defer s.Close()
	if st, err := s.UploaderStats(ctx); err != nil || st != (UploaderStats{}) {
		t.Fatalf("UploaderStats(empty) = %+v, %v", st, err)
	}
	const workers, adds = 8, 5
	var wg sync.WaitGroup
	errs := make(chan error, workers*adds)
	for w := range workers {
		wg.Go(func() {
			for i := range adds {
				d := UploaderStats{Batches: 1, Objects: 100, Throttled: 2, Retries: 3, Rejected: 1,
					DeadLettered: 1, Parked: 1, LastSuccess: t0.Add(time.Duration(w*adds+i) * time.Second)}
				if err := s.AddUploaderStats(ctx, d); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := s.AddUploaderStats(ctx, UploaderStats{LastError: "429 storm"}); err != nil {
		t.Fatal(err)
	}
	n := int64(workers * adds)
	want := UploaderStats{Batches: n, Objects: 100 * n, Throttled: 2 * n, Retries: 3 * n, Rejected: n,
		DeadLettered: n, Parked: n, LastSuccess: t0.Add(time.Duration(n-1) * time.Second), LastError: "429 storm"}
	if got, err := s.UploaderStats(ctx); err != nil || got != want {
		t.Errorf("UploaderStats = %+v, %v\nwant %+v", got, err, want)
	}
}
