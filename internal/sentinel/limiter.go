package sentinel

import (
	"context"
	"sync"
	"time"
)

// limiter paces requests so that at most one starts every interval: a
// generic cell rate algorithm with a burst of one. Spacing requests evenly
// means no 60-second window ever holds more than RequestsPerMinute+1 of them,
// whatever the service's window alignment. It is safe for concurrent use:
// each waiter reserves its own slot under the lock and sleeps outside it.
type limiter struct {
	interval time.Duration
	now      func() time.Time
	sleep    func(context.Context, time.Duration) error

	mu          sync.Mutex
	next        time.Time // earliest start of the next request
	pausedUntil time.Time // set by a 429: nobody starts before it
}

func newLimiter(perMinute int, now func() time.Time, sleep func(context.Context, time.Duration) error) *limiter {
	return &limiter{interval: time.Minute / time.Duration(perMinute), now: now, sleep: sleep}
}

// wait blocks until the caller may send one request or ctx is done.
func (l *limiter) wait(ctx context.Context) error {
	for {
		l.mu.Lock()
		now := l.now()
		slot := l.next
		if slot.Before(now) {
			slot = now
		}
		if slot.Before(l.pausedUntil) {
			slot = l.pausedUntil
		}
		l.next = slot.Add(l.interval)
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
