package queue

import (
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"
)

// The sources Replay can move messages from.
const (
	ReplayFromDeadLetter = "deadletter"
	ReplayFromParked     = "parked"
	ReplayFromAll        = "all"
)

// ReplayOptions select the messages Replay moves back to the main queue.
// The zero value replays every dead-lettered and parked message.
type ReplayOptions struct {
	// From is ReplayFromDeadLetter, ReplayFromParked or ReplayFromAll
	// ("" = all).
	From string
	// Reason, when set, replays only messages whose dead-letter or park
	// reason contains it (case-insensitive); the others are skipped and
	// stay where they are.
	Reason string
	// Max is the largest number of messages to move (0 = no limit).
	Max int
	// Wait is how long ServiceBus.Replay waits for the next message before
	// it decides a source is drained (default 5s). The Spool ignores it.
	Wait time.Duration
}

func (o *ReplayOptions) sources() (deadLetter, parked bool, err error) {
	switch o.From {
	case "", ReplayFromAll:
		return true, true, nil
	case ReplayFromDeadLetter:
		return true, false, nil
	case ReplayFromParked:
		return false, true, nil
	}
	return false, false, fmt.Errorf("%w: replay from %q: want %q, %q or %q", ErrInvalidOptions,
		o.From, ReplayFromDeadLetter, ReplayFromParked, ReplayFromAll)
}

func (o *ReplayOptions) matches(reason string) bool {
	return o.Reason == "" || strings.Contains(strings.ToLower(reason), strings.ToLower(o.Reason))
}

// ReplayCount is what Replay did with the messages of one source.
type ReplayCount struct {
	Moved   int `json:"moved"`   // sent back to the main queue and removed from the source
	Skipped int `json:"skipped"` // left in place: reason did not match, or Max reached
}

// ReplayResult reports a Replay per source.
type ReplayResult struct {
	DeadLetter ReplayCount `json:"deadletter"`
	Parked     ReplayCount `json:"parked"`
}

// Moved is the number of messages moved from both sources.
func (r ReplayResult) Moved() int { return r.DeadLetter.Moved + r.Parked.Moved }

// replayID returns the MessageID of a replayed copy: the original content
// hash, "-r" and the replay time, so duplicate detection doesn't drop it.
func replayID(id string, now time.Time) string {
	if i := strings.LastIndex(id, "-r"); i > 0 && isBase36(id[i+2:]) {
		id = id[:i]
	}
	return id + "-r" + strconv.FormatInt(now.UnixMilli(), 36)
}

func isBase36(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'z') {
			return false
		}
	}
	return true
}

// replayProps returns the properties of a replayed copy: the original ones
// without the park annotations, plus where and when it was replayed from.
func replayProps(p map[string]any, id, from string, now time.Time) map[string]any {
	q := maps.Clone(p)
	if q == nil {
		q = map[string]any{}
	}
	delete(q, PropReason)
	delete(q, PropDescription)
	delete(q, PropParkedAt)
	delete(q, "DeadLetterReason") // set by Service Bus on dead-lettered messages
	delete(q, "DeadLetterErrorDescription")
	if _, ok := q[PropOriginalMessageID]; !ok {
		q[PropOriginalMessageID] = id
	}
	q[PropReplayedFrom] = from
	q[PropReplayedAt] = now.UTC().Format(time.RFC3339)
	return q
}

// parkProps returns the properties of a parked copy of m.
func parkProps(m Message, reason, description string, now time.Time) map[string]any {
	q := maps.Clone(m.Properties)
	if q == nil {
		q = map[string]any{}
	}
	if _, ok := q[PropSchemaVersion]; !ok {
		q[PropSchemaVersion] = SchemaVersion
	}
	q[PropReason] = reason
	q[PropDescription] = description
	if _, ok := q[PropOriginalMessageID]; !ok {
		q[PropOriginalMessageID] = m.ID
	}
	q[PropParkedAt] = now.UTC().Format(time.RFC3339)
	return q
}
