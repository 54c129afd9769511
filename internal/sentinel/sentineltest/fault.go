package sentineltest

import (
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"
)

// Fault is an injected failure. A Fault with only a Delay stalls the request
// and then serves it normally; with a Status it answers that status with the
// service's documented (or, where undocumented, plausible) body.
type Fault struct {
	// Status is the HTTP status to answer: 500/502/503/504, 429, 401, 403,
	// 404, 400 or any other. 0 means serve normally after Delay.
	Status int
	// Delay stalls the request in real time before answering (a timeout
	// when it is longer than the client's TryTimeout); the stall ends early
	// when the client goes away.
	Delay time.Duration
	// RetryAfter is a 429's delay: the N of "Try again in N seconds" (and
	// the Retry-After header when ServerOptions.RetryAfterHeader is set).
	// 0 means 60 seconds.
	RetryAfter time.Duration
	// Times is how many requests an injected Fault affects: 0 means one,
	// negative means every request from now on. Ignored for hook and
	// random faults.
	Times int
}

// The documented bodies. 403 and 404 bodies are not documented; these are
// APIM-style guesses.
const (
	body400 = `{"error": {"code": "InvalidRequestBodyProperty(RequestBody)", "message": "Body of the request is not in valid JSON format.", "details": [], "target": null, "additionalInfo": null}}`
	body401 = `{"statusCode": 401, "message": "Unauthorized. Access token is missing or invalid."}`
	body403 = `{"statusCode": 403, "message": "Forbidden. The caller is not authorized to perform this action on the workspace."}`
	body404 = `{"statusCode": 404, "message": "Resource not found"}`
)

// faultBody returns the headers and body for an injected fault status.
func (s *Server) writeFault(w http.ResponseWriter, f Fault) {
	switch f.Status {
	case http.StatusTooManyRequests:
		s.write429(w, f.RetryAfter)
	case http.StatusBadRequest:
		writeJSON(w, f.Status, body400)
	case http.StatusUnauthorized:
		writeJSON(w, f.Status, body401)
	case http.StatusForbidden:
		writeJSON(w, f.Status, body403)
	case http.StatusNotFound:
		writeJSON(w, f.Status, body404)
	case http.StatusInternalServerError:
		writeJSON(w, f.Status, fmt.Sprintf(`{ "statusCode": 500, "message": "Internal server error", "activityId": %q }`, uuid.NewString()))
	default:
		writeJSON(w, f.Status, fmt.Sprintf(`{"statusCode": %d, "message": %q}`, f.Status, http.StatusText(f.Status)))
	}
}

// write429 answers the documented throttling body with N = ceil(d) seconds.
func (s *Server) write429(w http.ResponseWriter, d time.Duration) {
	if d <= 0 {
		d = 60 * time.Second
	}
	n := int((d + time.Second - 1) / time.Second)
	if s.opts.RetryAfterHeader {
		w.Header().Set("Retry-After", fmt.Sprint(n))
	}
	writeJSON(w, http.StatusTooManyRequests, fmt.Sprintf(`{"statusCode":429,"message":"Rate limit is exceeded. Try again in %d seconds."}`, n))
}

// writeJSON writes a JSON body with status.
func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// Inject queues faults for the next requests, in order; each affects
// f.Times requests (see Fault). Queued faults take precedence over the hook
// and random faults.
func (s *Server) Inject(faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range faults {
		if f.Times == 0 {
			f.Times = 1
		}
		s.faults = append(s.faults, f)
	}
}

// ClearFaults removes every queued fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	s.faults = nil
	s.mu.Unlock()
}

// nextFault picks the fault for a request, if any. s.mu must be held.
func (s *Server) nextFault(r *http.Request) *Fault {
	if len(s.faults) > 0 {
		f := s.faults[0]
		if f.Times > 0 {
			s.faults[0].Times--
			if s.faults[0].Times == 0 {
				s.faults = s.faults[1:]
			}
		}
		return &f
	}
	if s.opts.Hook != nil {
		if f := s.opts.Hook(r); f != nil {
			return f
		}
	}
	if s.opts.FaultProbability > 0 && s.rng.Float64() < s.opts.FaultProbability {
		if len(s.opts.RandomFaults) == 0 {
			return &Fault{Status: http.StatusInternalServerError}
		}
		f := s.opts.RandomFaults[s.rng.IntN(len(s.opts.RandomFaults))]
		return &f
	}
	return nil
}
