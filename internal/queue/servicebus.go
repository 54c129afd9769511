package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
)

// ServiceBusClient is the part of the Service Bus SDK that ServiceBus uses.
// NewServiceBus wraps an *azservicebus.Client in one; tests pass a fake.
type ServiceBusClient interface {
	// NewSender returns a sender for a queue.
	NewSender(queue string) (ServiceBusSender, error)
	// NewReceiver returns a peek-lock receiver for a queue, or for its
	// dead-letter sub-queue when subQueue is azservicebus.SubQueueDeadLetter
	// (0 = the queue itself).
	NewReceiver(queue string, subQueue azservicebus.SubQueue) (ServiceBusReceiver, error)
	// Close closes the connection.
	Close(ctx context.Context) error
}

// ServiceBusSender sends message batches, like *azservicebus.Sender.
type ServiceBusSender interface {
	// NewMessageBatch returns an empty batch sized to the queue's maximum
	// message size.
	NewMessageBatch(ctx context.Context) (ServiceBusBatch, error)
	// SendMessageBatch sends a batch made by this sender's NewMessageBatch,
	// all or nothing.
	SendMessageBatch(ctx context.Context, batch ServiceBusBatch) error
	// Close closes the sender.
	Close(ctx context.Context) error
}

// ServiceBusBatch is a batch of messages being built, like
// *azservicebus.MessageBatch.
type ServiceBusBatch interface {
	// AddMessage adds m, or returns azservicebus.ErrMessageTooLarge when m
	// does not fit in what is left of the batch.
	AddMessage(m *azservicebus.Message) error
	// NumMessages is the number of messages in the batch.
	NumMessages() int
}

// ServiceBusReceiver receives and settles messages in peek-lock mode, and
// browses them without locking (PeekMessages, which pages on from the last
// peeked sequence number), like *azservicebus.Receiver.
type ServiceBusReceiver interface {
	PeekMessages(ctx context.Context, maxMessageCount int, options *azservicebus.PeekMessagesOptions) ([]*azservicebus.ReceivedMessage, error)
	ReceiveMessages(ctx context.Context, maxMessages int, options *azservicebus.ReceiveMessagesOptions) ([]*azservicebus.ReceivedMessage, error)
	CompleteMessage(ctx context.Context, m *azservicebus.ReceivedMessage, options *azservicebus.CompleteMessageOptions) error
	AbandonMessage(ctx context.Context, m *azservicebus.ReceivedMessage, options *azservicebus.AbandonMessageOptions) error
	Close(ctx context.Context) error
}

// ServiceBusOptions configure NewServiceBus.
type ServiceBusOptions struct {
	// Namespace is the fully qualified namespace
	// (ServiceBusConnection__fullyQualifiedNamespace), as
	// "x.servicebus.windows.net" or "sb://x.servicebus.windows.net/".
	// Required unless Client is set.
	Namespace string
	// Queue is the upload queue (SERVICEBUS_QUEUE). Required.
	Queue string
	// ParkedQueue holds batches Sentinel rejected for good (default
	// Queue + "-parked").
	ParkedQueue string
	// Credential authenticates to Service Bus. Required unless Client is
	// set.
	Credential azcore.TokenCredential
	// SessionID is set on every message sent to the upload queue (default
	// UploadSessionID). The upload queue requires sessions and the
	// UploadIndicators trigger processes one session at a time, so all
	// uploads of the app are serialized through one session holder: the
	// per-process Sentinel limiter then bounds the whole app, however far
	// the app scales out. "-" sends no session id (a queue without
	// sessions).
	SessionID string
	// Client replaces the SDK client (tests). When set, Namespace and
	// Credential are ignored.
	Client ServiceBusClient
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives progress (default slog.Default()).
	Logger *slog.Logger
}

// ServiceBus publishes batches to an Azure Service Bus queue, parks batches
// Sentinel rejected for good on the parked queue, and replays dead-lettered
// and parked messages. It is safe for concurrent use.
//
// The queue should have duplicate detection on: every message carries a
// MessageID derived from its content. Receiving from the upload queue is the
// Functions host's job (the UploadIndicators trigger), not this type's.
type ServiceBus struct {
	client      ServiceBusClient
	sender      ServiceBusSender
	parked      ServiceBusSender
	queue       string
	parkedQueue string
	session     string
	now         func() time.Time
	logger      *slog.Logger
}

// NewServiceBus returns a ServiceBus for opts. It does no network I/O: the
// SDK connects on first use. It returns an error wrapping ErrInvalidOptions
// when a required option is missing or the namespace is malformed.
func NewServiceBus(opts ServiceBusOptions) (*ServiceBus, error) {
	if opts.Queue == "" {
		return nil, fmt.Errorf("%w: service bus: no queue name", ErrInvalidOptions)
	}
	s := &ServiceBus{
		client:      opts.Client,
		queue:       opts.Queue,
		parkedQueue: opts.ParkedQueue,
		session:     opts.SessionID,
		now:         opts.Now,
		logger:      opts.Logger,
	}
	switch s.session {
	case "":
		s.session = UploadSessionID
	case "-":
		s.session = ""
	}
	if s.parkedQueue == "" {
		s.parkedQueue = opts.Queue + "-parked"
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	if s.client == nil {
		ns, err := NormalizeNamespace(opts.Namespace)
		if err != nil {
			return nil, err
		}
		if opts.Credential == nil {
			return nil, fmt.Errorf("%w: service bus: no credential", ErrInvalidOptions)
		}
		c, err := azservicebus.NewClient(ns, opts.Credential, nil)
		if err != nil {
			return nil, fmt.Errorf("azservicebus.NewClient: %w", err)
		}
		s.client = sdkClient{c}
	}
	var err error
	if s.sender, err = s.client.NewSender(s.queue); err != nil {
		return nil, fmt.Errorf("service bus: sender for %s: %w", s.queue, err)
	}
	if s.parked, err = s.client.NewSender(s.parkedQueue); err != nil {
		return nil, fmt.Errorf("service bus: sender for %s: %w", s.parkedQueue, err)
	}
	return s, nil
}

// NormalizeNamespace turns "x.servicebus.windows.net", "sb://x.../" or
// "https://x.../" into the host name the SDK wants. It returns an error
// wrapping ErrInvalidOptions for an empty value, a connection string or a
// value with a path.
func NormalizeNamespace(ns string) (string, error) {
	s := strings.TrimSpace(ns)
	for _, p := range []string{"sb://", "https://", "amqps://"} {
		if len(s) >= len(p) && strings.EqualFold(s[:len(p)], p) {
			s = s[len(p):]
			break
		}
	}
	s = strings.TrimSuffix(s, "/")
	switch {
	case s == "":
		return "", fmt.Errorf("%w: service bus: no namespace", ErrInvalidOptions)
	case strings.ContainsAny(s, "/;= \t"):
		return "", fmt.Errorf("%w: service bus namespace: want a host name such as x.servicebus.windows.net", ErrInvalidOptions)
	}
	if !strings.Contains(s, ".") {
		s += ".servicebus.windows.net"
	}
	return strings.ToLower(s), nil
}

// Close closes the senders and the client.
func (s *ServiceBus) Close(ctx context.Context) error {
	return errors.Join(s.sender.Close(ctx), s.parked.Close(ctx), s.client.Close(ctx))
}

// Publish implements Publisher. It encodes every batch first (an invalid
// batch fails the call before anything is sent), then packs the messages
// into as few SDK batches as fit: when a message doesn't fit, the current
// SDK batch is sent and a new one started; a message too large on its own
// is split into two messages of half the objects each, recursively, and a
// single object that still doesn't fit fails with ErrObjectTooLarge. On a
// send failure sent counts the objects of the SDK batches sent before.
func (s *ServiceBus) Publish(ctx context.Context, batches []Batch) (int, error) {
	msgs := make([]Message, 0, len(batches))
	for i, b := range batches {
		m, err := Encode(b)
		if err != nil {
			return 0, fmt.Errorf("service bus publish: batch %d: %w", i, err)
		}
		msgs = append(msgs, m)
	}
	p := packer{sender: s.sender, session: s.session}
	for i, m := range msgs {
		if err := p.add(ctx, m, batches[i]); err != nil {
			return p.sent, fmt.Errorf("service bus publish to %s: %w", s.queue, err)
		}
	}
	if err := p.flush(ctx); err != nil {
		return p.sent, fmt.Errorf("service bus publish to %s: %w", s.queue, err)
	}
	s.logger.Debug("queue: published", "queue", s.queue, "objects", p.sent, "messages", len(msgs))
	return p.sent, nil
}

// packer fills SDK batches and counts the objects sent.
type packer struct {
	session string
	sender  ServiceBusSender
	batch   ServiceBusBatch
	pending int // objects in batch
	sent    int // objects sent
}

func (p *packer) add(ctx context.Context, m Message, b Batch) error {
	if p.batch == nil {
		nb, err := p.sender.NewMessageBatch(ctx)
		if err != nil {
			return fmt.Errorf("new message batch: %w", err)
		}
		p.batch = nb
	}
	err := p.batch.AddMessage(toSDK(m, p.session))
	if err == nil {
		p.pending += len(b.Objects)
		return nil
	}
	if !errors.Is(err, azservicebus.ErrMessageTooLarge) {
		return fmt.Errorf("add message: %w", err)
	}
	if p.batch.NumMessages() > 0 {
		if err := p.flush(ctx); err != nil {
			return err
		}
		return p.add(ctx, m, b)
	}
	// Too large on its own: halve it.
	if len(b.Objects) < 2 {
		return fmt.Errorf("%w: %d bytes", ErrObjectTooLarge, len(m.Body))
	}
	for _, half := range halve(b) {
		hm, err := Encode(half)
		if err != nil {
			return err
		}
		if err := p.add(ctx, hm, half); err != nil {
			return err
		}
	}
	return nil
}

func (p *packer) flush(ctx context.Context) error {
	if p.batch == nil || p.batch.NumMessages() == 0 {
		return nil
	}
	if err := p.sender.SendMessageBatch(ctx, p.batch); err != nil {
		return fmt.Errorf("send message batch: %w", err)
	}
	p.sent += p.pending
	p.batch, p.pending = nil, 0
	return nil
}

// halve splits b in two with Split, so that referenced objects stay with the
// objects that reference them.
func halve(b Batch) []Batch {
	n := (len(b.Objects) + 1) / 2
	parts := Split(b.Source, b.Objects, &SplitOptions{MaxObjects: n, MaxBytes: b.Size()/2 + 1})
	if len(parts) < 2 {
		// One group can't be cut at a reference boundary: cut it blindly.
		return []Batch{{Source: b.Source, Objects: b.Objects[:n]}, {Source: b.Source, Objects: b.Objects[n:]}}
	}
	return parts
}

// UploadSessionID is the session id of every message on the upload queue
// (see ServiceBusOptions.SessionID).
const UploadSessionID = "sentinel-upload"

// toSDK converts a message for sending; session "" sends none.
func toSDK(m Message, session string) *azservicebus.Message {
	id, ct := m.ID, m.ContentType
	if ct == "" {
		ct = ContentType
	}
	msg := &azservicebus.Message{
		MessageID:             &id,
		ContentType:           &ct,
		Body:                  m.Body,
		ApplicationProperties: m.Properties,
	}
	if session != "" {
		msg.SessionID = &session
	}
	return msg
}

// PropRescheduledAt is set on a copy Reschedule sends: when it was
// rescheduled (RFC 3339), so operators can tell delayed batches apart.
const PropRescheduledAt = "rescheduled_at"

// Reschedule sends a copy of msg back to the upload queue, to become
// visible at the time at (Service Bus scheduled enqueue), with a new
// MessageID (so duplicate detection does not drop it) and the upload
// session. The uploader uses it when Sentinel throttles longer than an
// invocation can wait: the copy waits in Service Bus instead of being
// redelivered at once and burning deliveries; the caller then completes
// msg. It does not settle msg.
func (s *ServiceBus) Reschedule(ctx context.Context, msg Message, at time.Time) error {
	now := s.now()
	cp := msg
	cp.ID = replayID(MessageID(msg.Body), now)
	cp.Properties = make(map[string]any, len(msg.Properties)+2)
	for k, v := range msg.Properties {
		cp.Properties[k] = v
	}
	cp.Properties[PropOriginalMessageID] = msg.ID
	cp.Properties[PropRescheduledAt] = now.UTC().Format(time.RFC3339)
	sm := toSDK(cp, s.session)
	at = at.UTC()
	sm.ScheduledEnqueueTime = &at
	b, err := s.sender.NewMessageBatch(ctx)
	if err != nil {
		return fmt.Errorf("service bus reschedule to %s: new message batch: %w", s.queue, err)
	}
	if err := b.AddMessage(sm); err != nil {
		return fmt.Errorf("service bus reschedule to %s: add message: %w", s.queue, err)
	}
	if err := s.sender.SendMessageBatch(ctx, b); err != nil {
		return fmt.Errorf("service bus reschedule to %s: %w", s.queue, err)
	}
	s.logger.Info("queue: rescheduled", "queue", s.queue, "message_id", msg.ID, "new_message_id", cp.ID, "at", at)
	return nil
}

// Park sends a copy of msg to the parked queue with the properties reason,
// description, original_message_id and parked_at; it does not settle msg.
// The uploader parks a batch Sentinel rejected for good and then reports
// success, so the host completes the trigger message.
func (s *ServiceBus) Park(ctx context.Context, msg Message, reason, description string) error {
	pm := msg
	pm.Properties = parkProps(msg, reason, description, s.now())
	if pm.ID == "" {
		pm.ID = MessageID(msg.Body)
	}
	b, err := s.parked.NewMessageBatch(ctx)
	if err != nil {
		return fmt.Errorf("service bus park to %s: new message batch: %w", s.parkedQueue, err)
	}
	if err := b.AddMessage(toSDK(pm, "")); err != nil { // the parked queue has no sessions
		return fmt.Errorf("service bus park to %s: add message: %w", s.parkedQueue, err)
	}
	if err := s.parked.SendMessageBatch(ctx, b); err != nil {
		return fmt.Errorf("service bus park to %s: %w", s.parkedQueue, err)
	}
	s.logger.Info("queue: parked", "queue", s.parkedQueue, "message_id", msg.ID, "reason", reason)
	return nil
}
