package queue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
)

// replayReceiveMax is how many messages Replay receives per call, and
// replayPeekMax how many it browses per call.
const (
	replayReceiveMax = 20
	replayPeekMax    = 100
)

// Replay moves dead-lettered messages (the upload queue's dead-letter
// sub-queue) and parked messages (the parked queue, and its own dead-letter
// sub-queue) back to the upload queue, as selected by opts. Each copy keeps
// the body and the application properties (minus the dead-letter and park
// annotations), gets a new MessageID (the content hash plus a "-r<time>"
// suffix, so duplicate detection doesn't drop it) and the properties
// original_message_id, replayed_from and replayed_at. A source message is
// completed only after its copy was sent.
//
// Replay doesn't consume what it won't move: it first browses each source
// (PeekMessages, no lock, no delivery counted) and picks the messages to
// move; skipped ones are counted there. Only when something is to be moved
// does it receive, and only until it has moved every pick: a skipped
// message received on the way (Service Bus delivers in order) is held and
// abandoned at the end, which counts a delivery. So a parked message
// skipped by many filtered replays could reach the parked queue's
// maxDeliveryCount (set very high in infra for this reason) and be
// dead-lettered there; that is why the parked queue's dead-letter
// sub-queue is a parked source too (by its park reason).
//
// A source counts as drained when no message arrives within opts.Wait (a
// pick that can't be received: expired or taken meanwhile). Replay returns
// what it did so far along with any error.
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
		if err != nil {
			return res, err
		}
		err = s.replayFrom(ctx, &opts, s.parkedQueue, azservicebus.SubQueueDeadLetter, ReplayFromParked, &res.Parked, &moved)
	}
	return res, err
}

// replayKey identifies a message across peek and receive.
func replayKey(m *azservicebus.ReceivedMessage) string {
	if m.SequenceNumber != nil {
		return fmt.Sprint(*m.SequenceNumber)
	}
	return "id:" + m.MessageID
}

func (s *ServiceBus) replayFrom(ctx context.Context, opts *ReplayOptions, queue string, sub azservicebus.SubQueue,
	from string, count *ReplayCount, moved *int) error {
	wait := opts.Wait
	if wait <= 0 {
		wait = 5 * time.Second
	}
	src := queue
	if sub == azservicebus.SubQueueDeadLetter {
		src += "/$DeadLetterQueue"
	}
	r, err := s.client.NewReceiver(queue, sub)
	if err != nil {
		return fmt.Errorf("service bus replay from %s: receiver: %w", src, err)
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
			s.logger.Warn("queue: replay: releasing skipped messages", "source", src, "error", e.Error())
		}
	}()

	// Browse: pick what to move without locking anything.
	picks := map[string]bool{}
	for {
		msgs, err := r.PeekMessages(ctx, replayPeekMax, nil)
		if err != nil {
			return fmt.Errorf("service bus replay from %s: peek: %w", src, err)
		}
		if len(msgs) == 0 {
			break
		}
		for _, m := range msgs {
			k := replayKey(m)
			if picks[k] {
				continue
			}
			if (opts.Max > 0 && *moved+len(picks) >= opts.Max) || !opts.matches(receivedReason(m, from)) {
				count.Skipped++
				continue
			}
			picks[k] = true
		}
	}

	// Receive until every pick was moved, holding what else comes first.
	for len(picks) > 0 {
		rctx, cancel := context.WithTimeout(ctx, wait)
		msgs, rerr := r.ReceiveMessages(rctx, replayReceiveMax, nil)
		cancel()
		if rerr != nil && ctx.Err() != nil {
			return fmt.Errorf("service bus replay from %s: %w", src, ctx.Err())
		}
		if rerr != nil && !errors.Is(rerr, context.DeadlineExceeded) {
			return fmt.Errorf("service bus replay from %s: receive: %w", src, rerr)
		}
		if len(msgs) == 0 {
			return nil // drained
		}
		for _, m := range msgs {
			k := replayKey(m)
			if !picks[k] {
				// Skipped (counted when browsing), arrived since, or
				// moved already and back after a lost lock.
				held = append(held, m)
				continue
			}
			if err := s.resend(ctx, m, from); err != nil {
				held = append(held, m)
				return fmt.Errorf("service bus replay from %s: %w", src, err)
			}
			if err := r.CompleteMessage(ctx, m, nil); err != nil {
				// The copy is on the queue; the source comes back after
				// its lock expires and a later replay sends it again.
				return fmt.Errorf("service bus replay from %s: complete: %w", src, err)
			}
			delete(picks, k)
			count.Moved++
			*moved++
		}
	}
	return nil
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

// receivedReason is why m was dead-lettered or parked: for a parked
// message (also one dead-lettered from the parked queue), its park reason.
func receivedReason(m *azservicebus.ReceivedMessage, from string) string {
	if from == ReplayFromDeadLetter {
		if m.DeadLetterReason != nil {
			return *m.DeadLetterReason
		}
		return ""
	}
	r, _ := m.ApplicationProperties[PropReason].(string)
	return r
}
