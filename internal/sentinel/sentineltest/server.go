// Package sentineltest is a fake Microsoft Sentinel threat-intelligence
// upload service, built from the documented contract (the STIX objects API
// and the legacy upload-indicators API) and strict where the real service is
// known to be strict: method, path, api-version, Content-Type, bearer token,
// JSON body, sourcesystem, array name, 100 objects per request, 100 requests
// per minute per identity (ServerOptions.Identity) as an exact sliding
// window (never more than 100 admitted in any 60 seconds of its clock, a
// 429 naming when the oldest leaves the window), and per-record
// validation answered as 200 + errors[]. Accepted objects are stored by (sourcesystem, id), keeping the
// latest upload. Faults can be injected.
//
// Behaviour the documentation leaves open is decided as follows: a request
// whose every record fails still gets 200 + errors[]; throttled requests do
// not count against the window; 403 and 404 bodies are APIM-style guesses;
// an update of a revoked object is accepted; there is no body size limit
// unless ServerOptions.MaxBodyBytes sets one.
package sentineltest

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// ServerOptions configures a Server. The zero value is a permissive-auth,
// rate-limited (100/min on the real clock) plain-http fake.
type ServerOptions struct {
	// RequireToken rejects requests without "Authorization: Bearer <token>" (401).
	RequireToken bool
	// ValidToken, when set with RequireToken, decides which tokens are
	// valid; nil accepts any non-empty token.
	ValidToken func(token string) bool
	// Workspaces, when not empty, lists the only workspace IDs that exist;
	// others get 404.
	Workspaces []string
	// Clock is the time for rate limiting, records and expiry; nil means time.Now.
	Clock func() time.Time
	// RequestsPerMinute is the limit per identity (see Identity) in any
	// 60-second window of Clock; 0 means 100, negative means unlimited. A
	// request exactly 60 s after another no longer counts it.
	RequestsPerMinute int
	// Identity maps a bearer token to the identity ("user") whose window it
	// counts against, as the service limits per user rather than per token;
	// nil means one window shared by every request, whatever its token.
	Identity func(token string) string
	// ValidationKey is the key of the message list in per-record errors:
	// "" means "errorMessages" (as in the documentation); the swagger's
	// is "validationErrorMessages".
	ValidationKey string
	// MaxBodyBytes answers 413 with an ARM-style RequestTooLarge error to
	// request bodies longer than this; 0 means no limit below the fake's
	// 32 MiB read cap (which also answers 413).
	MaxBodyBytes int
	// RetryAfterHeader adds Retry-After to 429s (NOT CONFIRMED for the real
	// service, so off by default).
	RetryAfterHeader bool
	// TLS serves https with httptest's certificate; use Server.Client() as
	// the client's transport.
	TLS bool
	// FaultProbability is the chance that a request gets a random fault
	// drawn from RandomFaults (a 500 when RandomFaults is empty).
	FaultProbability float64
	// RandomFaults are the faults drawn when FaultProbability fires.
	RandomFaults []Fault
	// Seed seeds the random fault generator.
	Seed uint64
	// Hook, when set, is asked for a fault for every request without a
	// queued one; nil means none. It runs under the server's lock and must
	// not call the Server's methods.
	Hook func(r *http.Request) *Fault
}

// Request is one request the fake received.
type Request struct {
	Time         time.Time // by ServerOptions.Clock
	Method       string
	Path         string
	API          string // "stix-objects", "legacy" or "" for an unknown path
	Workspace    string
	Token        string
	SourceSystem string
	Objects      int // objects in the body
	Rejected     int // objects answered in errors[]
	Status       int
}

// Server is the fake. Its methods are safe for concurrent use.
type Server struct {
	// URL is the base URL to use as the client's endpoint.
	URL string

	srv  *httptest.Server
	opts ServerOptions

	mu       sync.Mutex
	rng      *rand.Rand
	faults   []Fault
	windows  map[string][]time.Time
	objects  map[string]stored // by Name(sourcesystem, id)
	uploads  map[string]int    // by STIX id
	requests []Request
}

// stored is one accepted object.
type stored struct {
	id         string
	raw        json.RawMessage
	revoked    bool
	validUntil time.Time
}

// NewServer starts a fake on a loopback address. Close it when done.
func NewServer(opts ServerOptions) *Server {
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.RequestsPerMinute == 0 {
		opts.RequestsPerMinute = 100
	}
	s := &Server{
		opts:    opts,
		rng:     rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x5e171e1)),
		windows: map[string][]time.Time{},
		objects: map[string]stored{},
		uploads: map[string]int{},
	}
	if opts.TLS {
		s.srv = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	} else {
		s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	}
	s.URL = s.srv.URL
	return s
}

// Close shuts the server down.
func (s *Server) Close() { s.srv.Close() }

// Client returns an *http.Client that trusts the server (needed with TLS).
// It satisfies azcore's policy.Transporter.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// Name is Sentinel's name for an object: base64(sourcesystem) + "---" + id.
func Name(sourceSystem, id string) string {
	return base64.StdEncoding.EncodeToString([]byte(sourceSystem)) + "---" + id
}

// errBodyTooLarge marks a body over ServerOptions.MaxBodyBytes.
var errBodyTooLarge = errors.New("sentineltest: body too large")

var pathRE = regexp.MustCompile(`^/workspaces/([^/]+)/(threat-intelligence-stix-objects|threatintelligenceindicators):upload$`)

var guidRE = regexp.MustCompile(`^[{]?[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}[}]?$`)

// serve handles every request.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	rec := Request{Method: r.Method, Path: r.URL.Path}
	if m := pathRE.FindStringSubmatch(r.URL.Path); m != nil {
		rec.Workspace, rec.API = m[1], "stix-objects"
		if m[2] == "threatintelligenceindicators" {
			rec.API = "legacy"
		}
	}
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		rec.Token = strings.TrimSpace(tok)
	}

	// Read the body first: the server notices a client that gave up (and
	// cancels r.Context()) only once the body has been consumed.
	payload, readErr := io.ReadAll(http.MaxBytesReader(w, r.Body, 32<<20))

	s.mu.Lock()
	rec.Time = s.opts.Clock()
	status, body, fault := s.admit(r, &rec)
	if status == 0 && fault == nil && readErr == nil && s.opts.MaxBodyBytes > 0 && len(payload) > s.opts.MaxBodyBytes {
		readErr = errBodyTooLarge
	}
	s.mu.Unlock()

	if fault != nil && fault.Delay > 0 {
		t := time.NewTimer(fault.Delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
		}
		t.Stop()
	}
	switch {
	case status != 0:
		s.finish(rec, status)
		writeJSON(w, status, body)
	case fault != nil && fault.Status == http.StatusTooManyRequests:
		s.finish(rec, fault.Status)
		s.write429(w, fault.RetryAfter)
	case fault != nil && fault.Status != 0:
		s.finish(rec, fault.Status)
		s.writeFault(w, *fault)
	default:
		status, body = http.StatusRequestEntityTooLarge, armError("RequestTooLarge", "The request body is too large.")
		if readErr == nil {
			status, body = s.upload(r, payload, &rec)
		}
		s.finish(rec, status)
		if body == "" {
			w.WriteHeader(status)
			return
		}
		writeJSON(w, status, body)
	}
}

// admit applies the checks made before the body is read: method, path,
// api-version, workspace, token, rate limit; then picks a fault. A non-zero
// status is the answer. s.mu must be held.
func (s *Server) admit(r *http.Request, rec *Request) (int, string, *Fault) {
	if rec.API == "" {
		return http.StatusNotFound, body404, nil
	}
	if r.Method != http.MethodPost {
		return http.StatusMethodNotAllowed, `{"statusCode": 405, "message": "Method not allowed"}`, nil
	}
	want := "2024-02-01-preview"
	if rec.API == "legacy" {
		want = "2022-07-01"
	}
	if v := r.URL.Query().Get("api-version"); v != want {
		return http.StatusBadRequest, armError("InvalidApiVersion", "The api-version '"+v+"' is invalid. Use "+want+"."), nil
	}
	if !guidRE.MatchString(rec.Workspace) ||
		(len(s.opts.Workspaces) > 0 && !slices.ContainsFunc(s.opts.Workspaces, func(w string) bool {
			return strings.EqualFold(strings.Trim(w, "{}"), strings.Trim(rec.Workspace, "{}"))
		})) {
		return http.StatusNotFound, body404, nil
	}
	if s.opts.RequireToken && (rec.Token == "" || (s.opts.ValidToken != nil && !s.opts.ValidToken(rec.Token))) {
		return http.StatusUnauthorized, body401, nil
	}
	if limit := s.opts.RequestsPerMinute; limit > 0 {
		cutoff := rec.Time.Add(-time.Minute)
		key := ""
		if s.opts.Identity != nil {
			key = s.opts.Identity(rec.Token)
		}
		win := s.windows[key]
		i := 0
		for i < len(win) && !win[i].After(cutoff) {
			i++
		}
		win = win[i:]
		if len(win) >= limit {
			s.windows[key] = win
			// Throttled requests are not counted; the body is built now
			// because it depends on the window.
			return 0, "", &Fault{Status: http.StatusTooManyRequests, RetryAfter: win[0].Add(time.Minute).Sub(rec.Time)}
		}
		s.windows[key] = append(win, rec.Time)
	}
	return 0, "", s.nextFault(r)
}

// upload reads, validates and stores the body of an admitted request.
func (s *Server) upload(r *http.Request, payload []byte, rec *Request) (int, string) {
	if ct := r.Header.Get("Content-Type"); !strings.EqualFold(strings.TrimSpace(strings.Split(ct, ";")[0]), "application/json") {
		return http.StatusUnsupportedMediaType, armError("UnsupportedMediaType", "Content-Type must be application/json.")
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(payload, &body); err != nil || body == nil {
		return http.StatusBadRequest, body400
	}
	var source string
	if err := json.Unmarshal(body["sourcesystem"], &source); err != nil || strings.TrimSpace(source) == "" {
		return http.StatusBadRequest, armError("InvalidRequestBodyProperty(SourceSystem)", "Source system name is required.")
	}
	rec.SourceSystem = source
	if len([]rune(source)) > 256 || strings.EqualFold(strings.TrimSpace(source), "Microsoft Sentinel") {
		return http.StatusBadRequest, armError("InvalidRequestBodyProperty(SourceSystem)", "Source system name cannot be Microsoft Sentinel. Maximum length is 256 characters.")
	}
	array, other := "stixobjects", "indicators"
	if rec.API == "legacy" {
		array, other = "indicators", "stixobjects"
	}
	if _, ok := body["value"]; ok || body[other] != nil {
		return http.StatusBadRequest, armError("InvalidRequestBodyProperty("+array+")", "The request must contain the array "+array+".")
	}
	var objects []json.RawMessage
	if err := json.Unmarshal(body[array], &objects); err != nil || len(objects) == 0 {
		return http.StatusBadRequest, armError("InvalidRequestBodyProperty("+array+")", "The request must contain a non-empty array "+array+".")
	}
	rec.Objects = len(objects)
	if len(objects) > 100 {
		return http.StatusBadRequest, armError("InvalidRequestBodyProperty("+array+")", "At most 100 objects are allowed per request.")
	}

	key := s.opts.ValidationKey
	if key == "" {
		key = "errorMessages"
	}
	var errs []json.RawMessage
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, raw := range objects {
		if msgs := validate(raw, rec.API == "legacy"); len(msgs) > 0 {
			// Built by hand to keep recordIndex first, as documented.
			k, _ := json.Marshal(key)
			m, _ := json.Marshal(msgs)
			errs = append(errs, json.RawMessage(fmt.Sprintf(`{"recordIndex":%d,%s:%s}`, i, k, m)))
			continue
		}
		s.store(source, raw)
	}
	rec.Rejected = len(errs)
	if len(errs) == 0 {
		return http.StatusOK, ""
	}
	out, _ := json.Marshal(map[string]any{"errors": errs})
	return http.StatusOK, string(out)
}

// store upserts a valid object. s.mu must be held.
func (s *Server) store(source string, raw json.RawMessage) {
	var head struct {
		ID         string          `json:"id"`
		Revoked    bool            `json:"revoked"`
		ValidUntil json.RawMessage `json:"valid_until"`
	}
	_ = json.Unmarshal(raw, &head) // validated already
	st := stored{id: head.ID, raw: slices.Clone(raw), revoked: head.Revoked}
	if len(head.ValidUntil) > 0 && !isNull(head.ValidUntil) {
		// Validation rejects an indicator whose valid_until is not a
		// timestamp; on other types it is not checked. Either way an
		// unreadable valid_until counts as long expired, not as never.
		st.validUntil = time.Unix(0, 0).UTC()
		var v string
		if json.Unmarshal(head.ValidUntil, &v) == nil {
			if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
				st.validUntil = t
			}
		}
	}
	s.objects[Name(source, head.ID)] = st
	s.uploads[head.ID]++
}

// finish records a request.
func (s *Server) finish(rec Request, status int) {
	rec.Status = status
	s.mu.Lock()
	s.requests = append(s.requests, rec)
	s.mu.Unlock()
}

// armError is an ARM-style error body.
func armError(code, message string) string {
	b, _ := json.Marshal(map[string]any{"error": map[string]any{
		"code": code, "message": message, "details": []any{}, "target": nil, "additionalInfo": nil,
	}})
	return string(b)
}
