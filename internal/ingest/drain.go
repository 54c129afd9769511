package ingest

import (
	"context"
	"errors"
	"fmt"

	"github.com/feeds2sentinel/feeds2sentinel/internal/queue"
	"github.com/feeds2sentinel/feeds2sentinel/internal/state"
)

// DrainResult counts what Drain did.
type DrainResult struct {
	Messages     int
	Uploaded     int // objects accepted
	Rejected     int // records Sentinel rejected
	Redeliveries int // messages abandoned for a later attempt
	Parked       int
	DeadLettered int
}

// Drain uploads every message on the local spool, with the queue's
// semantics: success completes the message; a failure abandons it (it is
// redelivered, and dead-lettered after the spool's maximum delivery count).
// It stops when the spool is empty or when every ready message failed in a
// row (nothing is lost: they stay on the spool for the next run).
func Drain(ctx context.Context, sp *queue.Spool, u *Uploads) (DrainResult, error) {
	var res DrainResult
	failures := 0
	for {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		msg, err := sp.Receive(ctx)
		if errors.Is(err, queue.ErrEmpty) {
			return res, nil
		}
		if err != nil {
			return res, fmt.Errorf("spool receive: %w", err)
		}
		res.Messages++
		r, uerr := u.Upload(ctx, *msg)
		if uerr != nil {
			_, _, deadBefore, _ := sp.Counts()
			if aerr := sp.Abandon(msg, uerr.Error()); aerr != nil {
				return res, fmt.Errorf("spool abandon: %w", aerr)
			}
			if _, _, deadAfter, _ := sp.Counts(); deadAfter > deadBefore {
				res.DeadLettered++
				u.record(ctx, state.UploaderStats{DeadLettered: 1}, uerr)
			} else {
				res.Redeliveries++
			}
			failures++
			ready, _, _, _ := sp.Counts()
			if failures > ready {
				return res, fmt.Errorf("upload failing, %d messages left on the spool for the next run: %w", ready, uerr)
			}
			continue
		}
		failures = 0
		if err := sp.Complete(msg); err != nil {
			return res, fmt.Errorf("spool complete: %w", err)
		}
		if r.Parked {
			res.Parked++
			continue
		}
		res.Uploaded += r.Accepted
		res.Rejected += len(r.Rejected)
	}
}
