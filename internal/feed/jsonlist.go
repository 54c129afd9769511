package feed

import "bytes"

// strings reads a value that should hold a list of strings: an array of
// strings, or one string holding a comma-separated list, or null. Each item
// is appended to dst and its span (offsets into dst) to spans.
func (s *scanner) strings(dst []byte, spans []span) ([]byte, []span, error) {
	c, err := s.next()
	if err != nil {
		return dst, spans, err
	}
	if c != '[' {
		start := len(dst)
		kind, out, err := s.value(dst)
		if err != nil || kind != kindString {
			return out, spans, err
		}
		return out, splitList(out, start, spans), nil
	}
	s.pos++
	for first := true; ; first = false {
		ok, err := s.elem(first)
		if err != nil || !ok {
			return dst, spans, err
		}
		start := len(dst)
		var kind byte
		if kind, dst, err = s.value(dst); err != nil {
			return dst, spans, err
		}
		if kind == kindString || kind == kindNumber {
			if sp := trimSpan(dst, span{start, len(dst)}); sp.b > sp.a {
				spans = append(spans, sp)
			}
		}
	}
}

// span is a byte range [a, b) of a record buffer.
type span struct{ a, b int }

func (sp span) of(s string) string { return s[sp.a:sp.b] }

// trimSpan drops white space around sp.
func trimSpan(b []byte, sp span) span {
	for sp.a < sp.b && isSpace(b[sp.a]) {
		sp.a++
	}
	for sp.b > sp.a && isSpace(b[sp.b-1]) {
		sp.b--
	}
	return sp
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// splitList appends the non-empty comma-separated items of b[start:] to
// spans.
func splitList(b []byte, start int, spans []span) []span {
	for start <= len(b) {
		i := bytes.IndexByte(b[start:], ',')
		end := len(b)
		if i >= 0 {
			end = start + i
		}
		if sp := trimSpan(b, span{start, end}); sp.b > sp.a {
			spans = append(spans, sp)
		}
		start = end + 1
	}
	return spans
}

// validNumber reports whether b is a JSON number.
func validNumber(b []byte) bool {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(b) && b[i] == '0' {
		i++
	} else if digits() == 0 {
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(b)
}
