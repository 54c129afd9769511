package feed

import (
	"io"
	"unicode/utf16"
	"unicode/utf8"
)

// maxDepth bounds the nesting of JSON values the scanner skips.
const maxDepth = 256

// scanner is a small streaming JSON tokenizer over an io.Reader. It decodes
// strings into caller-supplied buffers so that a record's fields can share
// one allocation, which encoding/json cannot do. Every method reports
// malformed input as an error wrapping ErrBadPayload; it never panics.
type scanner struct {
	format string
	rd     io.Reader
	buf    []byte
	pos    int
	end    int
	off    int64 // stream offset of buf[0]
	err    error // sticky read error (io.EOF at the end)
	key    []byte
	junk   []byte // scratch for skipped strings
}

func newScanner(format string, rd io.Reader) *scanner {
	return &scanner{format: format, rd: rd, buf: make([]byte, bufSize)}
}

// fill moves unread bytes to the front and reads more. It reports whether
// more bytes became available.
func (s *scanner) fill() bool {
	if s.err != nil {
		return false
	}
	if s.pos > 0 {
		n := copy(s.buf, s.buf[s.pos:s.end])
		s.off += int64(s.pos)
		s.end, s.pos = n, 0
	}
	for range 100 {
		n, err := s.rd.Read(s.buf[s.end:])
		s.end += n
		if err != nil {
			s.err = err
			return n > 0
		}
		if n > 0 {
			return true
		}
	}
	s.err = io.ErrNoProgress
	return false
}

// ensure makes n unread bytes available if the stream has them.
func (s *scanner) ensure(n int) bool {
	for s.end-s.pos < n {
		if !s.fill() {
			return false
		}
	}
	return true
}

// eof returns the error for an input that ended inside a value.
func (s *scanner) eof() error {
	if s.err != nil && s.err != io.EOF {
		return readError(s.format, s.err)
	}
	return badPayloadf(s.format, "expected more JSON, got end of payload at byte %d (truncated?)", s.off+int64(s.pos))
}

// syntax returns an error for unexpected input at the current position.
func (s *scanner) syntax(expected string) error {
	end := min(s.pos+40, s.end)
	return badPayloadf(s.format, "expected %s at byte %d, got %s", expected, s.off+int64(s.pos), snippet(s.buf[s.pos:end]))
}

// peek skips white space and returns the next byte without consuming it.
// At a clean end of input it returns io.EOF.
func (s *scanner) peek() (byte, error) {
	for {
		for s.pos < s.end {
			switch c := s.buf[s.pos]; c {
			case ' ', '\t', '\n', '\r':
				s.pos++
			default:
				return c, nil
			}
		}
		if !s.fill() {
			if s.err == io.EOF {
				return 0, io.EOF
			}
			return 0, s.eof()
		}
	}
}

// next is peek that treats the end of input as truncation.
func (s *scanner) next() (byte, error) {
	c, err := s.peek()
	if err == io.EOF {
		return 0, s.eof()
	}
	return c, err
}

// open consumes the opening delimiter c ('{' or '[').
func (s *scanner) open(c byte, expected string) error {
	got, err := s.next()
	if err != nil {
		return err
	}
	if got != c {
		return s.syntax(expected)
	}
	s.pos++
	return nil
}

// member advances to the next member of an object whose '{' was consumed
// and consumes its key and colon; first is true for the first call. It
// returns ok=false after consuming the closing '}'. The key is valid until
// the next call to member.
func (s *scanner) member(first bool) (key []byte, ok bool, err error) {
	c, err := s.next()
	if err != nil {
		return nil, false, err
	}
	if c == '}' {
		s.pos++
		return nil, false, nil
	}
	if !first {
		if c != ',' {
			return nil, false, s.syntax(`"," or "}"`)
		}
		s.pos++
		if c, err = s.next(); err != nil {
			return nil, false, err
		}
	}
	if c != '"' {
		return nil, false, s.syntax("object key")
	}
	if s.key, err = s.str(s.key[:0]); err != nil {
		return nil, false, err
	}
	if c, err = s.next(); err != nil {
		return nil, false, err
	}
	if c != ':' {
		return nil, false, s.syntax(`":"`)
	}
	s.pos++
	return s.key, true, nil
}

// elem advances to the next element of an array whose '[' was consumed;
// first is true for the first call. It returns false after consuming ']'.
func (s *scanner) elem(first bool) (bool, error) {
	c, err := s.next()
	if err != nil {
		return false, err
	}
	if c == ']' {
		s.pos++
		return false, nil
	}
	if !first {
		if c != ',' {
			return false, s.syntax(`"," or "]"`)
		}
		s.pos++
	}
	return true, nil
}

// str consumes a string whose opening quote is the next byte and appends
// its decoded content to dst.
func (s *scanner) str(dst []byte) ([]byte, error) {
	s.pos++
	for {
		i := s.pos
		for i < s.end {
			if c := s.buf[i]; c == '"' || c == '\\' || c < 0x20 {
				break
			}
			i++
		}
		dst = append(dst, s.buf[s.pos:i]...)
		s.pos = i
		if i == s.end {
			if !s.fill() {
				return dst, s.eof()
			}
			continue
		}
		switch c := s.buf[i]; {
		case c == '"':
			s.pos++
			return dst, nil
		case c < 0x20:
			return dst, s.syntax("string character")
		}
		if !s.ensure(2) {
			return dst, s.eof()
		}
		e := s.buf[s.pos+1]
		switch e {
		case '"', '\\', '/':
			dst = append(dst, e)
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, err := s.hex4()
			if err != nil {
				return dst, err
			}
			if utf16.IsSurrogate(r) {
				r1 := r
				r = utf8.RuneError
				if s.ensure(6) && s.buf[s.pos] == '\\' && s.buf[s.pos+1] == 'u' {
					if r2 := hexRune(s.buf, s.pos); r2 >= 0 {
						if d := utf16.DecodeRune(r1, r2); d != utf8.RuneError {
							r = d
							s.pos += 6
						}
					}
				}
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default:
			return dst, s.syntax("escape sequence")
		}
		s.pos += 2
	}
}

// hex4 consumes a \uXXXX escape at the current position.
func (s *scanner) hex4() (rune, error) {
	if !s.ensure(6) {
		return 0, s.eof()
	}
	r := hexRune(s.buf, s.pos)
	if r < 0 {
		return 0, s.syntax("4 hex digits")
	}
	s.pos += 6
	return r, nil
}

// hexRune decodes the \uXXXX escape at b[i:i+6], or returns -1.
func hexRune(b []byte, i int) rune {
	var r rune
	for _, c := range b[i+2 : i+6] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// Value kinds returned by scanner.value.
const (
	kindString = '"'
	kindNumber = '0'
	kindTrue   = 't'
	kindFalse  = 'f'
	kindNull   = 'n'
	kindObject = '{'
	kindArray  = '['
)

// value consumes one value. Strings are decoded and appended to dst;
// numbers, true and false are appended as written; null appends nothing;
// objects and arrays are skipped. kind tells which it was.
func (s *scanner) value(dst []byte) (kind byte, out []byte, err error) {
	c, err := s.next()
	if err != nil {
		return 0, dst, err
	}
	switch c {
	case '"':
		dst, err = s.str(dst)
		return kindString, dst, err
	case 't', 'f', 'n':
		lit := "null"
		if c == 't' {
			lit = "true"
		} else if c == 'f' {
			lit = "false"
		}
		if !s.ensure(len(lit)) {
			return 0, dst, s.eof()
		}
		if string(s.buf[s.pos:s.pos+len(lit)]) != lit {
			return 0, dst, s.syntax("JSON value")
		}
		s.pos += len(lit)
		if c != 'n' {
			dst = append(dst, lit...)
		}
		return c, dst, nil
	case '{', '[':
		return c, dst, s.skip(0)
	}
	if c == '-' || ('0' <= c && c <= '9') {
		dst, err = s.number(dst)
		return kindNumber, dst, err
	}
	return 0, dst, s.syntax("JSON value")
}

// number consumes a number and appends it to dst.
func (s *scanner) number(dst []byte) ([]byte, error) {
	start := len(dst)
	for {
		for s.pos < s.end {
			c := s.buf[s.pos]
			if !('0' <= c && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E') {
				if !validNumber(dst[start:]) {
					return dst, s.syntax("number")
				}
				return dst, nil
			}
			dst = append(dst, c)
			s.pos++
		}
		if !s.fill() {
			if s.err != io.EOF {
				return dst, s.eof()
			}
			if !validNumber(dst[start:]) {
				return dst, s.syntax("number")
			}
			return dst, nil
		}
	}
}

// skip consumes one value of any kind.
func (s *scanner) skip(depth int) error {
	if depth > maxDepth {
		return s.syntax("less deeply nested JSON")
	}
	c, err := s.next()
	if err != nil {
		return err
	}
	switch c {
	case '{':
		s.pos++
		for first := true; ; first = false {
			_, ok, err := s.member(first)
			if err != nil || !ok {
				return err
			}
			if err := s.skip(depth + 1); err != nil {
				return err
			}
		}
	case '[':
		s.pos++
		for first := true; ; first = false {
			ok, err := s.elem(first)
			if err != nil || !ok {
				return err
			}
			if err := s.skip(depth + 1); err != nil {
				return err
			}
		}
	}
	_, s.junk, err = s.value(s.junk[:0])
	return err
}

// done checks that only white space is left.
func (s *scanner) done() error {
	if _, err := s.peek(); err != io.EOF {
		if err != nil {
			return err
		}
		return s.syntax("end of payload")
	}
	return nil
}
