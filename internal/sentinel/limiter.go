package sentinel

import (
	"context"
	"sync"
	"time"
)

// windowMargin is added to the 60-second window: the perMinute-th start
// after a request is at least a minute plus this margin after it, which
// absorbs a little jitter between the client's clock and the arrival times
// the service counts.
const windowMargin = 20 * time.Millisecond

// limiter paces requests so that at most one starts every interval (a
// generic cell rate algorithm with a burst of one: a minute / perMinute) and
// no window of 60 seconds, ends included, ever holds more than perMinute
// starts: it remembers the last perMinute slots and holds the next until a
// minute plus windowMargin after the oldest of them. (Even spacing alone
// would put perMinute+1 starts in a closed 60-second window.) Slots given up
// by a cancelled or re-queued waiter still count, which errs on the safe
// side. It is safe for concurrent use: each waiter reserves its own slot
// under the lock and sleeps outside it.
type limiter struct {
	interval time.Duration
	now      func() time.Time
	sleep    func(context.Context, time.Duration) error

	mu          sync.Mutex
	next        time.Time   // earliest start of the next request
	pausedUntil time.Time   // set by a 429: nobody starts before it
	recent      []time.Time // the last perMinute slots, oldest first (a ring)
	head        int         // index of the oldest slot in recent once it is full
	perMinute   int
}

func newLimiter(perMinute int, now func() time.Time, sleep func(context.Context, time.Duration) error) *limiter {
	return &limiter{interval: time.Minute / time.Duration(perMinute), now: now, sleep: sleep,
		perMinute: perMinute, recent: make([]time.Time, 0, perMinute)}
}

// reserve picks the next slot at or after now and records it. l.mu must be held.
func (l *limiter) reserve(now time.Time) time.Time {
	slot := l.next
	if slot.Before(now) {
		slot = now
	}
	if slot.Before(l.pausedUntil) {
		slot = l.pausedUntil
	}
	if len(l.recent) == l.perMinute {
		if free := l.recent[l.head].Add(time.Minute + windowMargin); slot.Before(free) {
			slot = free
		}
		l.recent[l.head] = slot
		l.head = (l.head + 1) % l.perMinute
	} else {
		l.recent = append(l.recent, slot)
	}
	l.next = slot.Add(l.interval)
	return slot
}

// wait blocks until the caller may send one request or ctx is done.
func (l *limiter) wait(ctx context.Context) error {
	for {
		l.mu.Lock()
		now := l.now()
		slot := l.reserve(now)
		l.mu.Unlock()

		if d := slot.Sub(now); d > 0 {
			if err := l.sleep(ctx, d); err != nil {
				return err
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		// A 429 that arrived while we slept moves everyone behind it.
		l.mu.Lock()
		paused := l.now().Before(l.pausedUntil)
		l.mu.Unlock()
		if !paused {
			return nil
		}
	}
}

// pause stops all requests until the given time (the service's Retry-After).
func (l *limiter) pause(until time.Time) {
	l.mu.Lock()
	if until.After(l.pausedUntil) {
		l.pausedUntil = until
	}
	l.mu.Unlock()
}

// sleepContext is the default Sleep hook: a real timer that ctx can cut short.
func sleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
