package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// clock is a settable test clock.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(fixedNow.UnixNano())
	return c
}
func (c *clock) Now() time.Time      { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Add(d time.Duration) { c.ns.Add(int64(d)) }
func (c *clock) opts(max int) *SpoolOptions {
	return &SpoolOptions{MaxDeliveryCount: max, LockDuration: time.Minute, Now: c.Now,
		Logger: slog.New(slog.DiscardHandler)}
}

// openSpools holds the spool last opened on each directory: opening one
// again in a test stands for a new process, so the old one is closed
// first, as the exit of the old process would release its lock.
var openSpools sync.Map

func openSpool(t testing.TB, dir string, opts *SpoolOptions) *Spool {
	t.Helper()
	if old, ok := openSpools.LoadAndDelete(dir); ok {
		old.(*Spool).Close()
	}
	s, err := OpenSpool(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	openSpools.Store(dir, s)
	t.Cleanup(func() { s.Close() })
	return s
}

func counts(s *Spool) string {
	r, i, d, p := s.Counts()
	return fmt.Sprintf("ready=%d inflight=%d deadletter=%d parked=%d", r, i, d, p)
}

func TestSpoolPublishReceiveComplete(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newClock()
	s := openSpool(t, t.TempDir(), c.opts(5))
	batches, total := batchesOf(3, 4, 10)
	sent, err := s.Publish(ctx, batches)
	if err != nil || sent != total {
		t.Fatalf("Publish = %d, %v", sent, err)
	}
	// The same batches again: duplicates, counted as sent, not stored.
	if sent, err := s.Publish(ctx, batches[:2]); err != nil || sent != 8 {
		t.Fatalf("re-Publish = %d, %v", sent, err)
	}
	if got := counts(s); got != "ready=3 inflight=0 deadletter=0 parked=0" {
		t.Fatalf("counts: %s", got)
	}
	for i, b := range batches {
		want, _ := Encode(b)
		m, err := s.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if m.ID != want.ID || string(m.Body) != string(want.Body) || m.DeliveryCount != 1 ||
			fmt.Sprint(m.Properties) != fmt.Sprint(want.Properties) || !m.EnqueuedAt.Equal(fixedNow) {
			t.Errorf("message %d: %+v", i, m)
		}
		got, err := DecodeMessage(*m)
		if err != nil || got.Source != "test" || len(got.Objects) != 4 {
			t.Errorf("DecodeMessage: %v", err)
		}
	}
	if _, err := s.Receive(ctx); !errors.Is(err, ErrEmpty) {
		t.Fatalf("Receive on empty = %v", err)
	}
	// Inflight messages are duplicates too.
	if sent, err := s.Publish(ctx, batches[:1]); err != nil || sent != 4 {
		t.Fatalf("Publish of inflight = %d, %v", sent, err)
	}
	if got := counts(s); got != "ready=0 inflight=3 deadletter=0 parked=0" {
		t.Fatalf("counts: %s", got)
	}
	inflight, _ := s.List(KindInflight)
	for i := range inflight {
		// List's copies can't settle.
		if err := s.Complete(&inflight[i]); !errors.Is(err, ErrLockLost) {
			t.Errorf("Complete of a listed copy = %v", err)
		}
	}
}

func TestSpoolCompleteRemoves(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	s := openSpool(t, dir, newClock().opts(5))
	batches, _ := batchesOf(1, 1, 0)
	_, _ = s.Publish(ctx, batches)
	m, err := s.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Complete(m); err != nil {
		t.Fatal(err)
	}
	if err := s.Complete(m); !errors.Is(err, ErrLockLost) {
		t.Errorf("second Complete = %v", err)
	}
	for _, k := range PossibleKindValues() {
		entries, _ := os.ReadDir(filepath.Join(dir, string(k)))
		if len(entries) != 0 {
			t.Errorf("%s holds %d files", k, len(entries))
		}
	}
}

func TestSpoolAbandonRedeliverDeadLetter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newClock()
	s := openSpool(t, t.TempDir(), c.opts(3))
	batches, _ := batchesOf(1, 2, 0)
	_, _ = s.Publish(ctx, batches)
	for want := 1; want <= 3; want++ {
		m, err := s.Receive(ctx)
		if err != nil {
			t.Fatalf("delivery %d: %v", want, err)
		}
		if m.DeliveryCount != want {
			t.Errorf("DeliveryCount = %d, want %d", m.DeliveryCount, want)
		}
		if err := s.Abandon(m, fmt.Sprintf("sentinel: 503 (attempt %d)", want)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Receive(ctx); !errors.Is(err, ErrEmpty) {
		t.Fatalf("Receive after dead-lettering = %v", err)
	}
	dl, err := s.List(KindDeadLetter)
	if err != nil || len(dl) != 1 {
		t.Fatalf("List(deadletter) = %d, %v", len(dl), err)
	}
	if dl[0].Reason != ReasonMaxDeliveryCountExceeded || dl[0].Description != "sentinel: 503 (attempt 3)" || dl[0].DeliveryCount != 3 {
		t.Errorf("dead-lettered: reason %q, description %q, count %d", dl[0].Reason, dl[0].Description, dl[0].DeliveryCount)
	}
}

func TestSpoolDeadLetterAndLockLost(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newClock()
	s := openSpool(t, t.TempDir(), c.opts(5))
	batches, _ := batchesOf(2, 1, 0)
	_, _ = s.Publish(ctx, batches)
	m1, _ := s.Receive(ctx)
	if err := s.DeadLetter(m1, "InvalidMessage", "not a JSON array"); err != nil {
		t.Fatal(err)
	}
	m2, _ := s.Receive(ctx)
	c.Add(2 * time.Minute) // the lease expired
	// The expired message comes back on the next Receive, and the first
	// holder has lost it.
	again, err := s.Receive(ctx)
	if err != nil || again.ID != m2.ID || again.DeliveryCount != 2 {
		t.Fatalf("redelivery = %+v, %v", again, err)
	}
	if err := s.Complete(m2); !errors.Is(err, ErrLockLost) {
		t.Errorf("Complete after the redelivery = %v", err)
	}
	if err := s.Abandon(m2, "stale"); !errors.Is(err, ErrLockLost) {
		t.Errorf("Abandon with the old lease = %v", err)
	}
	if err := s.Complete(again); err != nil {
		t.Error(err)
	}
	dl, _ := s.List(KindDeadLetter)
	if len(dl) != 1 || dl[0].Reason != "InvalidMessage" || dl[0].Description != "not a JSON array" {
		t.Errorf("dead letters: %+v", dl)
	}
}

func TestSpoolCrashRecovery(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	c := newClock()
	s := openSpool(t, dir, c.opts(2))
	batches, _ := batchesOf(3, 1, 0)
	_, _ = s.Publish(ctx, batches)
	m1, _ := s.Receive(ctx) // message 1, delivery 1
	_ = s.Abandon(m1, "boom")
	m, _ := s.Receive(ctx) // message 1 again (it keeps its place), delivery 2: its last
	if m.ID != m1.ID || m.DeliveryCount != 2 {
		t.Fatalf("redelivery: %s, count %d", m.ID, m.DeliveryCount)
	}
	_, _ = s.Receive(ctx) // message 2, delivery 1
	_, _ = s.Receive(ctx) // message 3, delivery 1
	// The process dies here: three messages inflight. An interrupted write
	// left a temporary file.
	_ = os.WriteFile(filepath.Join(dir, "ready", tmpPrefix+"123"), []byte("partial"), 0o600)

	// Reopened at once, well within the lease: their holder is gone, so
	// they are back to ready with their delivery counted, and the one out
	// of deliveries dead-lettered.
	s3 := openSpool(t, dir, c.opts(2))
	if got := counts(s3); got != "ready=2 inflight=0 deadletter=1 parked=0" {
		t.Fatalf("reopened: %s", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "ready", tmpPrefix+"123")); !os.IsNotExist(err) {
		t.Errorf("temporary file left: %v", err)
	}
	dl, _ := s3.List(KindDeadLetter)
	if dl[0].ID != m1.ID || dl[0].Reason != ReasonMaxDeliveryCountExceeded || dl[0].Description != "delivery interrupted: the process ended" {
		t.Errorf("dead letter: %+v", dl[0])
	}
	for range 2 {
		m, err := s3.Receive(ctx)
		if err != nil || m.DeliveryCount != 2 {
			t.Fatalf("after recovery: %+v, %v", m, err)
		}
		if fmt.Sprint(m.Properties) != "map[count:1 schema_version:1 source:test]" {
			t.Errorf("properties after reload: %v (%T)", m.Properties, m.Properties[PropCount])
		}
		_ = s3.Complete(m)
	}
}

func TestSpoolReadyAndInflightAfterPowerLoss(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	c := newClock()
	s := openSpool(t, dir, c.opts(5))
	batches, _ := batchesOf(1, 1, 0)
	_, _ = s.Publish(ctx, batches)
	m, _ := s.Receive(ctx)
	// A lost directory update leaves the file in both directories.
	data, err := os.ReadFile(filepath.Join(dir, "inflight", m.ID+".msg"))
	if err != nil {
		t.Fatal(err)
	}
	_ = os.WriteFile(filepath.Join(dir, "ready", m.ID+".msg"), data, 0o600)
	s = openSpool(t, dir, c.opts(5))
	if got := counts(s); got != "ready=1 inflight=0 deadletter=0 parked=0" {
		t.Fatalf("counts: %s", got)
	}
	again, err := s.Receive(ctx)
	if err != nil || again.ID != m.ID || again.DeliveryCount != 2 {
		t.Fatalf("redelivery: %+v, %v", again, err)
	}
}

func TestSpoolFIFOAcrossReopen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	c := newClock()
	s := openSpool(t, dir, c.opts(5))
	batches, _ := batchesOf(20, 1, 0)
	_, _ = s.Publish(ctx, batches[:10])
	s = openSpool(t, dir, c.opts(5))
	_, _ = s.Publish(ctx, batches[10:])
	for i, b := range batches {
		want, _ := Encode(b)
		m, err := s.Receive(ctx)
		if err != nil || m.ID != want.ID {
			t.Fatalf("message %d out of order: %v", i, err)
		}
	}
}

func TestSpoolConcurrentReceivers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openSpool(t, t.TempDir(), newClock().opts(5))
	batches, _ := batchesOf(60, 1, 0)
	if _, err := s.Publish(ctx, batches); err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		seen = map[string]int{}
		wg   sync.WaitGroup
	)
	for range 6 {
		wg.Go(func() {
			for {
				m, err := s.Receive(ctx)
				if errors.Is(err, ErrEmpty) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				seen[m.ID]++
				mu.Unlock()
				if err := s.Complete(m); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if len(seen) != 60 {
		t.Errorf("%d distinct messages received, want 60", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s received %d times", id, n)
		}
	}
}

func TestSpoolOpenErrors(t *testing.T) {
	t.Parallel()
	if _, err := OpenSpool("", nil); !errors.Is(err, ErrInvalidOptions) {
		t.Errorf("empty dir: %v", err)
	}
	file := filepath.Join(t.TempDir(), "file")
	_ = os.WriteFile(file, nil, 0o600)
	if _, err := OpenSpool(file, nil); err == nil {
		t.Error("a file as spool directory: no error")
	}
	// An unreadable message file is skipped, not fatal.
	dir := t.TempDir()
	_ = os.MkdirAll(filepath.Join(dir, "ready"), 0o700)
	_ = os.WriteFile(filepath.Join(dir, "ready", "bad.msg"), []byte("{not json\n[]"), 0o600)
	s := openSpool(t, dir, newClock().opts(5))
	if got := counts(s); got != "ready=0 inflight=0 deadletter=0 parked=0" {
		t.Errorf("counts: %s", got)
	}
	if _, err := s.List("bogus"); !errors.Is(err, ErrInvalidOptions) {
		t.Errorf("List(bogus): %v", err)
	}
}

// A slow holder settles its message after the lease expired, as long as
// nothing else took it (single process: nobody else could).
func TestSpoolSettleAfterExpiredLease(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newClock()
	s := openSpool(t, t.TempDir(), c.opts(5))
	batches, _ := batchesOf(4, 1, 0)
	_, _ = s.Publish(ctx, batches)
	var held []*Message
	for range 3 {
		m, err := s.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, m)
	}
	c.Add(10 * time.Minute) // every lease (1 minute) expired
	// Another Receive finds a ready message, so the expired leases stay.
	m4, err := s.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Complete(held[0]); err != nil {
		t.Errorf("Complete after the lease: %v", err)
	}
	if err := s.Abandon(held[1], "slow"); err != nil {
		t.Errorf("Abandon after the lease: %v", err)
	}
	if err := s.DeadLetter(held[2], "Bad", "late"); err != nil {
		t.Errorf("DeadLetter after the lease: %v", err)
	}
	if err := s.Complete(held[0]); !errors.Is(err, ErrLockLost) {
		t.Errorf("second Complete = %v", err)
	}
	if got := counts(s); got != "ready=1 inflight=1 deadletter=1 parked=0" {
		t.Fatalf("counts: %s", got)
	}
	// Once a Receive returned the expired lease to ready (and redelivered
	// it), the old holder has lost it.
	c.Add(10 * time.Minute)
	again, _ := s.Receive(ctx) // held[1], abandoned: ready
	if again == nil || again.ID != held[1].ID {
		t.Fatalf("redelivered %+v", again)
	}
	if m, err := s.Receive(ctx); err != nil || m.ID != m4.ID || m.DeliveryCount != 2 {
		t.Fatalf("expired lease not returned: %+v, %v", m, err)
	}
	if err := s.Complete(m4); !errors.Is(err, ErrLockLost) {
		t.Errorf("Complete after the redelivery = %v", err)
	}
}

// A process killed in the middle of a settlement leaves the message where
// OpenSpool finds it: never skipped as unreadable.
func TestSpoolReopenAfterKilledSettle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newClock()
	batches, _ := batchesOf(1, 1, 0)

	// deadLetterTwice dead-letters the same content twice (the second
	// copy gets a new id) and returns the inflight file of the second
	// delivery as it was before DeadLetter.
	deadLetterTwice := func(t *testing.T, dir string) (id string, inflight []byte) {
		s := openSpool(t, dir, c.opts(5))
		for i := range 2 {
			_, _ = s.Publish(ctx, batches)
			m, err := s.Receive(ctx)
			if err != nil {
				t.Fatal(err)
			}
			id = m.ID
			if i == 1 {
				inflight, err = os.ReadFile(filepath.Join(dir, "inflight", m.ID+".msg"))
				if err != nil {
					t.Fatal(err)
				}
			}
			c.Add(time.Second) // a distinct replay id
			if err := s.DeadLetter(m, "Bad", "twice"); err != nil {
				t.Fatal(err)
			}
		}
		if got := counts(s); got != "ready=0 inflight=0 deadletter=2 parked=0" {
			t.Fatalf("before the crash: %s", got)
		}
		return id, inflight
	}
	checkDead := func(t *testing.T, dir string) {
		s := openSpool(t, dir, c.opts(5))
		if got := counts(s); got != "ready=0 inflight=0 deadletter=2 parked=0" {
			t.Fatalf("reopened: %s", got)
		}
		if left, _ := os.ReadDir(filepath.Join(dir, "inflight")); len(left) != 0 {
			t.Errorf("inflight files left: %v", left)
		}
		dl, _ := s.List(KindDeadLetter)
		for _, m := range dl {
			if m.Reason != "Bad" || string(m.Body) == "" {
				t.Errorf("dead letter %+v", m)
			}
		}
	}

	t.Run("dead-letter copy written, inflight file left", func(t *testing.T) {
		dir := t.TempDir()
		id, inflight := deadLetterTwice(t, dir)
		_ = os.WriteFile(filepath.Join(dir, "inflight", id+".msg"), inflight, 0o600)
		checkDead(t, dir)
	})
	t.Run("older version: inflight file rewritten under the new id", func(t *testing.T) {
		dir := t.TempDir()
		id, inflight := deadLetterTwice(t, dir)
		// What the old settle wrote before its move: the new id and the
		// reason, in the inflight file under the old name; the move
		// never happened.
		dl, _ := os.ReadDir(filepath.Join(dir, "deadletter"))
		var newID string
		for _, e := range dl {
			if n := strings.TrimSuffix(e.Name(), ".msg"); n != id {
				newID = n
			}
		}
		_ = os.Remove(filepath.Join(dir, "deadletter", newID+".msg"))
		head, body, _ := strings.Cut(string(inflight), "\n")
		head = strings.Replace(head, `"id":"`+id+`"`, `"id":"`+newID+`","reason":"Bad"`, 1)
		_ = os.WriteFile(filepath.Join(dir, "inflight", id+".msg"), []byte(head+"\n"+body), 0o600)
		checkDead(t, dir)
	})
	t.Run("ready copy written, inflight file left", func(t *testing.T) {
		dir := t.TempDir()
		s := openSpool(t, dir, c.opts(5))
		_, _ = s.Publish(ctx, batches)
		m, _ := s.Receive(ctx)
		inflight, _ := os.ReadFile(filepath.Join(dir, "inflight", m.ID+".msg"))
		if err := s.Abandon(m, "boom"); err != nil {
			t.Fatal(err)
		}
		_ = os.WriteFile(filepath.Join(dir, "inflight", m.ID+".msg"), inflight, 0o600)
		s = openSpool(t, dir, c.opts(5))
		if got := counts(s); got != "ready=1 inflight=0 deadletter=0 parked=0" {
			t.Fatalf("reopened: %s", got)
		}
		again, err := s.Receive(ctx)
		if err != nil || again.ID != m.ID || again.DeliveryCount != 2 {
			t.Fatalf("redelivery: %+v, %v", again, err)
		}
	})
	t.Run("misnamed inflight file without a reason", func(t *testing.T) {
		dir := t.TempDir()
		s := openSpool(t, dir, c.opts(5))
		_, _ = s.Publish(ctx, batches)
		m, _ := s.Receive(ctx)
		_ = os.Rename(filepath.Join(dir, "inflight", m.ID+".msg"), filepath.Join(dir, "inflight", "other.msg"))
		s = openSpool(t, dir, c.opts(5))
		if got := counts(s); got != "ready=1 inflight=0 deadletter=0 parked=0" {
			t.Fatalf("reopened: %s", got)
		}
		if again, err := s.Receive(ctx); err != nil || again.ID != m.ID {
			t.Fatalf("redelivery: %+v, %v", again, err)
		}
	})
}

// TestSpoolLocked: a second opener of a spool directory is refused with a
// message that says why, and gets in once the first closed it.
func TestSpoolLocked(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := OpenSpool(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = OpenSpool(dir, &SpoolOptions{LockTimeout: 50 * time.Millisecond})
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "another feeds2sentinel process") {
		t.Fatalf("second open = %v, want ErrLocked naming the cause", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := OpenSpool(dir, &SpoolOptions{LockTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatalf("open after Close: %v", err)
	}
	s2.Close()
}
