package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/feeds2sentinel/feeds2sentinel/internal/queue"
	"github.com/feeds2sentinel/feeds2sentinel/internal/sentinel"
	"github.com/feeds2sentinel/feeds2sentinel/internal/state"
)

// Parker stores a batch Sentinel rejected permanently, with a reason, so an
// operator can fix the cause and replay it. queue.ServiceBus and
// queue.Spool implement it.
type Parker interface {
	Park(ctx context.Context, msg queue.Message, reason, description string) error
}

// Rescheduler puts a copy of a batch back on the queue to become visible
// later. queue.ServiceBus implements it; the local spool does not (there,
// a throttled batch simply stays on the spool for the next drain).
type Rescheduler interface {
	Reschedule(ctx context.Context, msg queue.Message, at time.Time) error
}

// Uploads is the upload use case: one queue message → one Sentinel request.
type Uploads struct {
	Uploader Uploader
	Parker   Parker
	// Store receives the uploader counters (nil = not recorded).
	Store state.Counters
	// MaxDeliveryCount is the queue's maximum delivery count: a failure on
	// that delivery is counted as dead-lettered (0 = queue.DefaultMaxDeliveryCount).
	MaxDeliveryCount int
	// Rescheduler, when set, takes batches Sentinel throttles for longer
	// than the invocation could wait: they come back after Sentinel's
	// Retry-After instead of being redelivered at once (which would burn
	// deliveries and dead-letter them during a long throttling episode).
	Rescheduler Rescheduler
	Logger      *slog.Logger
	Now         func() time.Time
}

// UploadResult is what one upload did.
type UploadResult struct {
	Objects  int                    `json:"objects"`
	Accepted int                    `json:"accepted"`
	Rejected []sentinel.RecordError `json:"rejected,omitempty"`
	Parked   bool                   `json:"parked,omitempty"`
	// RescheduledAt is when a throttled batch comes back (zero if not).
	RescheduledAt time.Time `json:"rescheduled_at,omitzero"`
}

// Upload uploads one queued message. It returns nil when the message is
// done — uploaded (records Sentinel rejected are logged and counted, not
// retried) or parked after a permanent failure — and an error when the
// message must be redelivered (throttling beyond the time budget, 5xx,
// timeouts, token errors). A body that is not a batch is a permanent
// failure: it is parked too.
func (u *Uploads) Upload(ctx context.Context, msg queue.Message) (*UploadResult, error) {
	log := u.logger().With("message_id", msg.ID, "delivery_count", msg.DeliveryCount)
	batch, err := queue.DecodeMessage(msg)
	if err != nil {
		return u.park(ctx, log, msg, "bad_message", err)
	}
	res := &UploadResult{Objects: len(batch.Objects)}
	before := u.clientStats()
	r, err := u.Uploader.Upload(ctx, batch.Objects)
	after := u.clientStats()
	delta := state.UploaderStats{
		// 429s the client waited out and its own retries count too.
		Throttled: after.Throttled - before.Throttled,
		Retries:   after.Retries - before.Retries,
	}
	if msg.DeliveryCount > 1 {
		delta.Retries++ // a redelivery of a batch that failed before
	}
	if err != nil {
		if msg.DeliveryCount >= u.maxDeliveries() {
			// The host abandons it once more and Service Bus moves it to
			// the dead-letter queue: count it here, where the reason is.
			delta.DeadLettered = 1
			log.Error("batch failed on its last delivery; it goes to the dead-letter queue", "error", err)
		}
		var thr *sentinel.ThrottledError
		switch {
		case errors.As(err, &thr):
			if delta.Throttled == 0 {
				delta.Throttled = 1
			}
			delta.DeadLettered = 0 // a throttled batch is rescheduled or redelivered, not lost
			if u.Rescheduler != nil {
				at := u.now().Add(max(thr.RetryAfter, time.Second))
				rerr := u.Rescheduler.Reschedule(ctx, msg, at)
				if rerr == nil {
					log.Warn("throttled by Sentinel; batch rescheduled", "retry_after", thr.RetryAfter.String(), "at", at)
					u.record(ctx, delta, err)
					res.RescheduledAt = at
					return res, nil
				}
				log.Warn("reschedule failed; the message will be redelivered", "error", rerr)
			}
			u.record(ctx, delta, err)
			return nil, fmt.Errorf("throttled by Sentinel (retry after %s); the message will be redelivered: %w", thr.RetryAfter, err)
		case errors.Is(err, sentinel.ErrPermanent):
			return u.park(ctx, log, msg, "sentinel_rejected", err)
		default:
			u.record(ctx, delta, err)
			return nil, fmt.Errorf("upload failed; the message will be redelivered: %w", err)
		}
	}
	res.Accepted = r.Accepted
	res.Rejected = r.Rejected
	for _, re := range r.Rejected {
		log.Warn("record rejected by Sentinel", "index", re.Index, "id", re.ID, "messages", re.Messages)
	}
	delta.Batches = 1
	delta.Objects = int64(r.Accepted)
	delta.Rejected = int64(len(r.Rejected))
	delta.LastSuccess = u.now()
	u.record(ctx, delta, nil)
	log.Info("batch uploaded", "objects", res.Objects, "accepted", res.Accepted, "rejected", len(res.Rejected), "source", batch.Source)
	return res, nil
}

func (u *Uploads) park(ctx context.Context, log *slog.Logger, msg queue.Message, reason string, cause error) (*UploadResult, error) {
	if u.Parker == nil {
		return nil, fmt.Errorf("permanent failure and no parking store: %w", cause)
	}
	if err := u.Parker.Park(ctx, msg, reason, cause.Error()); err != nil {
		return nil, fmt.Errorf("park batch after permanent failure (%v): %w", cause, err)
	}
	log.Error("batch parked", "reason", reason, "error", cause)
	u.record(ctx, state.UploaderStats{Parked: 1}, cause)
	return &UploadResult{Parked: true}, nil
}

func (u *Uploads) record(ctx context.Context, d state.UploaderStats, err error) {
	if u.Store == nil {
		return
	}
	if err != nil {
		d.LastError = err.Error()
	}
	ctx, cancel := detached(ctx)
	defer cancel()
	if serr := u.Store.AddUploaderStats(ctx, d); serr != nil {
		u.logger().Warn("uploader stats not saved", "error", serr)
	}
}

// StatsReporter is an Uploader that keeps its own counters (throttling,
// retries) for the uploader stats. *sentinel.Client implements it.
type StatsReporter interface {
	Stats() sentinel.Stats
}

// clientStats reads the uploader's own counters when it keeps them.
func (u *Uploads) clientStats() sentinel.Stats {
	if c, ok := u.Uploader.(StatsReporter); ok {
		return c.Stats()
	}
	return sentinel.Stats{}
}

func (u *Uploads) maxDeliveries() int {
	if u.MaxDeliveryCount > 0 {
		return u.MaxDeliveryCount
	}
	return queue.DefaultMaxDeliveryCount
}

func (u *Uploads) logger() *slog.Logger {
	if u.Logger != nil {
		return u.Logger
	}
	return slog.Default()
}

func (u *Uploads) now() time.Time {
	if u.Now != nil {
		return u.Now().UTC()
	}
	return time.Now().UTC()
}
