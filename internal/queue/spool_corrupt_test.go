package queue

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestSpoolMovesCorruptFilesAside: unreadable files used to be skipped but
// stay in ready, uncounted, forever. They are moved to corrupt/ and
// counted, at open and when one is damaged after it was indexed.
func TestSpoolMovesCorruptFilesAside(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	for _, k := range []Kind{KindReady, KindParked} {
		_ = os.MkdirAll(filepath.Join(dir, string(k)), 0o700)
		_ = os.WriteFile(filepath.Join(dir, string(k), "bad.msg"), []byte("{not json\n[]"), 0o600)
	}
	_ = os.WriteFile(filepath.Join(dir, string(KindReady), "short.msg"), []byte(`{"v":1,"id":"short"`), 0o600)
	s := openSpool(t, dir, newClock().opts(5))
	if got := counts(s); got != "ready=0 inflight=0 deadletter=0 parked=0" {
		t.Errorf("counts: %s", got)
	}
	if got := s.Corrupt(); got != 3 {
		t.Errorf("Corrupt() = %d, want 3", got)
	}
	for _, name := range []string{"ready-bad.msg", "parked-bad.msg", "ready-short.msg"} {
		if _, err := os.Stat(filepath.Join(dir, CorruptDir, name)); err != nil {
			t.Errorf("%s not moved aside: %v", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, string(KindReady), "bad.msg")); !os.IsNotExist(err) {
		t.Errorf("bad.msg still in ready: %v", err)
	}

	// A message damaged after it was indexed is moved aside by Receive,
	// which delivers the next one.
	batches, _ := batchesOf(2, 1, 0)
	if _, err := s.Publish(ctx, batches); err != nil {
		t.Fatal(err)
	}
	first := s.sorted(KindReady)[0]
	if err := os.WriteFile(s.path(KindReady, first.ID), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := s.Receive(ctx)
	if err != nil || m.ID == first.ID {
		t.Fatalf("Receive = %v, %v; want the second message", m, err)
	}
	if got := s.Corrupt(); got != 4 {
		t.Errorf("Corrupt() = %d, want 4", got)
	}
	if err := s.Complete(m); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Receive(ctx); err != ErrEmpty {
		t.Errorf("Receive = %v, want ErrEmpty", err)
	}

	// Reopening counts what is in corrupt/ and moves a same-named file
	// aside under another name.
	_ = os.WriteFile(filepath.Join(dir, string(KindReady), "bad.msg"), []byte("x"), 0o600)
	s2 := openSpool(t, dir, newClock().opts(5))
	if got := s2.Corrupt(); got != 5 {
		t.Errorf("after reopening: Corrupt() = %d, want 5", got)
	}
}
