package queue

import (
	"context"
	"errors"
	"testing"
)

func TestSpoolParkAndReplay(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	c := newClock()
	s := openSpool(t, dir, c.opts(1))
	batches, _ := batchesOf(4, 1, 0)
	_, _ = s.Publish(ctx, batches)
	// 1: parked then completed, as the uploader does on a permanent error.
	m, _ := s.Receive(ctx)
	if err := s.Park(ctx, *m, "BadRequest", "400 from Sentinel"); err != nil {
		t.Fatal(err)
	}
	if err := s.Park(ctx, *m, "BadRequest", "again"); err != nil {
		t.Fatal(err)
	}
	if err := s.Complete(m); err != nil {
		t.Fatal(err)
	}
	// 2 and 3: dead-lettered. 4 stays ready.
	m2, _ := s.Receive(ctx)
	_ = s.Abandon(m2, "503")
	m3, _ := s.Receive(ctx)
	_ = s.DeadLetter(m3, "Unauthorized", "401")
	if got := counts(s); got != "ready=1 inflight=0 deadletter=2 parked=1" {
		t.Fatalf("before replay: %s", got)
	}
	parked, _ := s.List(KindParked)
	if p := parked[0].Properties; p[PropReason] != "BadRequest" || p[PropOriginalMessageID] != m.ID ||
		p[PropDescription] != "400 from Sentinel" || p[PropParkedAt] != "2026-03-01T12:00:00Z" {
		t.Errorf("parked properties: %v", p)
	}

	if _, err := s.Replay(ctx, ReplayOptions{From: "bogus"}); !errors.Is(err, ErrInvalidOptions) {
		t.Errorf("bogus From: %v", err)
	}
	res, err := s.Replay(ctx, ReplayOptions{From: ReplayFromDeadLetter, Reason: "maxdelivery"})
	if err != nil || res != (ReplayResult{DeadLetter: ReplayCount{Moved: 1, Skipped: 1}}) {
		t.Fatalf("Replay(deadletter, maxdelivery) = %+v, %v", res, err)
	}
	// Reopen: replay state is durable.
	s = openSpool(t, dir, c.opts(1))
	res, err = s.Replay(ctx, ReplayOptions{Max: 1})
	if err != nil || res != (ReplayResult{DeadLetter: ReplayCount{Moved: 1}, Parked: ReplayCount{Skipped: 1}}) {
		t.Fatalf("Replay(max 1) = %+v, %v", res, err)
	}
	res, err = s.Replay(ctx, ReplayOptions{})
	if err != nil || res.Moved() != 1 {
		t.Fatalf("Replay(all) = %+v, %v", res, err)
	}
	if got := counts(s); got != "ready=4 inflight=0 deadletter=0 parked=0" {
		t.Fatalf("after replay: %s", got)
	}
	want := map[string]string{m.ID: "parked", m2.ID: "deadletter", m3.ID: "deadletter"}
	for range 4 {
		r, err := s.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if r.DeliveryCount != 1 || r.Reason != "" {
			t.Errorf("replayed %s: count %d reason %q", r.ID, r.DeliveryCount, r.Reason)
		}
		orig, _ := r.Properties[PropOriginalMessageID].(string)
		if orig == "" {
			continue // message 4, never replayed
		}
		if r.ID == orig || r.ID[:32] != orig {
			t.Errorf("replayed ID %s for %s", r.ID, orig)
		}
		if r.Properties[PropReplayedFrom] != want[orig] {
			t.Errorf("%s replayed from %v, want %s", orig, r.Properties[PropReplayedFrom], want[orig])
		}
		if _, ok := r.Properties[PropReason]; ok {
			t.Errorf("%s: park reason kept", orig)
		}
		delete(want, orig)
	}
	if len(want) != 0 {
		t.Errorf("not replayed: %v", want)
	}
}

func TestSpoolParkForeignMessage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openSpool(t, t.TempDir(), newClock().opts(5))
	// A message with an ID that is no file name and a body that is no JSON.
	m := Message{ID: "../../etc/passwd", Body: []byte("\x00garbage")}
	if err := s.Park(ctx, m, "InvalidMessage", "not JSON"); err != nil {
		t.Fatal(err)
	}
	got, err := s.List(KindParked)
	if err != nil || len(got) != 1 || got[0].ID != m.ID || string(got[0].Body) != string(m.Body) {
		t.Fatalf("List(parked) = %+v, %v", got, err)
	}
}

// BenchmarkSpoolPublishReceive publishes 100k objects in batches of 100,
// then receives and completes every message: the local pipeline's queue
// cost per run. "sync" is the default (fsync on); "nosync" shows the cost
// without the disk.
func BenchmarkSpoolPublishReceive(b *testing.B) {
	batches, total := batchesOf(1000, 100, 400)
	for _, mode := range []struct {
		name   string
		noSync bool
	}{{"sync", false}, {"nosync", true}} {
		b.Run(mode.name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				s := openSpool(b, b.TempDir(), &SpoolOptions{NoSync: mode.noSync})
				sent, err := s.Publish(ctx, batches)
				if err != nil || sent != total {
					b.Fatal(sent, err)
				}
				for {
					m, err := s.Receive(ctx)
					if errors.Is(err, ErrEmpty) {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					if err := s.Complete(m); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(total), "objects/op")
		})
	}
}
