package runrecord

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Sender writes encoded rows (each a JSON object) somewhere. Send may be
// called from several goroutines at once. An error means the rows it
// names (or all of them) were not written; Send does not retry beyond what
// its contract says.
type Sender interface {
	Send(ctx context.Context, rows []json.RawMessage) error
}

// BatcherOptions configure a Batcher. A zero field means its default.
type BatcherOptions struct {
	// Sender receives the rows. Required.
	Sender Sender
	// MaxRows is how many rows the buffer holds before Record sends them
	// (default 50).
	MaxRows int
	// FlushTimeout bounds one send, whatever the caller's context (default
	// 30s): a run cancelled by its deadline still gets its record written,
	// and a slow ingestion endpoint cannot hold an invocation for long.
	FlushTimeout time.Duration
	// Logger receives failed writes (default slog.Default()).
	Logger *slog.Logger
}

// Stats are a Batcher's counters since it was made.
type Stats struct {
	Written int64 // rows the Sender accepted
	Failed  int64 // rows dropped because a send failed or a row did not encode
}

// Batcher is a Recorder that buffers rows and sends them in batches: when
// the buffer holds MaxRows rows and when Flush is called (at the end of
// each invocation). It is safe for concurrent use.
type Batcher struct {
	opts BatcherOptions

	mu  sync.Mutex
	buf []json.RawMessage

	written, failed atomic.Int64
}

// NewBatcher returns a Batcher sending to opts.Sender.
func NewBatcher(opts BatcherOptions) (*Batcher, error) {
	if opts.Sender == nil {
		return nil, fmt.Errorf("runrecord.NewBatcher: no Sender")
	}
	if opts.MaxRows <= 0 {
		opts.MaxRows = 50
	}
	if opts.FlushTimeout <= 0 {
		opts.FlushTimeout = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Batcher{opts: opts}, nil
}

// Record buffers r, and sends the buffer when it is full. A failed send is
// counted and logged, never returned.
func (b *Batcher) Record(ctx context.Context, r Row) {
	enc, err := json.Marshal(r)
	if err != nil {
		b.failed.Add(1)
		b.opts.Logger.Warn("run record not written: it does not encode", "function", r.Function, "feed", r.Feed, "error", err)
		return
	}
	b.mu.Lock()
	b.buf = append(b.buf, enc)
	var full []json.RawMessage
	if len(b.buf) >= b.opts.MaxRows {
		full, b.buf = b.buf, nil
	}
	b.mu.Unlock()
	if full != nil {
		_ = b.send(ctx, full) // counted and logged
	}
}

// Flush sends every buffered row. Its error is already counted and logged;
// callers may ignore it.
func (b *Batcher) Flush(ctx context.Context) error {
	b.mu.Lock()
	rows := b.buf
	b.buf = nil
	b.mu.Unlock()
	if len(rows) == 0 {
		return nil
	}
	return b.send(ctx, rows)
}

// Stats returns the counters.
func (b *Batcher) Stats() Stats {
	return Stats{Written: b.written.Load(), Failed: b.failed.Load()}
}

func (b *Batcher) send(ctx context.Context, rows []json.RawMessage) error {
	// Detached from the caller's cancellation, bounded by FlushTimeout.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.opts.FlushTimeout)
	defer cancel()
	err := b.opts.Sender.Send(ctx, rows)
	if err != nil {
		// A Sender may have written some chunks; it says how many failed.
		n := int64(len(rows))
		var se *SendError
		if errors.As(err, &se) && se.Failed <= len(rows) {
			n = int64(se.Failed)
		}
		b.written.Add(int64(len(rows)) - n)
		b.failed.Add(n)
		b.opts.Logger.Warn("run records not written; the pipeline goes on", "rows", n,
			"failed_total", b.failed.Load(), "error", err)
		return fmt.Errorf("run records: %d of %d rows not written: %w", n, len(rows), err)
	}
	b.written.Add(int64(len(rows)))
	return nil
}
