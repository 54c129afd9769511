package ingest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/feeds2sentinel/feeds2sentinel/internal/ioc"
	"github.com/feeds2sentinel/feeds2sentinel/internal/queue"
	"github.com/feeds2sentinel/feeds2sentinel/internal/sentinel/sentineltest"
	"github.com/feeds2sentinel/feeds2sentinel/internal/stix"
)

// flakyPublisher fails one Publish call (a Service Bus send failure in the
// middle of a run) and corrupts one object of another batch, so that
// Sentinel rejects that record (a partial failure).
type flakyPublisher struct {
	next      queue.Publisher
	mu        sync.Mutex
	calls     int
	failAt    int
	corruptAt int
	corrupted []string
}

func (f *flakyPublisher) Publish(ctx context.Context, batches []queue.Batch) (int, error) {
	f.mu.Lock()
	f.calls++
	n := f.calls
	f.mu.Unlock()
	if n == f.failAt {
		return 0, errors.New("amqp: link detached (injected)")
	}
	if n == f.corruptAt && len(batches) > 0 && len(batches[0].Objects) > 1 {
		var obj map[string]any
		json.Unmarshal(batches[0].Objects[1], &obj)
		delete(obj, "valid_from") // Sentinel: required property missing
		b, _ := json.Marshal(obj)
		objs := append([]json.RawMessage(nil), batches[0].Objects...)
		objs[1] = b
		batches = []queue.Batch{{Source: batches[0].Source, Objects: objs}}
		f.mu.Lock()
		f.corrupted = append(f.corrupted, obj["id"].(string))
		f.mu.Unlock()
	}
	return f.next.Publish(ctx, batches)
}

// TestFaultInjection drives 1,500 indicators through a pipeline that loses a
// Service Bus send mid-run, is killed mid-upload and restarted, and uploads
// to a Sentinel answering 429, 500 and timeouts at random. Afterwards every
// valid indicator is in Sentinel exactly once by id, or dead-lettered with
// a reason; the one corrupted record is rejected by Sentinel and counted.
func TestFaultInjection(t *testing.T) {
	flaky := &flakyPublisher{failAt: 4, corruptAt: 9}
	h := newHarnessOpts(t, sentineltest.ServerOptions{
		FaultProbability: 0.4,
		Seed:             7,
		RandomFaults: []sentineltest.Fault{
			{Status: 429, RetryAfter: time.Second},
			{Status: 500},
			{Status: 503},
			{Delay: 300 * time.Millisecond}, // longer than the client's try timeout
		},
	}, harnessOptions{tryTimeout: 100 * time.Millisecond, publisher: func(p queue.Publisher) queue.Publisher {
		flaky.next = p
		return flaky
	}})

	var list strings.Builder
	want := map[string]bool{}
	for i := 0; i < 1500; i++ {
		ip := fmt.Sprintf("45.%d.%d.%d", 60+i/62500, (i/250)%250, 1+i%250)
		list.WriteString(ip + "\n")
		want[stix.IndicatorID(ioc.Observable{Type: ioc.TypeIPv4, Value: ip}, 0)] = true
	}
	h.feeds.set("/ips.txt", []byte(list.String()))
	spec := h.userList("fault-list", "/ips.txt", false)

	// Run 1 loses a batch on the way to the queue: the run fails, saying
	// how many indicators were not enqueued, and remembers only the rest.
	rep1, err := h.p.RunFeed(context.Background(), spec)
	if err == nil || rep1.Counts.NotEnqueued == 0 || !strings.Contains(err.Error(), "not enqueued") {
		t.Fatalf("run 1: err %v, counts %+v", err, rep1.Counts)
	}
	// Run 2 enqueues exactly what run 1 did not.
	h.clock.Advance(time.Minute)
	rep2 := h.run(spec)
	if rep1.Counts.Enqueued+rep2.Counts.Enqueued != 1500 || rep2.Counts.Unchanged != rep1.Counts.Enqueued {
		t.Fatalf("run 1 %+v, run 2 %+v", rep1.Counts, rep2.Counts)
	}

	// The process is killed while uploading: one message is leased and
	// never settled. A restarted process finds it again after the lease.
	if _, err := h.spool.Receive(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.store.Close()
	h.clock.Advance(10 * time.Minute)
	h.hopts.publisher = func(p queue.Publisher) queue.Publisher { return p }
	h.open()

	// Make sure each kind of fault happens at least once, then random ones.
	h.sentinel.Inject(sentineltest.Fault{Delay: 300 * time.Millisecond}, sentineltest.Fault{Status: 429, RetryAfter: time.Second},
		sentineltest.Fault{Status: 500})
	res := h.drain()
	statuses := map[int]int{}
	for _, r := range h.sentinel.Requests() {
		statuses[r.Status]++
	}
	t.Logf("drain: %+v; fake answered %v", res, statuses)

	// Every valid indicator is in Sentinel (exactly one object per id) or
	// dead-lettered with a reason.
	got := map[string]bool{}
	for name := range h.sentinel.Objects() {
		if _, id, ok := strings.Cut(name, "---"); ok && strings.HasPrefix(id, "indicator--") {
			got[id] = true
		}
	}
	dead, err := h.spool.List(queue.KindDeadLetter)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range dead {
		if m.Reason == "" {
			t.Errorf("dead-lettered message %s has no reason", m.ID)
		}
		b, err := queue.Decode(m.Body)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range b.Objects {
			var v struct{ ID string }
			json.Unmarshal(o, &v)
			if strings.HasPrefix(v.ID, "indicator--") {
				got[v.ID] = true
			}
		}
	}
	for _, id := range flaky.corrupted {
		delete(want, id) // rejected by Sentinel, logged and counted
	}
	for id := range want {
		if !got[id] {
			t.Errorf("%s lost: neither in Sentinel nor dead-lettered", id)
		}
	}
	for id := range got {
		if !want[id] {
			t.Errorf("%s is in Sentinel but was never valid", id)
		}
	}
	if len(flaky.corrupted) != 1 || res.Rejected != 1 {
		t.Errorf("corrupted %v, Sentinel rejected %d records, want 1", flaky.corrupted, res.Rejected)
	}
	if len(dead) > 0 {
		t.Logf("%d batches dead-lettered after repeated faults (allowed; they carry a reason)", len(dead))
	}
}
