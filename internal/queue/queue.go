// Package queue carries batches of STIX objects from the feed functions to
// the Sentinel uploader. One queue message is one Sentinel upload request: a
// JSON array of at most 100 STIX objects (indicators plus the identity
// objects they reference).
//
// Two implementations share the message format and the delivery contract
// (at-least-once, redelivery after a failure, dead-lettering after a maximum
// delivery count, parking of batches Sentinel rejected for good, and replay
// of dead-lettered and parked messages): [ServiceBus], on Azure Service Bus,
// and [Spool], a durable directory on the local disk used when the whole
// pipeline runs in one process.
package queue

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// SchemaVersion is the version of the message format, sent as the
// "schema_version" application property of every message.
const SchemaVersion = 1

// MaxObjects is the largest number of STIX objects in one message: the
// Sentinel upload API takes at most 100 objects per request.
const MaxObjects = 100

// DefaultMaxDeliveryCount is the upload queue's maxDeliveryCount
// (SERVICEBUS_MAX_DELIVERY_COUNT; the Bicep sets the queue to the same).
// The local spool has its own default (SpoolOptions.MaxDeliveryCount).
const DefaultMaxDeliveryCount = 10

// DefaultMaxBytes is the default limit of an encoded message body: 192 KiB,
// safely under the 256 KiB message limit of the Service Bus Standard tier,
// headers and properties included.
const DefaultMaxBytes = 192 << 10

// ContentType is the content type of every message body.
const ContentType = "application/json"

// The application property names this package sets.
const (
	PropSchemaVersion     = "schema_version"
	PropSource            = "source"
	PropCount             = "count"
	PropReason            = "reason"
	PropDescription       = "description"
	PropOriginalMessageID = "original_message_id"
	PropParkedAt          = "parked_at"
	PropReplayedFrom      = "replayed_from"
	PropReplayedAt        = "replayed_at"
)

// ReasonMaxDeliveryCountExceeded is the dead-letter reason of a message that
// was delivered MaxDeliveryCount times without being completed. Service Bus
// is documented to use the same text (not confirmed verbatim).
const ReasonMaxDeliveryCountExceeded = "MaxDeliveryCountExceeded"

var (
	// ErrInvalidMessage is returned (wrapped) by Decode and Encode when a
	// body or batch is not a JSON array of 1 to MaxObjects JSON objects.
	ErrInvalidMessage = errors.New("queue: invalid message")

	// ErrObjectTooLarge is returned (wrapped) by ServiceBus.Publish when a
	// single STIX object, with the objects it references, is larger than
	// the largest message the queue accepts. Such an object can't be
	// enqueued at all.
	ErrObjectTooLarge = errors.New("queue: object too large for one message")

	// ErrEmpty is returned by Spool.Receive when no message is ready.
	ErrEmpty = errors.New("queue: no message ready")

	// ErrLockLost is returned when a message is settled (completed,
	// abandoned, dead-lettered) by a receiver that no longer holds its
	// lease: it was settled already, or the lease expired and the message
	// went back to the queue.
	ErrLockLost = errors.New("queue: message lock lost")

	// ErrInvalidOptions is returned (wrapped) by constructors and Replay
	// when an option is missing or malformed.
	ErrInvalidOptions = errors.New("queue: invalid options")
)

// Batch is the content of one queue message: the STIX objects of one
// Sentinel upload request and the feed (or "manual") they came from.
type Batch struct {
	Source  string
	Objects []json.RawMessage
}

// Message is one queue message as sent and received. ID, Body, ContentType
// and Properties are what Encode produces; DeliveryCount, Reason,
// Description and EnqueuedAt are filled when a message is received, listed
// or replayed.
type Message struct {
	// ID is the MessageID. Encode derives it from the body (the first 32
	// hex digits of its SHA-256), so a batch sent twice has one ID and the
	// queue's duplicate detection drops the second copy.
	ID string
	// Body is the JSON array of STIX objects.
	Body []byte
	// ContentType is "application/json".
	ContentType string
	// Properties are the application properties: schema_version, source
	// and count, plus reason, description, original_message_id and
	// parked_at on parked messages.
	Properties map[string]any
	// DeliveryCount is how many times the message was delivered,
	// including the current delivery (1 on the first).
	DeliveryCount int
	// Reason and Description say why the message was dead-lettered or
	// parked.
	Reason, Description string
	// EnqueuedAt is when the message was put on its current queue (zero
	// when unknown).
	EnqueuedAt time.Time

	lockToken string // spool lease of the current delivery
}

// Publisher puts batches on the upload queue.
type Publisher interface {
	// Publish enqueues the batches in order. sent is the number of
	// objects (not messages) that are safely on the queue when Publish
	// returns, also when err is not nil; the caller reports the rest as
	// not enqueued. A batch that is already on the queue (same MessageID)
	// counts as sent.
	Publish(ctx context.Context, batches []Batch) (sent int, err error)
}

// Encode turns a batch into a message: the body is the JSON array of the
// objects, written as given. It returns an error wrapping ErrInvalidMessage
// when the batch has no object, more than MaxObjects, or an element that is
// not a JSON object.
func Encode(b Batch) (Message, error) {
	if len(b.Objects) == 0 || len(b.Objects) > MaxObjects {
		return Message{}, fmt.Errorf("%w: want 1 to %d objects, got %d", ErrInvalidMessage, MaxObjects, len(b.Objects))
	}
	size := 2 + len(b.Objects) - 1
	for i, o := range b.Objects {
		o = bytes.TrimSpace(o)
		if len(o) == 0 || o[0] != '{' || !json.Valid(o) {
			return Message{}, fmt.Errorf("%w: object %d is not a JSON object", ErrInvalidMessage, i)
		}
		size += len(o)
	}
	body := make([]byte, 0, size)
	body = append(body, '[')
	for i, o := range b.Objects {
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, bytes.TrimSpace(o)...)
	}
	body = append(body, ']')
	return Message{
		ID:          MessageID(body),
		Body:        body,
		ContentType: ContentType,
		Properties: map[string]any{
			PropSchemaVersion: SchemaVersion,
			PropSource:        b.Source,
			PropCount:         len(b.Objects),
		},
	}, nil
}

// MessageID returns the MessageID of a body: the first 32 hex digits of its
// SHA-256.
func MessageID(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:16])
}

// Decode parses a message body. It returns an error wrapping
// ErrInvalidMessage, saying what was expected, unless the body is a JSON
// array of 1 to MaxObjects JSON objects. The returned Source is empty; use
// DecodeMessage to keep the source property.
func Decode(body []byte) (Batch, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '[' {
		return Batch{}, fmt.Errorf("%w: want a JSON array of STIX objects, got %s", ErrInvalidMessage, describe(body))
	}
	var objs []json.RawMessage
	if err := json.Unmarshal(body, &objs); err != nil {
		return Batch{}, fmt.Errorf("%w: want a JSON array of STIX objects: %v", ErrInvalidMessage, err)
	}
	if len(objs) == 0 || len(objs) > MaxObjects {
		return Batch{}, fmt.Errorf("%w: want a JSON array of 1 to %d STIX objects, got %d elements", ErrInvalidMessage, MaxObjects, len(objs))
	}
	for i, o := range objs {
		if len(o) == 0 || o[0] != '{' {
			return Batch{}, fmt.Errorf("%w: want a JSON object at index %d, got %s", ErrInvalidMessage, i, describe(o))
		}
	}
	return Batch{Objects: objs}, nil
}

// DecodeMessage decodes m.Body like Decode and takes the batch's Source from
// the "source" property.
func DecodeMessage(m Message) (Batch, error) {
	b, err := Decode(m.Body)
	if err != nil {
		return Batch{}, err
	}
	b.Source, _ = m.Properties[PropSource].(string)
	return b, nil
}

// describe names the JSON kind of a value for error messages; it never
// quotes the value, which may hold IOCs.
func describe(v []byte) string {
	if len(v) == 0 {
		return "nothing"
	}
	switch v[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return "a number"
	}
	return "something that is not JSON"
}
