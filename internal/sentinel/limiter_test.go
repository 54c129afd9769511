package sentinel

import (
	"context"
	"slices"
	"testing"
	"time"
)

// TestLimiterBackOff checks the answer to a 429: nobody starts before
// Retry-After, the window then counts as full and frees one start every
// minute/perMinute, and a minute later bursts are allowed again.
func TestLimiterBackOff(t *testing.T) {
	t.Parallel()
	const rpm = 10
	step := time.Minute / rpm
	ft := &fakeTime{t: time.Unix(1000, 0)}
	l := newLimiter(rpm, ft.now, ft.sleep)
	t0 := ft.now()
	start := func() time.Duration {
		t.Helper()
		if err := l.wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		return ft.now().Sub(t0)
	}
	// A 429 on the very first request: the service saw a full window.
	start()
	l.backOff(t0.Add(10 * time.Second))
	var got []time.Duration
	for range rpm {
		got = append(got, start())
	}
	var want []time.Duration
	for k := range rpm {
		want = append(want, 10*time.Second+time.Duration(k)*step)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("starts after the 429 at %v, want %v", got, want)
	}
	// Back to the full rate: the window holds only the client's own starts.
	if got, want := start(), 10*time.Second+span; got != want {
		t.Fatalf("next start at %v, want %v", got, want)
	}

	// After a quiet minute the whole window is free again: a burst.
	ft.t = ft.t.Add(2 * time.Minute)
	before := ft.now()
	for range rpm {
		start()
	}
	if ft.now() != before {
		t.Fatalf("burst after a quiet minute waited %v", ft.now().Sub(before))
	}
}

// TestLimiterBackOffKeepsOwnWindow checks that a 429 never frees starts:
// when the client's own window is fuller than the floor, it stays.
func TestLimiterBackOffKeepsOwnWindow(t *testing.T) {
	t.Parallel()
	const rpm = 10
	ft := &fakeTime{t: time.Unix(1000, 0)}
	l := newLimiter(rpm, ft.now, ft.sleep)
	t0 := ft.now()
	for range rpm {
		if err := l.wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	ft.t = ft.t.Add(time.Second)
	l.backOff(ft.now().Add(5 * time.Second))
	if err := l.wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := ft.now().Sub(t0); got != span {
		t.Fatalf("start at %v, want %v (the own window, not Retry-After)", got, span)
	}
}
