package sentinel

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// ErrPermanent is matched (errors.Is) by every upload error that retrying the
// same request cannot fix: a malformed request (400), bad credentials or
// audience (401), a missing role (403), an unknown workspace (404) and any
// other unexpected 4xx. The caller should dead-letter or alert, not retry.
var ErrPermanent = errors.New("sentinel: permanent upload failure")

// ErrTransient is matched (errors.Is) by every upload error that a later
// retry may fix: 5xx, network failures, timeouts, throttling (429) and a 2xx
// whose body could not be read as the service's answer. The
// caller should fail the invocation so that Service Bus redelivers.
var ErrTransient = errors.New("sentinel: transient upload failure")

// ErrTooManyObjects is returned by Upload for more than MaxObjectsPerRequest
// objects; callers split their batches.
var ErrTooManyObjects = errors.New("sentinel: too many objects for one request")

// ResponseError is an upload that failed as a whole: an HTTP error status
// after retries, a 2xx whose body is not the service's JSON (Message holds
// its start), or (StatusCode 0) a network error or timeout.
type ResponseError struct {
	// StatusCode is the final HTTP status, 0 when no response arrived.
	StatusCode int
	// Code is the service's error code (ARM-style error.code or the
	// x-ms-error-code header), when it sent one.
	Code string
	// Message is the service's own message (APIM-style message or ARM-style
	// error.message), when it sent one.
	Message string
	// Hint tells the operator what to fix, for the statuses where that is
	// known (400, 401, 403, 404, 413 and an unreadable 2xx).
	Hint string
	// Err is the underlying network or context error for StatusCode 0.
	Err error
}

// Error describes the failure with the status, the service message and the hint.
func (e *ResponseError) Error() string {
	s := "sentinel upload: "
	if e.StatusCode == 0 {
		s += "no response"
	} else {
		s += "HTTP " + strconv.Itoa(e.StatusCode)
	}
	if e.Code != "" {
		s += " (" + e.Code + ")"
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	if e.Hint != "" {
		s += ": " + e.Hint
	}
	return s
}

// Unwrap returns the underlying network or context error, if any.
func (e *ResponseError) Unwrap() error { return e.Err }

// Transient reports whether a later retry may succeed: no response, 408,
// 5xx, or a 2xx with an unreadable body.
func (e *ResponseError) Transient() bool {
	return e.StatusCode == 0 || e.StatusCode == http.StatusRequestTimeout || e.StatusCode >= 500 ||
		(e.StatusCode >= 200 && e.StatusCode < 300)
}

// Permanent reports whether retrying the same request is pointless. It is
// the negation of Transient.
func (e *ResponseError) Permanent() bool { return !e.Transient() }

// Is matches ErrTransient or ErrPermanent according to the status.
func (e *ResponseError) Is(target error) bool {
	switch target {
	case ErrTransient:
		return e.Transient()
	case ErrPermanent:
		return e.Permanent()
	}
	return false
}

// ThrottledError is a 429 the client did not wait out itself, because the
// delay did not fit in the caller's deadline (or MaxThrottleWait). It matches
// ErrTransient. The caller should fail the invocation; RetryAfter says when
// the service will take requests again.
type ThrottledError struct {
	// RetryAfter is the Retry-After header (seconds or HTTP date) when
	// present, else the N of "Try again in N seconds" in the body, else 60s.
	RetryAfter time.Duration
	// Message is the service's message.
	Message string
}

// Error reports the throttling and the delay.
func (e *ThrottledError) Error() string {
	return fmt.Sprintf("sentinel upload: throttled (HTTP 429), retry after %s: %s", e.RetryAfter, e.Message)
}

// Is matches ErrTransient.
func (e *ThrottledError) Is(target error) bool { return target == ErrTransient }

// RecordError is one object of an upload that was not ingested.
type RecordError struct {
	// Index is the object's index in the slice passed to Upload, or -1 when
	// the service named a recordIndex outside the request.
	Index int
	// ID is the object's "id" ("" when unknown).
	ID string
	// Messages are the service's (or the client's) reasons, verbatim.
	Messages []string
}

// Result is the outcome of an Upload that got an answer for every object.
type Result struct {
	// Accepted is the number of objects the service took.
	Accepted int
	// Rejected are the objects the service (or the client, for objects that
	// are not valid JSON) refused. Retrying them unchanged will not help.
	Rejected []RecordError
	// Dropped are the objects not sent because the API cannot take them
	// (non-indicator objects on the legacy API). They are not failures.
	Dropped []RecordError
}
