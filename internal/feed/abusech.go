package feed

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"time"
)

// checkStatus interprets an abuse.ch API query_status. A missing status is
// accepted (seen=false). "no_result" and "no_results" mean an empty
// success; auth failures wrap ErrAuth; anything but "ok" wraps
// ErrBadPayload.
//
// A status may carry a detail after a colon, and an API has been seen to
// echo the key there ("illegal_auth_key: <key>"): a status whose code (the
// part before the colon) names an auth or API key, or says unauthorized or
// authentication, is an auth failure, and the error quotes that code only. Other statuses are quoted, shortened, as
// badPayload does. (The fetch package also redacts the configured key from
// the payload before any parser sees it.)
func checkStatus(format string, status []byte, seen bool) (empty bool, err error) {
	if !seen {
		return false, nil
	}
	switch string(status) {
	case "ok":
		return false, nil
	case "no_result", "no_results":
		return true, nil
	}
	code, _, detail := bytes.Cut(status, []byte(":"))
	code = bytes.TrimSpace(code)
	if authStatus(code) {
		withheld := ""
		if detail {
			withheld = " (detail withheld: it may echo the key)"
		}
		return false, fmt.Errorf("%s: %w: query_status %s%s", format, ErrAuth, snippet(code), withheld)
	}
	return false, badPayload(format, `query_status "ok"`, []byte(`query_status `+strconv.Quote(string(status))))
}

// authStatus reports whether an abuse.ch query_status code means the
// Auth-Key is missing, unknown, invalid or blacklisted.
func authStatus(code []byte) bool {
	switch string(code) {
	case "auth_key_required", "no_api_key", "unknown_auth_key", "user_blacklisted",
		"invalid_auth_key", "auth_key_invalid", "unauthorized":
		return true
	}
	lower := bytes.ToLower(code)
	for _, w := range []string{"auth_key", "api_key", "unauthorized", "authentication"} {
		if bytes.Contains(lower, []byte(w)) {
			return true
		}
	}
	return false
}

// jsonRecord accumulates the decoded strings of one JSON record in one
// buffer, so that converting the buffer once yields every string field.
type jsonRecord struct {
	s     *scanner
	st    *Stats
	buf   []byte
	spans []span
	tmp   []byte
}

func (j *jsonRecord) reset() {
	j.buf = j.buf[:0]
	j.spans = j.spans[:0]
}

// object consumes the object that is the next value into the emptied
// record buffer: it calls member for each key with the scanner positioned
// before the value, which member must consume. It stops at the first error.
func (j *jsonRecord) object(expected string, member func(key []byte) error) error {
	if err := j.s.open('{', expected); err != nil {
		return err
	}
	j.reset()
	for first := true; ; first = false {
		key, ok, err := j.s.member(first)
		if err != nil || !ok {
			return err
		}
		if err := member(key); err != nil {
			return err
		}
	}
}

// elems calls each for every element of an array whose '[' was consumed,
// with the scanner positioned before the element, which each must consume,
// and then consumes the closing ']'. It stops at the first error.
func (s *scanner) elems(each func() error) error {
	for first := true; ; first = false {
		ok, err := s.elem(first)
		if err != nil || !ok {
			return err
		}
		if err := each(); err != nil {
			return err
		}
	}
}

// str reads a scalar value into the record buffer and returns its trimmed
// span; null, objects and arrays give an empty span.
func (j *jsonRecord) str() (span, error) {
	start := len(j.buf)
	var err error
	_, j.buf, err = j.s.value(j.buf)
	return trimSpan(j.buf, span{start, len(j.buf)}), err
}

// list reads a list of strings (array or comma-separated string) and
// returns the range of j.spans holding its items.
func (j *jsonRecord) list() ([2]int, error) {
	start := len(j.spans)
	var err error
	j.buf, j.spans, err = j.s.strings(j.buf, j.spans)
	return [2]int{start, len(j.spans)}, err
}

// scratch reads a scalar value into the scratch buffer.
func (j *jsonRecord) scratch() (byte, []byte, error) {
	var kind byte
	var err error
	kind, j.tmp, err = j.s.value(j.tmp[:0])
	return kind, j.tmp, err
}

// time reads a timestamp; an unusable one counts as a field error.
func (j *jsonRecord) time(field string) (time.Time, error) {
	_, b, err := j.scratch()
	if err != nil {
		return time.Time{}, err
	}
	t, terr := parseTime(b)
	if terr != nil {
		j.st.fieldError(field)
	}
	return t, nil
}

// wrap appends prefix, the text of sp and suffix to the record buffer and
// returns the span of the result.
func (j *jsonRecord) wrap(prefix string, sp span, suffix string) span {
	start := len(j.buf)
	j.buf = append(j.buf, prefix...)
	j.buf = append(j.buf, j.buf[sp.a:sp.b]...)
	j.buf = append(j.buf, suffix...)
	return span{start, len(j.buf)}
}

// addBytes appends b to the record buffer and returns its span.
func (j *jsonRecord) addBytes(b []byte) span {
	start := len(j.buf)
	j.buf = append(j.buf, b...)
	return span{start, len(j.buf)}
}

// tags returns the strings of the list range r (plus extra, when not
// already present) from the converted buffer s.
func (e *emitter) tags(s string, spans []span, r [2]int, extra string) []string {
	n := r[1] - r[0]
	if extra != "" {
		for _, sp := range spans[r[0]:r[1]] {
			if sp.of(s) == extra {
				extra = ""
				break
			}
		}
		if extra != "" {
			n++
		}
	}
	out := e.strings(n)
	for i, sp := range spans[r[0]:r[1]] {
		out[i] = sp.of(s)
	}
	if extra != "" {
		out[n-1] = extra
	}
	return out
}

// atoi parses an optionally signed decimal integer.
func atoi(b []byte) (int, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) > 9 {
		return 0, false
	}
	n, ok := digits(b)
	if neg {
		n = -n
	}
	return n, ok
}

// envelope parses an abuse.ch API response {"query_status":...,"<key>":[...]}
// with the two members in any order and others ignored, calling each for
// every element of the array (positioned before the element). The array
// may be null or, with a "no result" status, a string.
func envelope(s *scanner, expected, key string, each func() error) error {
	c, err := s.peek()
	if err == io.EOF {
		return badPayload(s.format, expected, nil)
	}
	if err != nil {
		return err
	}
	if c != '{' {
		return s.syntax(expected)
	}
	s.pos++
	var status []byte
	var statusSeen, dataSeen, dataString bool
	for first := true; ; first = false {
		k, ok, err := s.member(first)
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		switch string(k) {
		case "query_status":
			statusSeen = true
			if _, status, err = s.value(status[:0]); err != nil {
				return err
			}
			continue
		case key:
		default:
			if err := s.skip(0); err != nil {
				return err
			}
			continue
		}
		dataSeen = true
		switch c, err := s.next(); {
		case err != nil:
			return err
		case c == '"':
			dataString = true
			if err := s.skip(0); err != nil {
				return err
			}
			continue
		case c != '[':
			if _, _, err := s.value(nil); err != nil {
				return err
			}
			if c == 'n' { // null: no records; the status still decides
				continue
			}
			return badPayloadf(s.format, "expected %q to be an array", key)
		}
		s.pos++
		if err := s.elems(each); err != nil {
			return err
		}
	}
	empty, err := checkStatus(s.format, status, statusSeen)
	if err != nil {
		return err
	}
	if !statusSeen && !dataSeen {
		return badPayloadf(s.format, "expected %s, got an object without query_status or %q", expected, key)
	}
	if dataString && !empty {
		return badPayloadf(s.format, "expected %q to be an array, got a string", key)
	}
	return s.done()
}
