package queue

import (
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
)

// fakeBus is an in-memory Service Bus with the SDK's batch size semantics:
// a batch holds at most maxBytes, counting each message's body plus a fixed
// overhead, and AddMessage returns azservicebus.ErrMessageTooLarge when a
// message doesn't fit in what is left.
type fakeBus struct {
	mu       sync.Mutex
	maxBytes int
	// failSend makes SendMessageBatch fail once this many batches were
	// sent (0 = never fails).
	failSend int
	sends    int                     // batches sent
	peeks    int                     // PeekMessages calls
	queues   map[string][]*fakeEntry // by queue name; dead-letter sub-queue under name+"/$dlq"
	closed   bool
	seq      int64
	// maxDelivery is a queue's MaxDeliveryCount (0 = unlimited): a
	// message abandoned after that many deliveries moves to the queue's
	// dead-letter sub-queue with the reason MaxDeliveryCountExceeded.
	maxDelivery map[string]int
}

type fakeEntry struct {
	msg    *azservicebus.ReceivedMessage
	locked bool
}

const fakeOverhead = 100

var errFakeSend = errors.New("fake: send failed")

func newFakeBus(maxBytes int) *fakeBus {
	return &fakeBus{maxBytes: maxBytes, queues: map[string][]*fakeEntry{}, maxDelivery: map[string]int{}}
}

func (f *fakeBus) NewSender(queue string) (ServiceBusSender, error) {
	return &fakeSender{bus: f, queue: queue}, nil
}

func (f *fakeBus) NewReceiver(queue string, sub azservicebus.SubQueue) (ServiceBusReceiver, error) {
	if sub == azservicebus.SubQueueDeadLetter {
		queue += "/$dlq"
	}
	return &fakeReceiver{bus: f, queue: queue}, nil
}

func (f *fakeBus) Close(context.Context) error { f.closed = true; return nil }

// put adds a received-style message to a queue directly (test setup).
func (f *fakeBus) put(queue string, m *azservicebus.ReceivedMessage) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	seq := f.seq
	m.SequenceNumber = &seq
	f.queues[queue] = append(f.queues[queue], &fakeEntry{msg: m})
}

// messages returns the messages on a queue.
func (f *fakeBus) messages(queue string) []*azservicebus.ReceivedMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*azservicebus.ReceivedMessage
	for _, e := range f.queues[queue] {
		out = append(out, e.msg)
	}
	return out
}

func msgSize(m *azservicebus.Message) int { return len(m.Body) + fakeOverhead }

type fakeSender struct {
	bus   *fakeBus
	queue string
}

type fakeBatch struct {
	sender *fakeSender
	max    int
	size   int
	msgs   []*azservicebus.Message
}

func (b *fakeBatch) AddMessage(m *azservicebus.Message) error {
	if b.size+msgSize(m) > b.max {
		return azservicebus.ErrMessageTooLarge
	}
	b.size += msgSize(m)
	b.msgs = append(b.msgs, m)
	return nil
}

func (b *fakeBatch) NumMessages() int { return len(b.msgs) }

func (s *fakeSender) NewMessageBatch(context.Context) (ServiceBusBatch, error) {
	return &fakeBatch{sender: s, max: s.bus.maxBytes}, nil
}

func (s *fakeSender) SendMessageBatch(ctx context.Context, batch ServiceBusBatch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b, ok := batch.(*fakeBatch)
	if !ok || b.sender != s {
		return errors.New("fake: foreign batch")
	}
	f := s.bus
	f.mu.Lock()
	if f.failSend > 0 && f.sends >= f.failSend {
		f.mu.Unlock()
		return errFakeSend
	}
	f.sends++
	f.mu.Unlock()
	for _, m := range b.msgs {
		rm := &azservicebus.ReceivedMessage{
			MessageID:             *m.MessageID,
			Body:                  m.Body,
			ContentType:           m.ContentType,
			ApplicationProperties: m.ApplicationProperties,
			SessionID:             m.SessionID,
			ScheduledEnqueueTime:  m.ScheduledEnqueueTime,
		}
		f.put(s.queue, rm)
	}
	return nil
}

func (s *fakeSender) Close(context.Context) error { return nil }

type fakeReceiver struct {
	bus        *fakeBus
	queue      string
	lastPeeked int64
}

// PeekMessages returns copies of up to max messages, locked or not, from
// the one after the last peeked (or FromSequenceNumber), without changing
// them, like the SDK.
func (r *fakeReceiver) PeekMessages(ctx context.Context, max int, opts *azservicebus.PeekMessagesOptions) ([]*azservicebus.ReceivedMessage, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	from := r.lastPeeked + 1
	if opts != nil && opts.FromSequenceNumber != nil {
		from = *opts.FromSequenceNumber
	}
	f := r.bus
	f.mu.Lock()
	defer f.mu.Unlock()
	f.peeks++
	var out []*azservicebus.ReceivedMessage
	for _, e := range f.queues[r.queue] {
		if len(out) == max {
			break
		}
		if *e.msg.SequenceNumber >= from {
			cp := *e.msg
			out = append(out, &cp)
			r.lastPeeked = *e.msg.SequenceNumber
		}
	}
	return out, nil
}

func (r *fakeReceiver) ReceiveMessages(ctx context.Context, max int, _ *azservicebus.ReceiveMessagesOptions) ([]*azservicebus.ReceivedMessage, error) {
	f := r.bus
	f.mu.Lock()
	var out []*azservicebus.ReceivedMessage
	for _, e := range f.queues[r.queue] {
		if len(out) == max {
			break
		}
		if !e.locked {
			e.locked = true
			e.msg.DeliveryCount++
			out = append(out, e.msg)
		}
	}
	f.mu.Unlock()
	if len(out) > 0 {
		return out, nil
	}
	<-ctx.Done() // like the SDK: block until a message arrives or ctx ends
	return nil, ctx.Err()
}

func (r *fakeReceiver) settle(m *azservicebus.ReceivedMessage, remove bool) error {
	f := r.bus
	f.mu.Lock()
	defer f.mu.Unlock()
	q := f.queues[r.queue]
	i := slices.IndexFunc(q, func(e *fakeEntry) bool { return e.msg == m })
	if i < 0 || !q[i].locked {
		return errors.New("fake: lock lost")
	}
	q[i].locked = false
	if max := f.maxDelivery[r.queue]; !remove && max > 0 && int(m.DeliveryCount) >= max {
		remove = true
		reason := ReasonMaxDeliveryCountExceeded
		m.DeadLetterReason = &reason
		f.seq++ // a new sequence number keeps each queue in order
		seq := f.seq
		m.SequenceNumber = &seq
		f.queues[r.queue+"/$dlq"] = append(f.queues[r.queue+"/$dlq"], &fakeEntry{msg: m})
	}
	if remove {
		f.queues[r.queue] = slices.Delete(q, i, i+1)
	}
	return nil
}

func (r *fakeReceiver) CompleteMessage(_ context.Context, m *azservicebus.ReceivedMessage, _ *azservicebus.CompleteMessageOptions) error {
	return r.settle(m, true)
}

func (r *fakeReceiver) AbandonMessage(_ context.Context, m *azservicebus.ReceivedMessage, _ *azservicebus.AbandonMessageOptions) error {
	return r.settle(m, false)
}

func (r *fakeReceiver) Close(context.Context) error { return nil }

var (
	_ ServiceBusClient   = (*fakeBus)(nil)
	_ ServiceBusReceiver = (*fakeReceiver)(nil)
)
