package ingest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/feeds2sentinel/feeds2sentinel/internal/ingest"
	"github.com/feeds2sentinel/feeds2sentinel/internal/ioc"
	"github.com/feeds2sentinel/feeds2sentinel/internal/queue"
	"github.com/feeds2sentinel/feeds2sentinel/internal/sentinel"
	"github.com/feeds2sentinel/feeds2sentinel/internal/sentinel/sentineltest"
	"github.com/feeds2sentinel/feeds2sentinel/internal/stix"
)

// BenchmarkQueueToSentinel drives 100k indicators through the spool and the
// uploader into the fake Sentinel, whose exact 100 requests/minute window
// runs on a virtual clock shared with the client's limiter (a compressed
// clock: no real waiting). It reports the objects the fake accepted per
// whole minute of that clock as a fraction of the documented 10,000/min
// ceiling and the share of requests answered 429.
func BenchmarkQueueToSentinel(b *testing.B) {
	const n = 100_000
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	opts := &stix.Options{Now: func() time.Time { return now }}
	ident, _ := json.Marshal(stix.NewSourceIdentity("bench"))
	var batches []queue.Batch
	var cur []json.RawMessage
	for i := 0; i < n; i++ {
		obs := ioc.Observable{Type: ioc.TypeIPv4, Value: fmt.Sprintf("45.%d.%d.%d", 60+i/62500, (i/250)%250, 1+i%250)}
		ind, err := stix.NewIndicator(obs, &ioc.Record{Source: "bench"}, opts)
		if err != nil {
			b.Fatal(err)
		}
		raw, _ := json.Marshal(ind)
		if len(cur) == 0 {
			cur = append(cur, ident)
		}
		cur = append(cur, raw)
		if len(cur) == queue.MaxObjects {
			batches = append(batches, queue.Batch{Source: "bench", Objects: cur})
			cur = nil
		}
	}
	if len(cur) > 0 {
		batches = append(batches, queue.Batch{Source: "bench", Objects: cur})
	}
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		vc := sentineltest.NewVirtualClock(now)
		fake := sentineltest.NewServer(sentineltest.ServerOptions{Clock: vc.Now})
		sp, err := queue.OpenSpool(b.TempDir(), &queue.SpoolOptions{NoSync: true})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := sp.Publish(context.Background(), batches); err != nil {
			b.Fatal(err)
		}
		client, err := sentinel.New(sentinel.Options{Endpoint: fake.URL, WorkspaceID: workspace, SourceSystem: "bench",
			Now: vc.Now, Sleep: vc.Sleep})
		if err != nil {
			b.Fatal(err)
		}
		up := &ingest.Uploads{Uploader: client, Parker: sp, Logger: slog.New(slog.DiscardHandler)}
		b.StartTimer()
		res, err := ingest.Drain(context.Background(), sp, up)
		b.StopTimer()
		if err != nil || res.Uploaded != n+len(batches) {
			b.Fatalf("drain: %+v, %v", res, err)
		}
		// Objects the fake accepted per whole minute of the virtual clock.
		rate := fake.Rate(now)
		b.ReportMetric(rate.ObjectsPerMinute/10000, "ceiling-fraction")
		b.ReportMetric(float64(rate.Throttled)/float64(rate.Requests), "share-429")
		b.ReportMetric(vc.Now().Sub(now).Minutes(), "virtual-min")
		fake.Close()
		b.StartTimer()
	}
}
