package feed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/feeds2sentinel/feeds2sentinel/internal/ioc"
)

// ErrInvalidSource is wrapped by NewUserList for an unusable definition.
var ErrInvalidSource = errors.New("invalid feed source")

// UserListOptions configure a user-defined list. The zero value means:
// detect each line's type, not a complete list, the pipeline's default
// confidence.
type UserListOptions struct {
	// Type, when set, is the type of every line; otherwise the pipeline
	// detects it per line.
	Type ioc.Type
	// Complete says the list is the complete current set, so entries that
	// disappear may be revoked.
	Complete bool
	// Confidence (1-100) becomes the source's DefaultConfidence; 0 means
	// DefaultUserListConfidence.
	Confidence int
}

// DefaultUserListConfidence is the confidence of a user list whose
// options give none.
const DefaultUserListConfidence = 50

// NewUserList returns a Source for a plain-text list at url: one IP, CIDR,
// domain, URL or hash per line; '#' and ';' comments, whole-line or
// trailing after white space; blank lines, CRLF and a BOM are fine; only
// the first white-space separated token of a line is used. Records get
// Source name, ID the line number and Type opts.Type. The name must match
// [a-z0-9-]{1,40} and differ from every built-in feed name and
// "userlists"; url must be http(s). Errors wrap ErrInvalidSource.
func NewUserList(name, url string, opts UserListOptions) (Source, error) {
	if !validName(name) {
		return Source{}, fmt.Errorf("%w: user list name %q: want 1-40 characters of a-z, 0-9 and -", ErrInvalidSource, name)
	}
	if _, builtin := Lookup(Builtin(), name); builtin || name == "userlists" {
		return Source{}, fmt.Errorf("%w: user list name %q is taken by a built-in feed", ErrInvalidSource, name)
	}
	if len(url) < 8 || (url[:7] != "http://" && url[:8] != "https://") {
		return Source{}, fmt.Errorf("%w: user list %s: url %q is not http(s)", ErrInvalidSource, name, url)
	}
	if opts.Type != "" && !slices.Contains(ioc.PossibleTypeValues(), opts.Type) {
		return Source{}, fmt.Errorf("%w: user list %s: unknown type %q", ErrInvalidSource, name, opts.Type)
	}
	conf := opts.Confidence
	if conf == 0 {
		conf = DefaultUserListConfidence
	}
	if conf < 1 || conf > 100 {
		return Source{}, fmt.Errorf("%w: user list %s: confidence %d not in 1-100", ErrInvalidSource, name, opts.Confidence)
	}
	return Source{
		Name:              name,
		DefaultURL:        url,
		Method:            "GET",
		MinInterval:       defaultMinInterval,
		MaxBytes:          DefaultUserListMaxBytes,
		Complete:          opts.Complete,
		DefaultConfidence: conf,
		Parse:             ListParser(name, opts.Type),
		TLP:               "clear",
		Docs:              "User-defined plain-text list: one IOC per line, '#' and ';' comments.",
	}, nil
}

func validName(name string) bool {
	if len(name) < 1 || len(name) > 40 {
		return false
	}
	for _, c := range []byte(name) {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// ListParser returns the parser of plain-text lists (see NewUserList) whose
// records get Source name and Type typ ("" = detect).
func ListParser(name string, typ ioc.Type) Parser {
	return func(ctx context.Context, r io.Reader, emit Emit) (Stats, error) {
		br, err := open(r, name, "a plain-text list, one IOC per line")
		if err != nil {
			return Stats{}, err
		}
		e := newEmitter(ctx, emit)
		l := &lineReader{format: name, br: br}
		var buf []byte
		err = l.each(&e.stats, func(line []byte) error {
			v := listValue(line)
			if v == nil {
				return nil
			}
			r := e.record()
			r.Source = name
			r.Value, r.ID, buf = valueAndLine(buf, v, l.n)
			r.Type = typ
			return e.send(r)
		})
		return e.stats, err
	}
}
