package sentinel_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/feeds2sentinel/feeds2sentinel/internal/sentinel"
	"github.com/feeds2sentinel/feeds2sentinel/internal/sentinel/sentineltest"
)

// BenchmarkUploadThroughput drives 100k indicators through the client
// against the fake, whose 100 requests/minute limit runs on a virtual clock
// advanced only by the client's limiter. It reports the fake-time
// throughput as a fraction of the documented ceiling of 10,000 objects per
// minute and the share of requests answered 429.
func BenchmarkUploadThroughput(b *testing.B) {
	const total = 100_000
	objects := indicators(0, total)
	ctx := context.Background()
	b.ReportAllocs()
	var frac, throttledShare, fakeMinutes float64
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
		srv.Close()
		if accepted != total {
			b.Fatalf("accepted %d of %d", accepted, total)
		}
		// Fake time from the first request to the last one: the time the
		// uploads occupied under the rate limit.
		elapsed := clock.Now().Sub(testStart)
		fakeMinutes = elapsed.Minutes()
		frac = float64(total) / fakeMinutes / 10_000
		st := c.Stats()
		throttledShare = float64(st.Throttled) / float64(st.Requests)
	}
	b.ReportMetric(frac, "ceiling-fraction")
	b.ReportMetric(throttledShare, "429-share")
	b.ReportMetric(fakeMinutes, "fake-min")
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
