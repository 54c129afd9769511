package fetch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Sentinel errors. Fetch and the Response body wrap them with the feed name;
// check them with errors.Is.
var (
	// ErrNotModified is returned by Fetch, with a nil Response, when the
	// server answered 304 to the validators of the Request: the payload has
	// not changed since the previous run and need not be processed.
	ErrNotModified = errors.New("not modified")

	// ErrTooLarge is returned when a response (after decompression), a
	// spooled archive or a zip member's declared size exceeds the fetch's
	// byte limit (Request.MaxBytes, else Options.MaxBytes); the message
	// names Request.MaxBytesSetting. The body's Read returns it as soon as
	// the limit is crossed.
	ErrTooLarge = errors.New("response too large")

	// ErrZipBomb is returned by Fetch when a zip payload breaks
	// Options.Zip: too many entries, too much uncompressed data in total,
	// or a member compressed suspiciously well.
	ErrZipBomb = errors.New("zip archive exceeds safety limits")

	// ErrArchive is returned by Fetch when a payload that starts like a zip
	// archive cannot be read as one or holds no data member.
	ErrArchive = errors.New("unusable zip archive")

	// ErrRedirect is returned when a redirect was refused: more than five
	// hops, a scheme other than http(s), or a downgrade from https to http.
	ErrRedirect = errors.New("redirect refused")

	// ErrInvalidRequest is returned by Fetch for a Request it cannot send:
	// nil, or a URL that is not an absolute http(s) URL.
	ErrInvalidRequest = errors.New("invalid fetch request")

	// ErrEncoding is returned when the server used a Content-Encoding
	// other than gzip, deflate or identity, or a body fails to decompress.
	ErrEncoding = errors.New("unusable content encoding")
)

// tooLarge is the ErrTooLarge error for what (a payload, a zip) from host
// over limit bytes; setting, when known, is the setting to raise.
func tooLarge(feed, what, host string, limit int64, setting string) error {
	raise := ""
	if setting != "" {
		raise = " (the limit set by " + setting + "; raise it if the feed has grown)"
	}
	return fmt.Errorf("%s: %s from %s exceeds %d bytes%s: %w", feed, what, host, limit, raise, ErrTooLarge)
}

// snippetMax bounds StatusError.Snippet, in bytes.
const snippetMax = 200

// StatusError reports a response whose status is neither 2xx nor 304 (nor
// 401/403, see ConfigError), after any retries were exhausted. Callers
// detect it with errors.As.
type StatusError struct {
	Feed       string
	StatusCode int
	Status     string // the status line text, e.g. "503 Service Unavailable"
	// Snippet is at most 200 bytes of the response body, reduced to
	// printable text on one line, with the request's Auth-Key redacted.
	Snippet string
	// RetryAfter is the server's Retry-After hint (zero when absent). A
	// 429 or 503 whose hint exceeded Options.MaxRetryDelay is returned
	// without retrying, so callers may reschedule after RetryAfter.
	RetryAfter time.Duration
}

// Error implements error.
func (e *StatusError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: HTTP %s", e.Feed, e.Status)
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	if e.Snippet != "" {
		fmt.Fprintf(&b, ": %q", e.Snippet)
	}
	return b.String()
}

// ConfigError reports a 401 or 403: the server refused the request because
// of credentials, which retrying cannot fix. Msg names the setting to
// change. Fetch makes exactly one request in that case.
type ConfigError struct {
	Feed       string
	Setting    string // the setting holding the key, e.g. "ABUSECH_AUTH_KEY"; may be empty
	StatusCode int
	Msg        string
}

// Error implements error.
func (e *ConfigError) Error() string { return e.Feed + ": " + e.Msg }

// newConfigError builds the one clear message for a refused request.
func newConfigError(req *Request, feed string, status int) *ConfigError {
	e := &ConfigError{Feed: feed, Setting: req.AuthKeySetting, StatusCode: status}
	where := ""
	if req.AuthKeyURL != "" {
		where = " from " + req.AuthKeyURL
	}
	switch {
	case req.AuthKey != "" && req.AuthKeySetting != "":
		e.Msg = fmt.Sprintf("the server refused the Auth-Key (HTTP %d); set %s to a valid key%s", status, req.AuthKeySetting, where)
	case req.AuthKey != "":
		e.Msg = fmt.Sprintf("the server refused the Auth-Key (HTTP %d); configure a valid key%s", status, where)
	case req.AuthKeySetting != "":
		e.Msg = fmt.Sprintf("the server requires an Auth-Key (HTTP %d); set %s%s", status, req.AuthKeySetting, where)
	default:
		e.Msg = fmt.Sprintf("the server refused the request (HTTP %d); check the feed URL and whether the source needs a key%s", status, where)
	}
	return e
}

// netError wraps a transport failure with the feed name, method and host.
// Its text never contains the URL's path or query string (net/url errors
// quote the whole URL); Unwrap still gives the original chain, so
// errors.Is(err, context.DeadlineExceeded) works.
type netError struct {
	feed, method, host string
	msg                string
	err                error
}

func (e *netError) Error() string {
	return fmt.Sprintf("%s: %s %s: %s", e.feed, e.method, e.host, e.msg)
}

func (e *netError) Unwrap() error { return e.err }

func newNetError(feed, method, host string, red *Redactor, err error) error {
	msg := err.Error()
	var ue *url.Error
	if errors.As(err, &ue) {
		msg = ue.Err.Error()
	}
	return &netError{feed: feed, method: method, host: host, msg: red.Redact(msg), err: err}
}

// redirectError is returned by CheckRedirect. NonRetriable stops azcore's
// retry policy from trying the same refused redirect again.
type redirectError struct{ msg string }

func (e *redirectError) Error() string { return ErrRedirect.Error() + ": " + e.msg }
func (e *redirectError) Unwrap() error { return ErrRedirect }

// NonRetriable marks the error as final for azcore's retry policy.
func (e *redirectError) NonRetriable() {}

// Redacted replaces every secret a Redactor finds.
const Redacted = "[REDACTED]"

// Redactor removes configured secrets from text that quotes a server or an
// upstream library: error messages, response bodies, status records. It
// replaces each secret, and its URL-encoded (query and path escaping) and
// JSON-escaped forms (see jsonForms), with Redacted. A partial echo (a
// secret cut short) is not recognized: redact text before cutting it.
//
// Build one with NewRedactor from every secret a feed request carries. A nil
// *Redactor, or one built from no non-empty secret, changes nothing. It is
// immutable and safe for concurrent use.
type Redactor struct {
	bforms [][]byte // distinct non-empty forms, longest first
	maxLen int      // length of the longest form
	rep    *strings.Replacer
}

// NewRedactor returns a Redactor for secrets; empty strings are ignored.
func NewRedactor(secrets ...string) *Redactor {
	var forms []string
	for _, s := range secrets {
		if s == "" {
			continue
		}
		for _, f := range append([]string{s, url.QueryEscape(s), url.PathEscape(s)}, jsonForms(s)...) {
			if !slices.Contains(forms, f) {
				forms = append(forms, f)
			}
		}
	}
	if len(forms) == 0 {
		return nil
	}
	// Longest first: a form that contains another is replaced whole.
	slices.SortStableFunc(forms, func(a, b string) int { return len(b) - len(a) })
	pairs := make([]string, 0, 2*len(forms))
	bforms := make([][]byte, len(forms))
	for i, f := range forms {
		pairs = append(pairs, f, Redacted)
		bforms[i] = []byte(f)
	}
	return &Redactor{bforms: bforms, maxLen: len(forms[0]), rep: strings.NewReplacer(pairs...)}
}

// jsonForms returns s as the inside of a JSON string, as encoders write it:
// with and without HTML escaping (& < > as \u0026 …), each with "/" as it
// is and as "\/".
func jsonForms(s string) []string {
	var forms []string
	for _, html := range []bool{false, true} {
		var b strings.Builder
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(html)
		_ = enc.Encode(s) // a string always encodes
		q := strings.TrimSuffix(b.String(), "\n")
		q = q[1 : len(q)-1]
		forms = append(forms, q, strings.ReplaceAll(q, "/", `\/`))
	}
	return forms
}

// Redact returns s with every secret replaced by Redacted.
func (r *Redactor) Redact(s string) string {
	if r == nil {
		return s
	}
	return r.rep.Replace(s)
}

// Err returns err with its message redacted: errors.Is and errors.As still
// see the original chain through Unwrap. It returns err itself when err is
// nil or its message holds no secret.
func (r *Redactor) Err(err error) error {
	if err == nil || r == nil {
		return err
	}
	msg := err.Error()
	if red := r.rep.Replace(msg); red != msg {
		return &redactedError{msg: red, err: err}
	}
	return err
}

// redactedError carries a redacted message for an error whose own message
// quotes a secret.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// Reader returns a reader that streams rd with every secret replaced by
// Redacted, holding back at most the length of the longest secret form
// minus one byte so that a secret split across reads is still found. It
// returns rd itself for a nil Redactor.
func (r *Redactor) Reader(rd io.Reader) io.Reader {
	if r == nil {
		return rd
	}
	return &redactReader{red: r, src: rd}
}

// redactReader implements Redactor.Reader.
type redactReader struct {
	red  *Redactor
	src  io.Reader
	in   []byte // read from src, not yet scanned
	out  []byte // redacted, not yet returned (a tail of obuf)
	obuf []byte
	next []int // scan's cache: next offset of each form in in
	done bool  // src returned an error (kept in err)
	err  error
}

func (rr *redactReader) Read(p []byte) (int, error) {
	for len(rr.out) == 0 {
		if rr.done && len(rr.in) == 0 {
			return 0, rr.err
		}
		if !rr.done {
			if rr.in == nil {
				rr.in = make([]byte, 0, 32<<10+rr.red.maxLen)
			}
			n, err := rr.src.Read(rr.in[len(rr.in):cap(rr.in)])
			rr.in = rr.in[:len(rr.in)+n]
			if err != nil {
				rr.done, rr.err = true, err
			}
			if n == 0 && err == nil {
				return 0, nil // no progress: let the caller decide
			}
		}
		rr.scan()
	}
	n := copy(p, rr.out)
	rr.out = rr.out[n:]
	return n, nil
}

// scan moves the bytes of in that can no longer be the start of a secret
// to out, redacted. It searches each secret form at most once per byte
// offset it passes (next caches the following occurrence of each form), so
// it takes linear time whatever the payload.
func (rr *redactReader) scan() {
	limit := len(rr.in)
	if !rr.done {
		limit -= rr.red.maxLen - 1
	}
	forms := rr.red.bforms
	if rr.next == nil {
		rr.next = make([]int, len(forms))
	}
	const unknown = -2
	for k := range rr.next {
		rr.next[k] = unknown
	}
	out := rr.obuf[:0]
	i := 0
	for i < limit {
		at, n := -1, 0
		for k, f := range forms {
			if j := rr.next[k]; j == unknown || (j >= 0 && j < i) {
				if j = bytes.Index(rr.in[i:], f); j >= 0 {
					j += i
				}
				rr.next[k] = j
			}
			// Longest forms come first: at a tie the longest wins.
			if j := rr.next[k]; j >= 0 && (at < 0 || j < at) {
				at, n = j, len(f)
			}
		}
		if at < 0 || at >= limit {
			out = append(out, rr.in[i:limit]...)
			i = limit
			break
		}
		out = append(out, rr.in[i:at]...)
		out = append(out, Redacted...)
		i = at + n
	}
	rr.out, rr.obuf = out, out
	rr.in = rr.in[:copy(rr.in, rr.in[i:])]
}

// snippet turns an error body into at most snippetMax bytes of printable,
// single-line, valid UTF-8 text with the secrets redacted. They are redacted
// before and after cleaning, and before truncation, so neither a whole
// secret nor a cut-off prefix of it survives.
func snippet(body []byte, red *Redactor) string {
	s := red.Redact(string(body))
	var b strings.Builder
	space := false
	for _, r := range s {
		switch {
		case r == utf8.RuneError:
			r = '?'
		case unicode.IsSpace(r):
			space = b.Len() > 0
			continue
		case !unicode.IsPrint(r):
			r = '?'
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
		if b.Len() > 4*snippetMax {
			break
		}
	}
	s = red.Redact(b.String())
	if len(s) <= snippetMax {
		return s
	}
	cut := snippetMax - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
