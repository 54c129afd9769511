// Package feed owns the threat-intelligence feeds feeds2sentinel reads: a
// description of every built-in source (where it lives, how to ask for it,
// how often it may be fetched, whether it publishes a complete list) and a
// streaming parser per payload format that turns raw feed bytes into
// ioc.Record values.
//
// Parsers neither normalize values nor build STIX (the pipeline does that
// with ioc.Normalize and the stix package) and do no HTTP (the fetch
// package does). They read the payload as a stream: memory stays flat in
// the payload size. The registry is built explicitly with Builtin and
// NewUserList; nothing is registered at init time.
package feed

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/feeds2sentinel/feeds2sentinel/internal/ioc"
)

// Errors returned by parsers. Callers check them with errors.Is.
var (
	// ErrBadPayload is wrapped by every error caused by a payload that is not
	// what the format expects: an HTML error page, truncated JSON, missing or
	// renamed required columns, a query_status that is neither ok nor "no
	// result". The message says what was expected and quotes (sanitized) the
	// first bytes of what arrived.
	ErrBadPayload = errors.New("bad feed payload")

	// ErrAuth is wrapped when an abuse.ch API answers with a query_status
	// meaning the Auth-Key is missing, unknown or blacklisted. It is a
	// configuration error: retrying does not help.
	ErrAuth = errors.New("feed authentication failed")

	// ErrZipped is returned when the payload starts with a ZIP local file
	// header ("PK\x03\x04"): the caller must unpack the member and parse
	// that instead.
	ErrZipped = errors.New("feed payload is a zip archive")
)

// Emit receives one parsed record. The record and everything it references
// belong to the callee and may be retained (parsers never reuse them). A
// non-nil error stops the parser, which returns that error unchanged.
type Emit func(r *ioc.Record) error

// Parser reads one feed payload from r and calls emit once per record, in
// payload order. It streams: the payload is never read into memory whole.
//
// On error the records already emitted must be discarded by the caller: a
// parser cannot take back what it emitted before it found the payload to be
// truncated or malformed, and the pipeline must never enqueue half-parsed
// payloads. Errors wrap ErrBadPayload, ErrAuth or ErrZipped, or are read
// errors from r, ctx.Err() or the error returned by emit.
//
// A record that is individually broken (an empty IOC value, an unparsable
// timestamp) is not a payload error: it is emitted with what is usable and
// counted in Stats.FieldErrors, or skipped and counted in Stats.SkippedBy.
// Parsers set Record.Source to their feed name and never leave Value empty.
type Parser func(ctx context.Context, r io.Reader, emit Emit) (Stats, error)

// Stats counts what a parser did with a payload.
type Stats struct {
	// Records is the number of records emitted.
	Records int
	// Skipped is the number of records or lines intentionally not emitted
	// (metadata lines, entries without a value); SkippedBy splits it by a
	// stable reason code such as "metadata" or "empty_value".
	Skipped   int
	SkippedBy map[string]int
	// FieldErrors counts emitted records that had a field left unset because
	// its value was unusable, keyed by the field name (e.g. "first_seen").
	FieldErrors map[string]int
}

func (s *Stats) skip(reason string) {
	s.Skipped++
	if s.SkippedBy == nil {
		s.SkippedBy = make(map[string]int)
	}
	s.SkippedBy[reason]++
}

func (s *Stats) fieldError(field string) {
	if s.FieldErrors == nil {
		s.FieldErrors = make(map[string]int)
	}
	s.FieldErrors[field]++
}

// ctxCheckEvery is how many records a parser handles between context checks.
const ctxCheckEvery = 1024

// emitter hands out records in chunks (one allocation per chunk instead of
// one per record) and counts what was emitted. Records handed out are never
// reused, so callees may retain them.
type emitter struct {
	ctx   context.Context
	emit  Emit
	stats Stats
	recs  []ioc.Record
	strs  []string
}

func newEmitter(ctx context.Context, emit Emit) *emitter {
	return &emitter{ctx: ctx, emit: emit}
}

// record returns a fresh zero record.
func (e *emitter) record() *ioc.Record {
	if len(e.recs) == 0 {
		e.recs = make([]ioc.Record, 64)
	}
	r := &e.recs[0]
	e.recs = e.recs[1:]
	return r
}

// strings returns a fresh slice of n strings whose capacity is n, so that
// an append by a callee copies instead of overwriting a neighbour.
func (e *emitter) strings(n int) []string {
	if n == 0 {
		return nil
	}
	if n > 64 {
		return make([]string, n)
	}
	if len(e.strs) < n {
		e.strs = make([]string, 256)
	}
	s := e.strs[:n:n]
	e.strs = e.strs[n:]
	return s
}

// send emits r, checking the context now and then.
func (e *emitter) send(r *ioc.Record) error {
	if e.stats.Records%ctxCheckEvery == 0 {
		if err := e.ctx.Err(); err != nil {
			return err
		}
	}
	if err := e.emit(r); err != nil {
		return err
	}
	e.stats.Records++
	return nil
}

// snippetLen is how many bytes of an unexpected payload an error quotes.
const snippetLen = 80

// snippet quotes up to snippetLen bytes of b, escaping anything unprintable.
func snippet(b []byte) string {
	if len(b) == 0 {
		return "empty payload"
	}
	if len(b) > snippetLen {
		return strconv.Quote(string(b[:snippetLen])) + "..."
	}
	return strconv.Quote(string(b))
}

// badPayload returns an error wrapping ErrBadPayload that says what the
// format expected and what arrived.
func badPayload(format, expected string, got []byte) error {
	return fmt.Errorf("%s: %w: expected %s, got %s", format, ErrBadPayload, expected, snippet(got))
}

// badPayloadf returns an error wrapping ErrBadPayload with a free message.
func badPayloadf(format, msg string, args ...any) error {
	return fmt.Errorf("%s: %w: %s", format, ErrBadPayload, fmt.Sprintf(msg, args...))
}

// readError wraps a non-EOF error from the payload reader.
func readError(format string, err error) error {
	return fmt.Errorf("%s: read payload: %w", format, err)
}

const bufSize = 64 << 10

// open wraps r in a buffered reader and checks the start of the payload:
// a ZIP header yields ErrZipped, a UTF-8 BOM is dropped, and an HTML page
// yields ErrBadPayload. It returns the first bytes (for error messages) too.
func open(r io.Reader, format, expected string) (*bufio.Reader, error) {
	br := bufio.NewReaderSize(r, bufSize)
	head, err := br.Peek(512)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return nil, readError(format, err)
	}
	if bytes.HasPrefix(head, []byte("PK\x03\x04")) {
		return nil, fmt.Errorf("%s: %w", format, ErrZipped)
	}
	if bytes.HasPrefix(head, []byte("\xef\xbb\xbf")) {
		if _, err := br.Discard(3); err != nil {
			return nil, readError(format, err)
		}
		head = head[3:]
	}
	t := bytes.TrimLeft(head, " \t\r\n")
	if len(t) > 0 && t[0] == '<' {
		return nil, badPayload(format, expected, t)
	}
	return br, nil
}
