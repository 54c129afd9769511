package state

import (
	"context"
	"flag"
	"maps"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

var (
	benchFileN    = flag.Int("state.filen", 100_000, "indicators per run in BenchmarkStateDiff/bolt")
	benchAzuriteN = flag.Int("state.azuriten", 10_000, "indicators per run in BenchmarkStateDiff/azurite")
)

// BenchmarkStateDiff measures one feed run's state traffic: Get every
// key of the run, then Put every record (half of them new on the first
// run, updates afterwards).
func BenchmarkStateDiff(b *testing.B) {
	b.Run("bolt", func(b *testing.B) {
		s, err := OpenBolt(filepath.Join(b.TempDir(), "state.db"), &BoltOptions{NoSync: true})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		benchDiff(b, s, *benchFileN)
	})
	b.Run("azurite", func(b *testing.B) {
		benchDiff(b, openAzurite(b), *benchAzuriteN)
	})
}

func benchDiff(b *testing.B, s Store, n int) {
	ctx := context.Background()
	keys := keysIn("bench", "", n)
	seed := make([]*Indicator, 0, n/2)
	for _, k := range keys[:n/2] {
		seed = append(seed, sample(k))
	}
	if err := s.Put(ctx, seed); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	runs := 0
	var getTime, putTime time.Duration
	for b.Loop() {
		t := time.Now()
		cur, err := s.Get(ctx, keys)
		getTime += time.Since(t)
		if err != nil {
			b.Fatal(err)
		}
		recs := make([]*Indicator, len(keys))
		for i, k := range keys {
			if ind := cur[k]; ind != nil {
				ind.Revision++
				ind.LastUploaded = t0.Add(time.Duration(runs) * time.Hour)
				recs[i] = ind
			} else {
				recs[i] = sample(k)
			}
		}
		t = time.Now()
		if err := s.Put(ctx, recs); err != nil {
			b.Fatal(err)
		}
		putTime += time.Since(t)
		runs++
	}
	b.ReportMetric(float64(n*runs)/time.Since(start).Seconds(), "indicators/s")
	b.ReportMetric(getTime.Seconds()/float64(runs), "get-s/op")
	b.ReportMetric(putTime.Seconds()/float64(runs), "put-s/op")
}

// BenchmarkTableGet compares the two ways to read a run's records from
// Table Storage: parallel point queries (what Get does) and listing whole
// partitions.
func BenchmarkTableGet(b *testing.B) {
	s := openAzurite(b)
	ctx := context.Background()
	n := *benchAzuriteN
	keys := keysIn("get", "", n)
	recs := make([]*Indicator, n)
	for i, k := range keys {
		recs[i] = sample(k)
	}
	if err := s.Put(ctx, recs); err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		get  func(context.Context, []string) (map[string]*Indicator, error)
	}{
		{"point", s.Get},
		{"partition", s.getByPartition},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			start, runs := time.Now(), 0
			for b.Loop() {
				got, err := tc.get(ctx, keys)
				if err != nil || len(got) != n {
					b.Fatalf("got %d of %d: %v", len(got), n, err)
				}
				runs++
			}
			b.ReportMetric(float64(n*runs)/time.Since(start).Seconds(), "indicators/s")
		})
	}
}

// getByPartition is the alternative Get measured by BenchmarkTableGet: it
// lists every partition holding a wanted key and keeps the wanted rows.
func (s *TableStore) getByPartition(ctx context.Context, keys []string) (map[string]*Indicator, error) {
	want := make(map[string]bool, len(keys))
	parts := make(map[string]bool)
	for _, k := range keys {
		want[k] = true
		pk, _ := location(k)
		parts[pk] = true
	}
	pks := slices.Collect(maps.Keys(parts))
	out := make(map[string]*Indicator, len(keys))
	var mu sync.Mutex
	err := parallel(ctx, s.parallel, len(pks), func(ctx context.Context, i int) error {
		return s.listPartition(ctx, pks[i], "", func(ind *Indicator) error {
			if want[ind.Key] {
				mu.Lock()
				out[ind.Key] = ind
				mu.Unlock()
			}
			return nil
		})
	})
	return out, err
}
