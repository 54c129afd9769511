package invoke

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrValue is wrapped by the errors of the value decoders when a value has
// the wrong JSON type or cannot be parsed.
var ErrValue = errors.New("invoke: unexpected value")

// ErrNoBinding is wrapped by [DecodeTimer] and [DecodeServiceBus] when the
// request has no Data entry for the trigger binding.
var ErrNoBinding = errors.New("invoke: trigger binding missing from request")

// ErrUnexpectedBody is wrapped by [JSONBody] (and so by [DecodeServiceBus])
// when a message body is not a JSON object or array in any accepted form.
var ErrUnexpectedBody = errors.New("invoke: message body is not a JSON object or array")

// isNull reports whether raw is absent or the JSON null literal.
func isNull(raw []byte) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

// kind names the JSON type of raw for error messages.
func kind(raw []byte) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// DecodeString decodes a string value the way the host sends it: a JSON
// string, possibly JSON-encoded twice ("\"abc\"" yields abc). A number or
// boolean yields its literal text; absent or null yields "". An object or
// array is an error wrapping [ErrValue].
func DecodeString(raw json.RawMessage) (string, error) {
	b := bytes.TrimSpace(raw)
	if isNull(b) {
		return "", nil
	}
	switch b[0] {
	case '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return "", fmt.Errorf("%w: %w", ErrValue, err)
		}
		if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
			var inner string
			if json.Unmarshal([]byte(s), &inner) == nil {
				return inner, nil
			}
		}
		return s, nil
	case '{', '[':
		return "", fmt.Errorf("%w: want a string, got %s", ErrValue, kind(b))
	}
	if !json.Valid(b) {
		return "", fmt.Errorf("%w: invalid JSON %q", ErrValue, truncate(b))
	}
	return string(b), nil
}

// DecodeInt decodes an integer sent as a JSON number or as a string holding
// one ("1", "\"1\""). Absent or null yields 0. Anything else is an error
// wrapping [ErrValue].
func DecodeInt(raw json.RawMessage) (int64, error) {
	s, err := DecodeString(raw)
	if err != nil {
		return 0, err
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: want an integer, got %q", ErrValue, truncate([]byte(s)))
	}
	return n, nil
}

// decodeBool decodes a boolean sent as JSON or as a string ("true").
func decodeBool(raw json.RawMessage) (bool, error) {
	s, err := DecodeString(raw)
	if err != nil {
		return false, err
	}
	if s = strings.TrimSpace(s); s == "" {
		return false, nil
	}
	v, err := strconv.ParseBool(s)
	if err != nil {
		return false, fmt.Errorf("%w: want a boolean, got %q", ErrValue, truncate([]byte(s)))
	}
	return v, nil
}

// timeLayouts are tried in order by parseTime. Fractional seconds of any
// length (the host sends 7 digits) are accepted after the seconds by every
// layout. The zone-less ones are read as UTC.
var timeLayouts = [...]string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02 15:04:05",
	"01/02/2006 15:04:05",      // .NET invariant culture
	"1/2/2006 3:04:05 PM",      // .NET en-US culture
	"2006-01-02T15:04:05Z0700", // offset without colon
}

// DecodeTime decodes a timestamp as the host sends it: RFC 3339 with an
// offset or Z, or without any offset (2023-10-12T20:13:49, read as UTC),
// with any number of fractional digits, possibly JSON-encoded twice. The
// result is in UTC. Absent, null or "" yields the zero Time; anything
// unparsable is an error wrapping [ErrValue].
func DecodeTime(raw json.RawMessage) (time.Time, error) {
	s, err := DecodeString(raw)
	if err != nil {
		return time.Time{}, err
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range timeLayouts {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%w: want a timestamp, got %q", ErrValue, truncate([]byte(s)))
}

// isContainer reports whether b is a valid JSON object or array.
func isContainer(b []byte) bool {
	return len(b) > 0 && (b[0] == '{' || b[0] == '[') && json.Valid(b)
}

// base64Encodings are the alphabets JSONBody tries, most likely first.
var base64Encodings = [...]*base64.Encoding{
	base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding,
}

// JSONBody extracts a message body that is a JSON object or array from the
// form the host sent it in. It tries, in order: raw itself; raw as a JSON
// string holding the JSON (single-encoded); a JSON string holding a JSON
// string holding the JSON (double-encoded, the host's default for string
// bodies); a JSON string holding the base64 of the JSON ("dataType":
// "binary"). It returns the first candidate that is a valid JSON object or
// array, with surrounding white space removed; the result may alias raw.
// Otherwise the error wraps [ErrUnexpectedBody] and says what arrived.
func JSONBody(raw json.RawMessage) ([]byte, error) {
	b := bytes.TrimSpace(raw)
	if isContainer(b) {
		return b, nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if json.Unmarshal(b, &s) == nil {
			t := strings.TrimSpace(s)
			if isContainer([]byte(t)) {
				return []byte(t), nil
			}
			if len(t) > 0 && t[0] == '"' {
				var inner string
				if json.Unmarshal([]byte(t), &inner) == nil {
					if c := bytes.TrimSpace([]byte(inner)); isContainer(c) {
						return c, nil
					}
				}
			}
			for _, enc := range base64Encodings {
				if d, err := enc.DecodeString(t); err == nil {
					if c := bytes.TrimSpace(d); isContainer(c) {
						return c, nil
					}
				}
			}
		}
	}
	return nil, fmt.Errorf("%w: got %s of %d bytes starting %q; want a JSON object or array, "+
		"sent as JSON, as a JSON string (once or twice encoded) or as base64 (dataType binary)",
		ErrUnexpectedBody, kind(b), len(b), truncate(b))
}

// truncate returns at most the first 32 bytes of b, for error messages.
func truncate(b []byte) []byte {
	const n = 32
	if len(b) > n {
		return b[:n]
	}
	return b
}

// decodeObject decodes an object that may also arrive as a JSON string
// holding the object. Absent or null yields a nil map.
func decodeObject(raw json.RawMessage) (map[string]json.RawMessage, error) {
	b := bytes.TrimSpace(raw)
	if isNull(b) {
		return nil, nil
	}
	if b[0] == '"' {
		s, err := DecodeString(b)
		if err != nil {
			return nil, err
		}
		b = bytes.TrimSpace([]byte(s))
		if len(b) == 0 {
			return nil, nil
		}
	}
	if b[0] != '{' {
		return nil, fmt.Errorf("%w: want an object, got %s", ErrValue, kind(b))
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrValue, err)
	}
	return m, nil
}

// lookup returns m[key], falling back to a case-insensitive match: the host
// uses .NET property names whose casing is not a contract.
func lookup(m map[string]json.RawMessage, key string) json.RawMessage {
	if v, ok := m[key]; ok {
		return v
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return nil
}
