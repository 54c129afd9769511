package feed

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
)

// errLongLine is returned by lineReader.next for a line longer than the
// buffer; the line has been consumed.
var errLongLine = errors.New("line too long")

// lineReader reads lines of a text feed, without line endings (LF or CRLF).
type lineReader struct {
	format string
	br     *bufio.Reader
	n      int // number of the line last returned, from 1
}

// next returns the next line (valid until the next call), errLongLine, or
// io.EOF at the end.
func (l *lineReader) next() ([]byte, error) {
	line, err := l.br.ReadSlice('\n')
	if err == io.EOF && len(line) == 0 {
		return nil, io.EOF
	}
	l.n++
	if err == bufio.ErrBufferFull {
		for err == bufio.ErrBufferFull {
			_, err = l.br.ReadSlice('\n')
		}
		if err != nil && err != io.EOF {
			return nil, readError(l.format, err)
		}
		return nil, errLongLine
	}
	if err != nil && err != io.EOF {
		return nil, readError(l.format, err)
	}
	line = bytes.TrimSuffix(line, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	return line, nil
}

// each calls line for every line of l (see next), counting a line longer
// than the buffer in st as skipped "line_too_long". It stops at the first
// error and returns nil at the end of the input.
func (l *lineReader) each(st *Stats, line func(b []byte) error) error {
	for {
		b, err := l.next()
		if err == io.EOF {
			return nil
		}
		if err == errLongLine {
			st.skip("line_too_long")
			continue
		}
		if err != nil {
			return err
		}
		if err := line(b); err != nil {
			return err
		}
	}
}

// listValue returns the IOC on a plain-list line: the line without a
// whole-line or trailing ("  # ...", " ; ...") comment, trimmed, and cut at
// the first white space. It returns nil for blank and comment lines.
func listValue(line []byte) []byte {
	line = bytes.TrimSpace(line)
	if len(line) == 0 || line[0] == '#' || line[0] == ';' {
		return nil
	}
	if i := bytes.IndexAny(line, " \t"); i >= 0 {
		line = line[:i]
	}
	return line
}

// valueAndLine returns one string holding value followed by the decimal
// line number n, so both fields cost one allocation.
func valueAndLine(buf, value []byte, n int) (v, id string, out []byte) {
	buf = append(buf[:0], value...)
	buf = strconv.AppendInt(buf, int64(n), 10)
	s := string(buf)
	return s[:len(value)], s[len(value):], buf
}
