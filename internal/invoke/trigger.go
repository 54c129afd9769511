package invoke

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Binding names used by this app's function.json files.
const (
	// TimerBinding is the name of every timer trigger binding.
	TimerBinding = "timer"
	// ServiceBusBinding is the name of every Service Bus trigger binding.
	ServiceBusBinding = "message"
)

// TimerInfo is the decoded timer trigger value.
type TimerInfo struct {
	// IsPastDue is true when the invocation is later than scheduled (for
	// example after the app was down).
	IsPastDue bool
	// ScheduleStatus is nil when the host sent none (null), which it does
	// for very short schedules and when no schedule monitor is available.
	ScheduleStatus *ScheduleStatus
}

// ScheduleStatus is the schedule monitor's record for a timer. Next is the
// occurrence being run. A timestamp the host sent in a form [DecodeTime]
// cannot parse is left zero (the host has been seen to send invalid ones).
type ScheduleStatus struct {
	Last        time.Time
	Next        time.Time
	LastUpdated time.Time
}

// DecodeTimer decodes the timer trigger value of req, bound under
// [TimerBinding]. It fails with an error wrapping [ErrNoBinding] if the
// binding is missing and one wrapping [ErrValue] if it is not an object (or
// a JSON string holding one) or IsPastDue is not a boolean.
func DecodeTimer(req *Request) (*TimerInfo, error) {
	raw, ok := req.Data[TimerBinding]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNoBinding, TimerBinding)
	}
	obj, err := decodeObject(raw)
	if err != nil {
		return nil, fmt.Errorf("timer binding: %w", err)
	}
	info := &TimerInfo{}
	if info.IsPastDue, err = decodeBool(lookup(obj, "IsPastDue")); err != nil {
		return nil, fmt.Errorf("timer binding: IsPastDue: %w", err)
	}
	status, err := decodeObject(lookup(obj, "ScheduleStatus"))
	if err != nil {
		return nil, fmt.Errorf("timer binding: ScheduleStatus: %w", err)
	}
	if status != nil {
		info.ScheduleStatus = &ScheduleStatus{}
		// Unparsable timestamps stay zero; see ScheduleStatus.
		info.ScheduleStatus.Last, _ = DecodeTime(lookup(status, "Last"))
		info.ScheduleStatus.Next, _ = DecodeTime(lookup(status, "Next"))
		info.ScheduleStatus.LastUpdated, _ = DecodeTime(lookup(status, "LastUpdated"))
	}
	return info, nil
}

// ServiceBusMessage is a decoded Service Bus trigger invocation (cardinality
// one). Metadata values the host sent in an unparsable form are left zero.
type ServiceBusMessage struct {
	// Body is the message body, a JSON object or array (see JSONBody).
	Body           []byte
	MessageID      string
	DeliveryCount  int
	EnqueuedTime   time.Time // UTC
	ContentType    string
	SequenceNumber int64
	CorrelationID  string
	Subject        string
	// ApplicationProperties holds the message's application properties,
	// each value decoded to text (strings unquoted, numbers and booleans
	// as their literal, objects as compact JSON). It is never nil.
	ApplicationProperties map[string]string
}

// DecodeServiceBus decodes the Service Bus trigger invocation of req whose
// trigger binding is named binding ("" means [ServiceBusBinding]). The
// metadata is read from req.Metadata (MessageId, DeliveryCount,
// EnqueuedTimeUtc or EnqueuedTime, ContentType, SequenceNumber,
// CorrelationId, Subject or Label, ApplicationProperties or UserProperties).
//
// It fails with an error wrapping [ErrNoBinding] if the binding is missing.
// If the body is not JSON in any form [JSONBody] accepts, it returns the
// message with its metadata and a nil Body together with an error wrapping
// [ErrUnexpectedBody], so that the caller can log which message it was.
func DecodeServiceBus(req *Request, binding string) (*ServiceBusMessage, error) {
	if binding == "" {
		binding = ServiceBusBinding
	}
	raw, err := triggerValue(req, binding)
	if err != nil {
		return nil, err
	}
	md := req.Metadata
	msg := &ServiceBusMessage{ApplicationProperties: map[string]string{}}
	msg.MessageID, _ = DecodeString(lookup(md, "MessageId"))
	if n, err := DecodeInt(lookup(md, "DeliveryCount")); err == nil {
		msg.DeliveryCount = int(min(max(n, 0), 1<<31-1))
	}
	if msg.EnqueuedTime, _ = DecodeTime(lookup(md, "EnqueuedTimeUtc")); msg.EnqueuedTime.IsZero() {
		msg.EnqueuedTime, _ = DecodeTime(lookup(md, "EnqueuedTime"))
	}
	msg.ContentType, _ = DecodeString(lookup(md, "ContentType"))
	msg.SequenceNumber, _ = DecodeInt(lookup(md, "SequenceNumber"))
	msg.CorrelationID, _ = DecodeString(lookup(md, "CorrelationId"))
	if msg.Subject, _ = DecodeString(lookup(md, "Subject")); msg.Subject == "" {
		msg.Subject, _ = DecodeString(lookup(md, "Label"))
	}
	props, _ := decodeObject(lookup(md, "ApplicationProperties"))
	if len(props) == 0 {
		props, _ = decodeObject(lookup(md, "UserProperties"))
	}
	for k, v := range props {
		msg.ApplicationProperties[k] = propertyText(v)
	}

	body, err := JSONBody(raw)
	if err != nil {
		return msg, fmt.Errorf("service bus binding %q: %w", binding, err)
	}
	msg.Body = body
	return msg, nil
}

// triggerValue returns req.Data[binding]. When that is missing and Data
// has a single entry (a function.json whose binding has another name: the
// trigger is the only input), it returns that entry. Otherwise the error
// wraps [ErrNoBinding].
func triggerValue(req *Request, binding string) (json.RawMessage, error) {
	if raw, ok := req.Data[binding]; ok {
		return raw, nil
	}
	if len(req.Data) == 1 {
		for _, v := range req.Data {
			return v, nil
		}
	}
	return nil, fmt.Errorf("%w: %q", ErrNoBinding, binding)
}

// propertyText renders an application property value as text.
func propertyText(raw json.RawMessage) string {
	if s, err := DecodeString(raw); err == nil {
		return s
	}
	var buf bytes.Buffer
	if json.Compact(&buf, raw) == nil {
		return buf.String()
	}
	return string(raw)
}
