package feed

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"strconv"
	"strings"
	"time"
)

// table reads an abuse.ch-style CSV export: '#' banner lines, a header row
// that is itself a '#' comment (the last comment line with a comma before
// the first data row), quoted data rows separated by "," or ", ", and '#'
// trailer lines such as "# Number of entries: 3". Columns are looked up by
// header name, so inserted or extra columns do not matter.
type table struct {
	format   string
	cr       *csv.Reader
	cols     map[string]int
	ncols    int
	rows     int // data rows read
	line     int // line of the row last read
	declared int // count from a "Number of entries" trailer, -1 if none
}

// maxCommentLine bounds a banner line; longer comment lines are discarded
// piecewise.
const maxCommentLine = 4 << 10

// newTable reads the banner and header from br. required names the columns
// the format cannot do without; a header missing one of them is
// ErrBadPayload naming them.
func newTable(br *bufio.Reader, format, expected string, required ...string) (*table, error) {
	var header []byte
	var first []byte // first banner bytes, for error messages
	for {
		c, err := br.Peek(1)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, readError(format, err)
		}
		if c[0] != '#' && c[0] != '\n' && c[0] != '\r' {
			break
		}
		line, err := br.ReadSlice('\n')
		if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
			return nil, readError(format, err)
		}
		if first == nil {
			first = append([]byte(nil), line[:min(len(line), snippetLen)]...)
		}
		for err == bufio.ErrBufferFull {
			_, err = br.ReadSlice('\n')
		}
		if err != nil && err != io.EOF {
			return nil, readError(format, err)
		}
		if len(line) <= maxCommentLine && bytes.IndexByte(line, ',') >= 0 {
			header = append(header[:0], line...)
		}
	}
	if header == nil {
		if first == nil {
			first, _ = br.Peek(snippetLen)
		}
		return nil, badPayload(format, expected, first)
	}
	t := &table{format: format, cols: make(map[string]int), declared: -1}
	names, err := parseHeader(header)
	if err != nil {
		return nil, badPayload(format, expected, header)
	}
	for i, n := range names {
		if _, dup := t.cols[n]; !dup {
			t.cols[n] = i
		}
	}
	t.ncols = len(names)
	var missing []string
	for _, n := range required {
		if _, ok := t.cols[n]; !ok {
			missing = append(missing, strconv.Quote(n))
		}
	}
	if missing != nil {
		return nil, badPayload(format, expected+" with columns "+strings.Join(missing, ", "), bytes.TrimSpace(header))
	}
	t.cr = csv.NewReader(br)
	t.cr.FieldsPerRecord = -1
	t.cr.ReuseRecord = true
	t.cr.TrimLeadingSpace = true
	return t, nil
}

// openTable opens r (see open) and reads the banner and header of an
// abuse.ch-style CSV export from it (see newTable).
func openTable(r io.Reader, format, expected string, required ...string) (*table, error) {
	br, err := open(r, format, expected)
	if err != nil {
		return nil, err
	}
	return newTable(br, format, expected, required...)
}

// parseHeader splits a "# a,b" or `# "a", "b"` header line into names.
func parseHeader(line []byte) ([]string, error) {
	line = bytes.TrimLeft(line, "# \t")
	r := csv.NewReader(bytes.NewReader(line))
	r.TrimLeadingSpace = true
	r.LazyQuotes = true
	names, err := r.Read()
	if err != nil {
		return nil, err
	}
	for i, n := range names {
		names[i] = strings.ToLower(strings.TrimSpace(n))
	}
	return names, nil
}

// col returns the index of a column, or -1.
func (t *table) col(name string) int {
	if i, ok := t.cols[name]; ok {
		return i
	}
	return -1
}

// next returns the next data row (valid until the next call), or io.EOF.
// Comment lines after the header are skipped; a "Number of entries: N"
// trailer is remembered and checked at the end. A row with fewer fields
// than the header, a CSV syntax error or a row count that disagrees with
// the trailer is ErrBadPayload.
func (t *table) next() ([]string, error) {
	for {
		rec, err := t.cr.Read()
		if err == io.EOF {
			if t.declared >= 0 && t.declared != t.rows {
				return nil, badPayloadf(t.format, "expected %d rows as the trailer declares, got %d (truncated?)", t.declared, t.rows)
			}
			return nil, io.EOF
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, badPayloadf(t.format, "expected CSV, got %v", pe)
			}
			return nil, readError(t.format, err)
		}
		if len(rec) > 0 {
			t.line, _ = t.cr.FieldPos(0)
		}
		if len(rec) > 0 && strings.HasPrefix(rec[0], "#") {
			t.comment(strings.Join(rec, ","))
			continue
		}
		if len(rec) < t.ncols {
			return nil, badPayloadf(t.format, "expected %d fields on line %d, got %d (truncated?): %s",
				t.ncols, t.line, len(rec), snippet([]byte(strings.Join(rec, ","))))
		}
		t.rows++
		return rec, nil
	}
}

// each calls row for every data row of t (see next), stopping at the first
// error from either. It returns nil at the end of the table.
func (t *table) each(row func(rec []string) error) error {
	for {
		rec, err := t.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := row(rec); err != nil {
			return err
		}
	}
}

// comment inspects a comment line after the header.
func (t *table) comment(c string) {
	const marker = "Number of entries:"
	if i := strings.Index(c, marker); i >= 0 {
		if n, err := strconv.Atoi(strings.TrimSpace(strings.Trim(strings.TrimSpace(c[i+len(marker):]), "#"))); err == nil {
			t.declared = n
		}
	}
}

// null returns "" for the null spellings of abuse.ch exports.
func null(s string) string {
	switch s {
	case "None", "none", "n/a", "N/A", "null":
		return ""
	}
	return s
}

// field returns rec[i] with nulls mapped to "", or "" when i < 0.
func field(rec []string, i int) string {
	if i < 0 || i >= len(rec) {
		return ""
	}
	return null(strings.TrimSpace(rec[i]))
}

// list splits a comma-separated field into fresh strings from e.
func (e *emitter) list(s string, extra string) []string {
	s = null(s)
	n := 0
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			n++
			if item == extra {
				extra = ""
			}
		}
	}
	if extra != "" {
		n++
	}
	out := e.strings(n)
	i := 0
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out[i] = item
			i++
		}
	}
	if extra != "" {
		out[i] = extra
	}
	return out
}

// csvTime parses a timestamp field, counting an unusable one.
func csvTime(st *Stats, rec []string, i int, name string) time.Time {
	t, err := ParseTime(field(rec, i))
	if err != nil {
		st.fieldError(name)
	}
	return t
}
