package fetch

import (
	"errors"
	"fmt"
	"net/url"
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

func newNetError(feed, method, host, key string, err error) error {
	msg := err.Error()
	var ue *url.Error
	if errors.As(err, &ue) {
		msg = ue.Err.Error()
	}
	return &netError{feed: feed, method: method, host: host, msg: redact(msg, key), err: err}
}

// redirectError is returned by CheckRedirect. NonRetriable stops azcore's
// retry policy from trying the same refused redirect again.
type redirectError struct{ msg string }

func (e *redirectError) Error() string { return ErrRedirect.Error() + ": " + e.msg }
func (e *redirectError) Unwrap() error { return ErrRedirect }

// NonRetriable marks the error as final for azcore's retry policy.
func (e *redirectError) NonRetriable() {}

const redacted = "[REDACTED]"

// redact replaces every occurrence of key in s. An empty key changes nothing.
func redact(s, key string) string {
	if key == "" {
		return s
	}
	return strings.ReplaceAll(s, key, redacted)
}

// snippet turns an error body into at most snippetMax bytes of printable,
// single-line, valid UTF-8 text with key redacted. The key is redacted
// before and after cleaning, and before truncation, so neither the whole
// key nor a cut-off prefix of it survives.
func snippet(body []byte, key string) string {
	s := redact(string(body), key)
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
	s = redact(b.String(), key)
	if len(s) <= snippetMax {
		return s
	}
	cut := snippetMax - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
