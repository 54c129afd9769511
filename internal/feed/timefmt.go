package feed

import (
	"errors"
	"time"
)

// errBadTime is returned by parseTime for text that is no timestamp.
var errBadTime = errors.New("unrecognized timestamp")

// ParseTime parses a feed timestamp. It accepts "YYYY-MM-DD HH:MM:SS"
// with or without a " UTC" suffix, the same with a "T" separator and
// optional fractional seconds, RFC 3339 (any offset, converted to UTC) and
// a bare date "YYYY-MM-DD" (midnight). Times without a zone are UTC. The
// null spellings "", "None", "null" and "n/a" yield the zero time and a nil
// error. Anything else yields the zero time and an error.
func ParseTime(s string) (time.Time, error) {
	return parseTime([]byte(s))
}

// parseTime is ParseTime on bytes; it does not allocate for the common
// layouts.
func parseTime(b []byte) (time.Time, error) {
	b = trimSpan(b, span{0, len(b)}).bytes(b)
	switch string(b) {
	case "", "None", "null", "n/a", "NULL", "none":
		return time.Time{}, nil
	}
	if len(b) < 10 {
		return time.Time{}, errBadTime
	}
	year, ok1 := digits(b[0:4])
	month, ok2 := digits(b[5:7])
	day, ok3 := digits(b[8:10])
	if !ok1 || !ok2 || !ok3 || b[4] != '-' || b[7] != '-' || month < 1 || month > 12 || day < 1 ||
		day > daysIn(time.Month(month), year) {
		return time.Time{}, errBadTime
	}
	if len(b) == 10 {
		return time.Date(year, time.Month(month), day, 0, 0, 0, 0, time.UTC), nil
	}
	if len(b) < 19 || (b[10] != ' ' && b[10] != 'T' && b[10] != 't') || b[13] != ':' || b[16] != ':' {
		return time.Time{}, errBadTime
	}
	hour, ok1 := digits(b[11:13])
	minute, ok2 := digits(b[14:16])
	sec, ok3 := digits(b[17:19])
	if !ok1 || !ok2 || !ok3 || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, errBadTime
	}
	rest := b[19:]
	nsec := 0
	if len(rest) > 0 && rest[0] == '.' {
		i, scale := 1, 100000000
		for ; i < len(rest) && '0' <= rest[i] && rest[i] <= '9'; i++ {
			nsec += int(rest[i]-'0') * scale
			scale /= 10
		}
		if i == 1 {
			return time.Time{}, errBadTime
		}
		rest = rest[i:]
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	switch string(rest) {
	case "", " UTC", "Z", "z", "+00:00", " +0000", " GMT", " (UTC)":
		return t, nil
	}
	// A numeric offset, as in RFC 3339: ±hh:mm.
	if len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':' {
		oh, ok1 := digits(rest[1:3])
		om, ok2 := digits(rest[4:6])
		if ok1 && ok2 && oh < 24 && om < 60 {
			off := time.Duration(oh)*time.Hour + time.Duration(om)*time.Minute
			if rest[0] == '+' {
				off = -off
			}
			return t.Add(off), nil
		}
	}
	return time.Time{}, errBadTime
}

// bytes returns b[sp.a:sp.b].
func (sp span) bytes(b []byte) []byte { return b[sp.a:sp.b] }

// digits parses an unsigned decimal made only of ASCII digits.
func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, len(b) > 0
}

func daysIn(m time.Month, year int) int {
	return time.Date(year, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}
