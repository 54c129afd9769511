package queue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
)

// replayReceiveMax is how many messages Replay receives per call.
const replayReceiveMax = 20

// Replay moves dead-lettered messages (the upload queue's dead-letter
// sub-queue) and parked messages (the parked queue) back to the upload
// queue, as selected by opts. Each copy keeps the body and the application
// properties (minus the dead-letter and park annotations), gets a new
// MessageID (the content hash plus a "-r<time>" suffix, so duplicate
// detection doesn't drop it) and the properties original_message_id,
// replayed_from and replayed_at. A source message is completed only after
// its copy was sent; a message that is skipped is held until the source is
// drained and then abandoned, so it stays where it was (its delivery count
// rises, which doesn't matter in a dead-letter or parked queue).
//
// A source counts as drained when no message arrives within opts.Wait.
// Replay returns what it did so far along with any error.
func (s *ServiceBus) Replay(ctx context.Context, opts ReplayOptions) (ReplayResult, error) {
	var res ReplayResult
	dl, parked, err := opts.sources()
	if err != nil {
		return res, err
	}
	moved := 0
	if dl {
		err = s.replayFrom(ctx, &opts, s.queue, azservicebus.SubQueueDeadLetter, ReplayFromDeadLetter, &res.DeadLetter, &moved)
		if err != nil {
			return res, err
		}
	}
	if parked {
		err = s.replayFrom(ctx, &opts, s.parkedQueue, 0, ReplayFromParked, &res.Parked, &moved)
	}
	return res, err
}

func (s *ServiceBus) replayFrom(ctx context.Context, opts *ReplayOptions, queue string, sub azservicebus.SubQueue,
	from string, count *ReplayCount, moved *int) error {
	wait := opts.Wait
	if wait <= 0 {
		wait = 5 * time.Second
	}
	r, err := s.client.NewReceiver(queue, sub)
	if err != nil {
		return fmt.Errorf("service bus replay from %s: receiver: %w", from, err)
	}
	var held []*azservicebus.ReceivedMessage
	defer func() {
		// Release the skipped messages; use a context that outlives a
		// cancelled ctx so the locks are not held until they expire.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		var errs []error
		for _, m := range held {
			errs = append(errs, r.AbandonMessage(rctx, m, nil))
		}
		errs = append(errs, r.Close(rctx))
		if e := errors.Join(errs...); e != nil {
			// Not fatal: an unreleased message comes back when its
			// lock expires.
			s.logger.Warn("queue: replay: releasing skipped messages", "source", from, "error", e.Error())
		}
	}()
	seen := map[string]bool{}
	for {
		rctx, cancel := context.WithTimeout(ctx, wait)
		msgs, rerr := r.ReceiveMessages(rctx, replayReceiveMax, nil)
		cancel()
		if rerr != nil && ctx.Err() != nil {
			return fmt.Errorf("service bus replay from %s: %w", from, ctx.Err())
		}
		if rerr != nil && !errors.Is(rerr, context.DeadlineExceeded) {
			return fmt.Errorf("service bus replay from %s: receive: %w", from, rerr)
		}
		if len(msgs) == 0 {
			return nil // drained
		}
		for _, m := range msgs {
			key := m.MessageID
			if m.SequenceNumber != nil {
				key = fmt.Sprint(*m.SequenceNumber)
			}
			if seen[key] {
				// Its lock expired while held: skipped already.
				held = append(held, m)
				continue
			}
			seen[key] = true
			reason := receivedReason(m, sub)
			if (opts.Max > 0 && *moved >= opts.Max) || !opts.matches(reason) {
				held = append(held, m)
				count.Skipped++
				continue
			}
			if err := s.resend(ctx, m, from); err != nil {
				held = append(held, m)
				return fmt.Errorf("service bus replay from %s: %w", from, err)
			}
			if err := r.CompleteMessage(ctx, m, nil); err != nil {
				// The copy is on the queue; the source comes back after
				// its lock expires and a later replay sends it again.
				return fmt.Errorf("service bus replay from %s: complete: %w", from, err)
			}
			count.Moved++
			*moved++
		}
	}
}

// resend sends a replayed copy of m to the upload queue.
func (s *ServiceBus) resend(ctx context.Context, m *azservicebus.ReceivedMessage, from string) error {
	now := s.now()
	ct := ContentType
	if m.ContentType != nil && *m.ContentType != "" {
		ct = *m.ContentType
	}
	msg := Message{
		ID:          replayID(m.MessageID, now),
		Body:        m.Body,
		ContentType: ct,
		Properties:  replayProps(m.ApplicationProperties, m.MessageID, from, now),
	}
	b, err := s.sender.NewMessageBatch(ctx)
	if err != nil {
		return fmt.Errorf("new message batch: %w", err)
	}
	if err := b.AddMessage(toSDK(msg, s.session)); err != nil {
		return fmt.Errorf("add message: %w", err)
	}
	if err := s.sender.SendMessageBatch(ctx, b); err != nil {
		return fmt.Errorf("send to %s: %w", s.queue, err)
	}
	return nil
}

// receivedReason is why m was dead-lettered or parked.
func receivedReason(m *azservicebus.ReceivedMessage, sub azservicebus.SubQueue) string {
	if sub == azservicebus.SubQueueDeadLetter {
		if m.DeadLetterReason != nil {
			return *m.DeadLetterReason
		}
		return ""
	}
	r, _ := m.ApplicationProperties[PropReason].(string)
	return r
}
