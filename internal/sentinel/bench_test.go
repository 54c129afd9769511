package sentinel_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/feeds2sentinel/feeds2sentinel/internal/sentinel"
	"github.com/feeds2sentinel/feeds2sentinel/internal/sentinel/sentineltest"
)

// BenchmarkUploadThroughput drives 100k indicators through the client with
// default options against the fake, whose exact 100 requests/minute window
// runs on a virtual clock advanced only by the client's limiter. It reports
// the objects the fake accepted per whole minute of fake time as a fraction
// of the documented ceiling of 10,000 objects per minute, and the share of
// requests answered 429.
func BenchmarkUploadThroughput(b *testing.B) {
	const total = 100_000
	objects := indicators(0, total)
	ctx := context.Background()
	b.ReportAllocs()
	var rate sentineltest.Rate
	var realElapsed time.Duration
	for b.Loop() {
		clock := sentineltest.NewVirtualClock(testStart)
		srv := sentineltest.NewServer(sentineltest.ServerOptions{Clock: clock.Now})
		c, err := sentinel.New(sentinel.Options{Endpoint: srv.URL, WorkspaceID: testWorkspace, SourceSystem: testSource,
			Now: clock.Now, Sleep: clock.Sleep})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		accepted := 0
		for i := 0; i < total; i += sentinel.MaxObjectsPerRequest {
			res, err := c.Upload(ctx, objects[i:min(i+sentinel.MaxObjectsPerRequest, total)])
			if err != nil {
				b.Fatal(err)
			}
			accepted += res.Accepted
		}
		realElapsed = time.Since(start)
		rate = srv.Rate(testStart)
		srv.Close()
		if accepted != total {
			b.Fatalf("accepted %d of %d", accepted, total)
		}
	}
	b.ReportMetric(rate.ObjectsPerMinute/10_000, "ceiling-fraction")
	b.ReportMetric(float64(rate.Throttled)/float64(rate.Requests), "429-share")
	b.ReportMetric(float64(rate.Minutes), "fake-min")
	b.ReportMetric(float64(total)/realElapsed.Seconds(), "objects/s-real")
}

// BenchmarkUploadOverhead measures one 100-object Upload against a server
// that answers 200 at once, with the limiter on a virtual clock.
func BenchmarkUploadOverhead(b *testing.B) {
	objects := make([]json.RawMessage, sentinel.MaxObjectsPerRequest)
	copy(objects, indicators(0, len(objects)))
	c, _ := newRawClient(b, sentinel.APISTIXObjects, answer{200, ""})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Upload(ctx, objects); err != nil {
			b.Fatal(err)
		}
	}
}
