package sentineltest

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Objects returns a copy of the stored objects keyed by Name(sourcesystem, id).
func (s *Server) Objects() map[string]json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]json.RawMessage, len(s.objects))
	for k, v := range s.objects {
		out[k] = slices.Clone(v.raw)
	}
	return out
}

// Object returns the stored object for (sourcesystem, id).
func (s *Server) Object(sourceSystem, id string) (json.RawMessage, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.objects[Name(sourceSystem, id)]
	return slices.Clone(st.raw), ok
}

// Count returns how many stored objects have the STIX id (one per
// sourcesystem that uploaded it).
func (s *Server) Count(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, st := range s.objects {
		if st.id == id {
			n++
		}
	}
	return n
}

// Uploads returns how many times an object with the STIX id was accepted.
func (s *Server) Uploads(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.uploads[id]
}

// Requests returns a copy of every request received, in arrival order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Rate is the fake's view of a run's throughput: what it accepted per
// minute of its Clock, counted over whole minutes so that a burst at the
// start of a minute is not mistaken for a faster rate.
type Rate struct {
	// Requests is every request received since start; Throttled those
	// answered 429.
	Requests, Throttled int
	// Minutes is the number of whole minutes from start to the last
	// request answered 200.
	Minutes int
	// ObjectsPerMinute is the objects accepted (answers 200, minus
	// per-record errors) by requests that arrived in those Minutes,
	// divided by Minutes; 0 when Minutes is 0.
	ObjectsPerMinute float64
}

// Rate measures the requests received at or after start (see Rate).
func (s *Server) Rate(start time.Time) Rate {
	s.mu.Lock()
	defer s.mu.Unlock()
	var r Rate
	var last time.Time
	for _, q := range s.requests {
		if q.Time.Before(start) {
			continue
		}
		r.Requests++
		switch q.Status {
		case http.StatusTooManyRequests:
			r.Throttled++
		case http.StatusOK:
			last = q.Time
		}
	}
	if last.IsZero() {
		return r
	}
	r.Minutes = int(last.Sub(start) / time.Minute)
	end := start.Add(time.Duration(r.Minutes) * time.Minute)
	objects := 0
	for _, q := range s.requests {
		if q.Status == http.StatusOK && !q.Time.Before(start) && q.Time.Before(end) {
			objects += q.Objects - q.Rejected
		}
	}
	if r.Minutes > 0 {
		r.ObjectsPerMinute = float64(objects) / float64(r.Minutes)
	}
	return r
}

// Active returns the sorted names of stored objects that are neither
// revoked nor expired (valid_until at or before Clock()). A valid_until
// that is not a timestamp (validation refuses one on indicators only) counts
// as expired.
func (s *Server) Active() []string {
	return s.names(func(st stored, now time.Time) bool {
		return !st.revoked && (st.validUntil.IsZero() || st.validUntil.After(now))
	})
}

// Revoked returns the sorted names of stored objects whose latest version is revoked.
func (s *Server) Revoked() []string {
	return s.names(func(st stored, _ time.Time) bool { return st.revoked })
}

// names lists the stored objects matching keep, sorted.
func (s *Server) names(keep func(stored, time.Time) bool) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Clock()
	var out []string
	for k, st := range s.objects {
		if keep(st, now) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// VirtualClock is a clock that only moves when Sleep (or Advance) is called.
// Pass Now and Sleep to both the client and the fake so that rate limiting
// runs on fake time at full speed. It is safe for concurrent use; Sleep
// advances the shared time, so it models one sleeper at a time.
type VirtualClock struct {
	mu sync.Mutex
	t  time.Time
}

// NewVirtualClock returns a clock set to start.
func NewVirtualClock(start time.Time) *VirtualClock { return &VirtualClock{t: start} }

// Now returns the clock's time.
func (c *VirtualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *VirtualClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Sleep advances the clock by d without blocking; it returns ctx.Err().
func (c *VirtualClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.Advance(d)
	return nil
}
