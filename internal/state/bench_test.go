package state

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	benchFileN    = flag.Int("state.filen", 100_000, "indicators per run in BenchmarkStateDiff/bolt")
	benchAzuriteN = flag.Int("state.azuriten", 10_000, "indicators per run in BenchmarkStateDiff/azurite")
	benchChunk    = flag.Int("state.chunk", 2_500, "keys per Get and Put in BenchmarkStateDiff/azurite-chunked")
)

// BenchmarkStateDiff measures one feed run's state traffic: Get every
// key of the run, then Put every record (half of them new on the first
// run, updates afterwards). The chunked variant does so chunk by chunk,
// as the ingest pipeline does.
func BenchmarkStateDiff(b *testing.B) {
	b.Run("bolt", func(b *testing.B) {
		s, err := OpenBolt(filepath.Join(b.TempDir(), "state.db"), &BoltOptions{NoSync: true})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		benchDiff(b, s, *benchFileN, *benchFileN)
	})
	b.Run("azurite", func(b *testing.B) {
		benchDiff(b, openAzurite(b), *benchAzuriteN, *benchAzuriteN)
	})
	b.Run("azurite-chunked", func(b *testing.B) {
		benchDiff(b, openAzurite(b), *benchAzuriteN, *benchChunk)
	})
}

// benchDiff runs the state traffic of runs of n indicators, chunk keys at
// a time.
func benchDiff(b *testing.B, s Store, n, chunk int) {
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
	var getTime, putTime, getCPU, putCPU time.Duration
	for b.Loop() {
		for keys := range slices.Chunk(keys, chunk) {
			t, c := time.Now(), azuriteCPU()
			cur, err := s.Get(ctx, keys)
			getTime += time.Since(t)
			getCPU += azuriteCPU() - c
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
			t, c = time.Now(), azuriteCPU()
			if err := s.Put(ctx, recs); err != nil {
				b.Fatal(err)
			}
			putTime += time.Since(t)
			putCPU += azuriteCPU() - c
		}
		runs++
	}
	b.ReportMetric(float64(n*runs)/time.Since(start).Seconds(), "indicators/s")
	b.ReportMetric(getTime.Seconds()/float64(runs), "get-s/op")
	b.ReportMetric(putTime.Seconds()/float64(runs), "put-s/op")
	if _, ok := s.(*TableStore); ok && azuriteCPU() >= 0 {
		// Azurite runs JavaScript on one thread: when its CPU time is
		// close to the wall time, Azurite is the bottleneck.
		b.ReportMetric(getCPU.Seconds()/float64(runs), "get-azurite-cpu-s/op")
		b.ReportMetric(putCPU.Seconds()/float64(runs), "put-azurite-cpu-s/op")
	}
}

// azuriteCPU returns the CPU time the Azurite process has used so far, or
// -1 where /proc cannot tell (not Linux, Azurite not started).
func azuriteCPU() time.Duration {
	if azurite.cmd == nil || azurite.cmd.Process == nil {
		return -1
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", azurite.cmd.Process.Pid))
	if err != nil {
		return -1
	}
	// The fields after the parenthesized command name; utime and stime
	// are the 14th and 15th fields of the line, in clock ticks (100 Hz).
	_, rest, ok := bytes.Cut(b, []byte(") "))
	f := strings.Fields(string(rest))
	if !ok || len(f) < 13 {
		return -1
	}
	ut, err1 := strconv.Atoi(f[11])
	st, err2 := strconv.Atoi(f[12])
	if err1 != nil || err2 != nil {
		return -1
	}
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// BenchmarkTableGet compares ways to read a run's records from Table
// Storage: Get (what the store does), one point query per key, one filter
// query per 14 keys, and listing whole partitions; "dense" reads every row
// of the table, "chunk" a chunk of -state.chunk keys, "sparse" a tenth.
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
	for _, sc := range []struct {
		name string
		keys []string
	}{
		{"dense", keys},
		{"chunk", keys[:*benchChunk]},
		{"sparse", keys[:n/10]},
	} {
		for _, tc := range []struct {
			name string
			get  func(context.Context, []string) (map[string]*Indicator, error)
		}{
			{"get", s.Get},
			{"point", s.getByPoint},
			{"filter", s.getByFilter},
			{"partition", s.getByPartition},
		} {
			b.Run(sc.name+"/"+tc.name, func(b *testing.B) {
				b.ReportAllocs()
				start, runs, cpu := time.Now(), 0, azuriteCPU()
				for b.Loop() {
					got, err := tc.get(ctx, sc.keys)
					if err != nil || len(got) != len(sc.keys) {
						b.Fatalf("got %d of %d: %v", len(got), len(sc.keys), err)
					}
					runs++
				}
				b.ReportMetric(float64(len(sc.keys)*runs)/time.Since(start).Seconds(), "indicators/s")
				b.ReportMetric((azuriteCPU()-cpu).Seconds()/float64(runs), "azurite-cpu-s/op")
			})
		}
	}
}

// getByPoint is an alternative Get measured by BenchmarkTableGet: one
// point query per key.
func (s *TableStore) getByPoint(ctx context.Context, keys []string) (map[string]*Indicator, error) {
	out := make(map[string]*Indicator, len(keys))
	var mu sync.Mutex
	err := parallel(ctx, s.parallel, len(keys), func(ctx context.Context, i int) error {
		pk, rk := location(keys[i])
		return s.queryKeys(ctx, pk, []string{rk}, func(ind *Indicator) error {
			mu.Lock()
			out[ind.Key] = ind
			mu.Unlock()
			return nil
		})
	})
	return out, err
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

var benchOpenN = flag.Int("state.openn", 100_000, "indicators in the store BenchmarkOpenBolt opens")

// BenchmarkOpenBolt measures what serve mode waits for before it is ready:
// opening a local store of -state.openn indicators and reading one
// feed's cursor and one indicator. It does not grow with the store.
func BenchmarkOpenBolt(b *testing.B) {
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "state.db")
	s, err := OpenBolt(path, &BoltOptions{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	keys := keysIn("open", "", *benchOpenN)
	for i := 0; i < len(keys); i += 5000 {
		var recs []*Indicator
		for _, k := range keys[i:min(i+5000, len(keys))] {
			recs = append(recs, sample(k))
		}
		if err := s.Put(ctx, recs); err != nil {
			b.Fatal(err)
		}
	}
	s.Close()
	b.ReportAllocs()
	for b.Loop() {
		s, err := OpenBolt(path, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Cursor(ctx, "threatfox"); err != nil {
			b.Fatal(err)
		}
		if got, err := s.Get(ctx, keys[len(keys)/2:len(keys)/2+1]); err != nil || len(got) != 1 {
			b.Fatal(err)
		}
		s.Close()
	}
}

// getByFilter is an alternative Get measured by BenchmarkTableGet: one
// filter query per 14 keys of a partition.
func (s *TableStore) getByFilter(ctx context.Context, keys []string) (map[string]*Indicator, error) {
	byPK := make(map[string][]string)
	for _, k := range keys {
		pk, rk := location(k)
		byPK[pk] = append(byPK[pk], rk)
	}
	var tasks []getTask
	for pk, rks := range byPK {
		for chunk := range slices.Chunk(rks, maxFilterKeys) {
			tasks = append(tasks, getTask{pk: pk, rks: chunk})
		}
	}
	out := make(map[string]*Indicator, len(keys))
	var mu sync.Mutex
	err := parallel(ctx, s.parallel, len(tasks), func(ctx context.Context, i int) error {
		return s.queryKeys(ctx, tasks[i].pk, tasks[i].rks, func(ind *Indicator) error {
			mu.Lock()
			out[ind.Key] = ind
			mu.Unlock()
			return nil
		})
	})
	return out, err
}
