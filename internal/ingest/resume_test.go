package ingest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/feeds2sentinel/feeds2sentinel/internal/ingest"
	"github.com/feeds2sentinel/feeds2sentinel/internal/queue"
	"github.com/feeds2sentinel/feeds2sentinel/internal/sentinel"
	"github.com/feeds2sentinel/feeds2sentinel/internal/sentinel/sentineltest"
	"github.com/feeds2sentinel/feeds2sentinel/internal/state"
)

// killingPublisher enqueues a batch and then, at the chosen publish, ends
// the goroutine that runs the feed (runtime.Goexit): the process "dies"
// between the enqueue and the state write, the worst moment.
type killingPublisher struct {
	next   queue.Publisher
	killAt int
	n      int
}

func (k *killingPublisher) Publish(ctx context.Context, bs []queue.Batch) (int, error) {
	n, err := k.next.Publish(ctx, bs)
	k.n++
	if k.n == k.killAt {
		runtime.Goexit()
	}
	return n, err
}

// countingUploader counts the indicator objects uploaded per id.
type countingUploader struct {
	next ingest.Uploader
	mu   sync.Mutex
	ids  map[string]int
}

func (c *countingUploader) Upload(ctx context.Context, objs []json.RawMessage) (*sentinel.Result, error) {
	res, err := c.next.Upload(ctx, objs)
	if err == nil {
		c.mu.Lock()
		for _, o := range objs {
			var v struct{ ID string }
			json.Unmarshal(o, &v)
			if strings.HasPrefix(v.ID, "indicator--") {
				c.ids[v.ID]++
			}
		}
		c.mu.Unlock()
	}
	return res, err
}

// TestKilledRunsResume kills a chunked feed run at random points (after a
// batch reached the queue, before its state was written), restarts the
// process each time and runs the feed again until it completes: every
// indicator is uploaded exactly once by id, state holds every one, and
// nothing is lost. Without -short it runs at 200k records.
func TestKilledRunsResume(t *testing.T) {
	n := 200_000
	if testing.Short() {
		n = 20_000
	}
	killer := &killingPublisher{}
	h := newHarnessOpts(t, sentineltest.ServerOptions{}, harnessOptions{publisher: func(p queue.Publisher) queue.Publisher {
		killer.next, killer.n = p, 0
		return killer
	}})
	var list strings.Builder
	for i := range n {
		fmt.Fprintf(&list, "%d.%d.%d.%d\n", 11+i>>24&63, i>>16&255, i>>8&255, i&255)
	}
	h.feeds.set("/big.txt", []byte(list.String()))
	spec := h.userList("big-list", "/big.txt", true)
	rng := rand.New(rand.NewPCG(11, 12))
	batches := n / queue.MaxObjects
	kills := 0
	for attempt := 0; ; attempt++ {
		if attempt > 10 {
			t.Fatal("the run never completed")
		}
		h.p.ChunkSize = 2000
		killer.killAt = 0
		if attempt < 4 {
			killer.killAt = 1 + rng.IntN(max(1, batches/(4*(attempt+1))))
		}
		done := make(chan error, 1)
		t0 := time.Now()
		finished := false
		go func() {
			defer close(done)
			_, err := h.p.RunFeed(context.Background(), spec)
			finished = true
			done <- err
		}()
		err := <-done
		t.Logf("attempt %d took %s", attempt, time.Since(t0))
		if finished {
			if err != nil {
				t.Fatalf("run %d: %v", attempt, err)
			}
			break
		}
		// Killed: the store and spool are released as the process exits,
		// and a new process opens them a minute later.
		kills++
		h.store.Close()
		h.clock.Advance(time.Minute)
		h.open()
	}
	counter := &countingUploader{next: h.up.Uploader, ids: map[string]int{}}
	h.up.Uploader = counter
	t0 := time.Now()
	h.drain()
	t.Logf("drain took %s", time.Since(t0))
	if len(counter.ids) != n {
		t.Errorf("%d indicators uploaded, want %d", len(counter.ids), n)
	}
	for id, c := range counter.ids {
		if c != 1 {
			t.Errorf("%s uploaded %d times (after %d kills)", id, c, kills)
		}
	}
	active := 0
	err := h.store.Scan(context.Background(), state.ScanFilter{Status: state.StatusActive, Source: "big-list"}, func(*state.Indicator) error {
		active++
		return nil
	})
	if err != nil || active != n {
		t.Errorf("state holds %d active indicators (%v), want %d", active, err, n)
	}
	t.Logf("%d records, %d kills", n, kills)
}

// TestOneRecordNeverBreaksARun: a ThreatFox record with 4,000 tags (an
// object larger than the state store takes, unless the builder trims it)
// must not fail the run nor keep the other records from being remembered:
// it is stored trimmed, or set aside and counted in StateRejected.
func TestOneRecordNeverBreaksARun(t *testing.T) {
	h := newHarness(t, sentineltest.ServerOptions{})
	var tags strings.Builder
	for i := range 4000 {
		if i > 0 {
			tags.WriteString(",")
		}
		fmt.Fprintf(&tags, "%q", fmt.Sprintf("tag-number-%d", i))
	}
	day := h.clock.Now().Format("2006-01-02 15:04:05")
	rec := func(id int, ioc, tags string) string {
		return fmt.Sprintf(`{"id":"%d","ioc":%q,"threat_type":"botnet_cc","ioc_type":"domain","malware":"win.cobalt_strike","malware_printable":"Cobalt Strike","confidence_level":75,"first_seen":"%s UTC","last_seen":null,"reporter":"abuse_ch","tags":[%s]}`, id, ioc, day, tags)
	}
	payload := `{"query_status":"ok","data":[` + rec(1, "ok-one.example-c2.top", `"a"`) + "," +
		rec(2, "huge.example-c2.top", tags.String()) + "," + rec(3, "ok-two.example-c2.top", `"b"`) + `]}`
	h.feeds.set("/tf", []byte(payload))
	rep := h.run(h.spec("threatfox", "/tf"))
	c := rep.Counts
	if c.New != 3 || c.Enqueued != 3 {
		t.Fatalf("counts %+v, want 3 new and enqueued", c)
	}
	got, err := h.store.Get(context.Background(), []string{"domain:ok-one.example-c2.top", "domain:ok-two.example-c2.top", "domain:huge.example-c2.top"})
	if err != nil {
		t.Fatal(err)
	}
	stored := len(got)
	if stored+c.StateRejected != 3 || got["domain:ok-one.example-c2.top"] == nil || got["domain:ok-two.example-c2.top"] == nil {
		t.Errorf("stored %d, state-rejected %d: the other records must be remembered", stored, c.StateRejected)
	}
	// The run after it does not upload the other two again.
	h.clock.Advance(time.Hour)
	if again := h.run(h.spec("threatfox", "/tf")).Counts; again.Unchanged < 2 {
		t.Errorf("second run %+v: the small records were not remembered", again)
	}
}
