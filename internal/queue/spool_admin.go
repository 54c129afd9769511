package queue

import (
	"cmp"
	"container/heap"
	"context"
	"fmt"
	"slices"
	"time"
)

// Park writes a copy of msg to the parked directory with the properties
// reason, description, original_message_id and parked_at. Like
// ServiceBus.Park it does not settle msg: the caller completes it next. A
// message whose ID is parked already is not parked twice.
func (s *Spool) Park(ctx context.Context, msg Message, reason, description string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	id := msg.ID
	if id == "" {
		id = MessageID(msg.Body)
	}
	if s.index[KindParked][id] != nil {
		return nil
	}
	ct := msg.ContentType
	if ct == "" {
		ct = ContentType
	}
	s.seq++
	env := &envelope{ID: id, Seq: s.seq, ContentType: ct, Properties: parkProps(msg, reason, description, now),
		DeliveryCount: msg.DeliveryCount, EnqueuedAt: now.UTC(), Reason: reason, Description: description}
	if err := s.writeFile(s.path(KindParked, id), env, msg.Body, true); err != nil {
		return fmt.Errorf("spool park: %w", err)
	}
	s.index[KindParked][id] = env
	return nil
}

// Replay moves dead-lettered and parked messages, as selected by opts, back
// to ready, oldest first. Each copy keeps the body and properties (minus
// the park annotations), gets a new MessageID (the content hash plus a
// "-r<time>" suffix), a delivery count of 0 and the properties
// original_message_id, replayed_from and replayed_at; the source file is
// removed only after the copy was written. opts.Wait is ignored.
func (s *Spool) Replay(ctx context.Context, opts ReplayOptions) (ReplayResult, error) {
	var res ReplayResult
	dl, parked, err := opts.sources()
	if err != nil {
		return res, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	moved := 0
	if dl {
		if err := s.replayFrom(ctx, &opts, KindDeadLetter, &res.DeadLetter, &moved); err != nil {
			return res, err
		}
	}
	if parked {
		err = s.replayFrom(ctx, &opts, KindParked, &res.Parked, &moved)
	}
	return res, err
}

func (s *Spool) replayFrom(ctx context.Context, opts *ReplayOptions, k Kind, count *ReplayCount, moved *int) error {
	from := string(k)
	for _, env := range s.sorted(k) {
		if (opts.Max > 0 && *moved >= opts.Max) || !opts.matches(env.Reason) {
			count.Skipped++
			continue
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("spool replay: %w", err)
		}
		src := s.path(k, env.ID)
		_, body, err := readFile(src)
		if err != nil {
			return fmt.Errorf("spool replay from %s: %w", from, err)
		}
		now := s.now()
		id := replayID(env.ID, now)
		for i := 1; s.index[KindReady][id] != nil || s.index[KindInflight][id] != nil; i++ {
			id = replayID(env.ID, now.Add(time.Duration(i)*time.Millisecond))
		}
		m := Message{ID: id, Body: body, ContentType: env.ContentType,
			Properties: replayProps(env.Properties, env.ID, from, now)}
		if _, err := s.enqueue(m, true); err != nil {
			return fmt.Errorf("spool replay from %s: %w", from, err)
		}
		if err := s.removeFile(src); err != nil {
			return fmt.Errorf("spool replay from %s: %w", from, err)
		}
		delete(s.index[k], env.ID)
		count.Moved++
		*moved++
	}
	return nil
}

// sorted returns the envelopes of one directory by sequence number.
func (s *Spool) sorted(k Kind) []*envelope {
	out := make([]*envelope, 0, len(s.index[k]))
	for _, env := range s.index[k] {
		out = append(out, env)
	}
	slices.SortFunc(out, func(a, b *envelope) int { return cmp.Compare(a.Seq, b.Seq) })
	return out
}

// Counts returns the number of messages in each directory.
func (s *Spool) Counts() (ready, inflight, deadletter, parked int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.index[KindReady]), len(s.index[KindInflight]), len(s.index[KindDeadLetter]), len(s.index[KindParked])
}

// List returns the messages of one directory, oldest first, bodies
// included, for operators. The returned messages can't be settled. It
// returns an error wrapping ErrInvalidOptions for an unknown kind.
func (s *Spool) List(kind Kind) ([]Message, error) {
	if !slices.Contains(PossibleKindValues(), kind) {
		return nil, fmt.Errorf("%w: spool list: unknown kind %q", ErrInvalidOptions, kind)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	envs := s.sorted(kind)
	out := make([]Message, 0, len(envs))
	for _, env := range envs {
		_, body, err := readFile(s.path(kind, env.ID))
		if err != nil {
			return out, fmt.Errorf("spool list %s: %w", kind, err)
		}
		m := env.message(body)
		m.lockToken = ""
		out = append(out, *m)
	}
	return out, nil
}

// readyHeap orders ready messages by sequence number.
type readyHeap []*envelope

func (h readyHeap) Len() int           { return len(h) }
func (h readyHeap) Less(i, j int) bool { return h[i].Seq < h[j].Seq }
func (h readyHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *readyHeap) Push(x any)        { *h = append(*h, x.(*envelope)) }
func (h *readyHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return x
}

var _ heap.Interface = (*readyHeap)(nil)
