package sentinel

import (
	"context"
	"sync"
	"time"
)

// span is how long a request start counts against the service's window: a
// minute, plus one nanosecond so that no closed 60-second window (ends
// included) ever holds more than perMinute starts, whichever way the
// service counts a start exactly a minute after another.
const span = time.Minute + time.Nanosecond

// limiter keeps request starts under the service's limit with an exact
// sliding window: it remembers the last perMinute starts (a ring, oldest
// first) and holds the next until the oldest of them is span old. So at most
// perMinute requests start in any 60-second window, and a steady stream runs
// at exactly perMinute per minute; a burst after a quiet minute starts at
// once.
//
// A 429 means the service counts more starts than the client does (another
// client with the same identity, arrival jitter): the limiter then treats
// the whole window as used until the service's Retry-After, and as freeing
// one start every minute/perMinute from then on, as a window the service
// saw full would. A minute after Retry-After the window again holds only the
// client's own starts and the full rate, bursts included, is back.
//
// Slots given up by a cancelled or re-queued waiter still count, which errs
// on the safe side. It is safe for concurrent use: each waiter reserves its
// own slot under the lock and sleeps outside it.
type limiter struct {
	now   func() time.Time
	sleep func(context.Context, time.Duration) error

	mu          sync.Mutex
	pausedUntil time.Time   // set by a 429: nobody starts before it
	starts      []time.Time // the last perMinute reserved starts, a ring; zero = none
	head        int         // index of the oldest start in starts
}

func newLimiter(perMinute int, now func() time.Time, sleep func(context.Context, time.Duration) error) *limiter {
	return &limiter{now: now, sleep: sleep, starts: make([]time.Time, perMinute)}
}

// reserve picks the first start at or after now that the window allows and
// records it. l.mu must be held.
func (l *limiter) reserve(now time.Time) time.Time {
	slot := now
	if slot.Before(l.pausedUntil) {
		slot = l.pausedUntil
	}
	if free := l.starts[l.head].Add(span); slot.Before(free) {
		slot = free
	}
	l.starts[l.head] = slot
	l.head = (l.head + 1) % len(l.starts)
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

// backOff answers a 429 whose Retry-After ends at until: nobody starts
// before until, and the window counts as full then, its slots freeing one
// every minute/perMinute (see limiter). Later starts already reserved stay.
func (l *limiter) backOff(until time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if until.After(l.pausedUntil) {
		l.pausedUntil = until
	}
	n := len(l.starts)
	step := time.Minute / time.Duration(n)
	oldest := until.Add(-span)
	for k := range n {
		// The k-th oldest start may free no earlier than until + k steps.
		i := (l.head + k) % n
		if floor := oldest.Add(time.Duration(k) * step); l.starts[i].Before(floor) {
			l.starts[i] = floor
		}
	}
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
