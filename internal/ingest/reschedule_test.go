package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/feeds2sentinel/feeds2sentinel/internal/ingest"
	"github.com/feeds2sentinel/feeds2sentinel/internal/ioc"
	"github.com/feeds2sentinel/feeds2sentinel/internal/queue"
	"github.com/feeds2sentinel/feeds2sentinel/internal/sentinel"
	"github.com/feeds2sentinel/feeds2sentinel/internal/sentinel/sentineltest"
	"github.com/feeds2sentinel/feeds2sentinel/internal/stix"
)

type recordingRescheduler struct {
	msgs []queue.Message
	at   []time.Time
}

func (r *recordingRescheduler) Reschedule(_ context.Context, m queue.Message, at time.Time) error {
	r.msgs, r.at = append(r.msgs, m), append(r.at, at)
	return nil
}

// TestThrottledBatchIsRescheduled: a 429 longer than the invocation can
// wait sends the batch back to the queue for after Retry-After and
// completes the delivery, instead of failing it (which would burn a
// delivery at once).
func TestThrottledBatchIsRescheduled(t *testing.T) {
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	fake := sentineltest.NewServer(sentineltest.ServerOptions{Clock: func() time.Time { return now }})
	defer fake.Close()
	fake.Inject(sentineltest.Fault{Status: 429, RetryAfter: 2 * time.Minute})
	vc := sentineltest.NewVirtualClock(now) // the limiter's pause after a 429 is virtual
	client, err := sentinel.New(sentinel.Options{Endpoint: fake.URL, WorkspaceID: workspace, SourceSystem: "t", MaxThrottleWait: -1,
		Now: vc.Now, Sleep: vc.Sleep})
	if err != nil {
		t.Fatal(err)
	}
	ind, err := stix.NewIndicator(ioc.Observable{Type: ioc.TypeIPv4, Value: "45.1.2.3"}, &ioc.Record{Source: "t"}, &stix.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(ind)
	msg, err := queue.Encode(queue.Batch{Source: "t", Objects: []json.RawMessage{raw}})
	if err != nil {
		t.Fatal(err)
	}
	rs := &recordingRescheduler{}
	var logs bytes.Buffer
	u := &ingest.Uploads{Uploader: client, Rescheduler: rs, Now: func() time.Time { return now }, Logger: slog.New(slog.NewJSONHandler(&logs, nil))}
	res, err := u.Upload(context.Background(), msg)
	if err != nil {
		t.Fatalf("Upload = %v, want the batch rescheduled and the delivery completed", err)
	}
	if !strings.Contains(logs.String(), `"retry_after":"2m0s"`) { // not 120000000000 (ns)
		t.Errorf("log lacks a readable retry_after:\n%s", logs.String())
	}
	if len(rs.msgs) != 1 || rs.msgs[0].ID != msg.ID || !rs.at[0].Equal(now.Add(2*time.Minute)) || !res.RescheduledAt.Equal(rs.at[0]) {
		t.Errorf("rescheduled %+v at %v (result %v)", rs.msgs, rs.at, res.RescheduledAt)
	}
	// Without a rescheduler (the local spool) the error makes the
	// delivery fail, so the batch stays on the queue.
	fake.Inject(sentineltest.Fault{Status: 429, RetryAfter: 2 * time.Minute})
	u.Rescheduler = nil
	if _, err := u.Upload(context.Background(), msg); err == nil {
		t.Error("want an error without a rescheduler")
	}
}
