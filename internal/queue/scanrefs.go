package queue

import (
	"bytes"
	"encoding/json"
)

// scanRefs reads the top-level "id", "created_by_ref" and
// "object_marking_refs" of a JSON object without decoding the rest; keys
// match exactly and the last occurrence wins. It falls back to
// encoding/json when the input is malformed or a wanted value is escaped or
// of another type, and returns the zero stixRefs when even that fails.
func scanRefs(o []byte) stixRefs {
	if r, ok := fastRefs(o); ok {
		return r
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(o, &m) != nil {
		return stixRefs{}
	}
	var r stixRefs
	_ = json.Unmarshal(m["id"], &r.ID)
	_ = json.Unmarshal(m["created_by_ref"], &r.CreatedByRef)
	if json.Unmarshal(m["object_marking_refs"], &r.ObjectMarkingRefs) != nil {
		r.ObjectMarkingRefs = nil
	}
	return r
}

// fastRefs is scanRefs' fast path; ok is false when it can't be sure.
func fastRefs(o []byte) (r stixRefs, ok bool) {
	i := skipWS(o, 0)
	if i >= len(o) || o[i] != '{' {
		return r, false
	}
	i = skipWS(o, i+1)
	if i < len(o) && o[i] == '}' {
		return r, skipWS(o, i+1) == len(o)
	}
	for {
		key, j, ok := plainString(o, i)
		if !ok {
			return r, false
		}
		i = skipWS(o, j)
		if i >= len(o) || o[i] != ':' {
			return r, false
		}
		i = skipWS(o, i+1)
		switch string(key) {
		case "id", "created_by_ref":
			v, j, ok := plainString(o, i)
			if !ok {
				return r, false
			}
			if string(key) == "id" {
				r.ID = string(v)
			} else {
				r.CreatedByRef = string(v)
			}
			i = j
		case "object_marking_refs":
			refs, j, ok := plainStrings(o, i)
			if !ok {
				return r, false
			}
			r.ObjectMarkingRefs, i = refs, j
		default:
			j, ok := skipValue(o, i)
			if !ok {
				return r, false
			}
			i = j
		}
		i = skipWS(o, i)
		if i >= len(o) {
			return r, false
		}
		switch o[i] {
		case ',':
			i = skipWS(o, i+1)
		case '}':
			return r, skipWS(o, i+1) == len(o)
		default:
			return r, false
		}
	}
}

func skipWS(o []byte, i int) int {
	for i < len(o) && (o[i] == ' ' || o[i] == '\t' || o[i] == '\n' || o[i] == '\r') {
		i++
	}
	return i
}

// plainString reads a string of printable ASCII without escapes at
// o[i]; it returns its content and the index after the closing quote.
func plainString(o []byte, i int) ([]byte, int, bool) {
	if i >= len(o) || o[i] != '"' {
		return nil, i, false
	}
	end := bytes.IndexByte(o[i+1:], '"')
	if end < 0 {
		return nil, i, false
	}
	s := o[i+1 : i+1+end]
	for _, c := range s {
		if c == '\\' || c < 0x20 || c >= 0x80 {
			return nil, i, false
		}
	}
	return s, i + end + 2, true
}

// plainStrings reads an array of plain strings at o[i].
func plainStrings(o []byte, i int) ([]string, int, bool) {
	if i >= len(o) || o[i] != '[' {
		return nil, i, false
	}
	out := []string{}
	i = skipWS(o, i+1)
	if i < len(o) && o[i] == ']' {
		return out, i + 1, true
	}
	for {
		s, j, ok := plainString(o, i)
		if !ok {
			return nil, i, false
		}
		out = append(out, string(s))
		i = skipWS(o, j)
		if i >= len(o) {
			return nil, i, false
		}
		if o[i] == ']' {
			return out, i + 1, true
		}
		if o[i] != ',' {
			return nil, i, false
		}
		i = skipWS(o, i+1)
	}
}

// skipValue skips one JSON value at o[i] without validating its inside;
// json.Valid in Encode catches what slips through.
func skipValue(o []byte, i int) (int, bool) {
	if i >= len(o) {
		return i, false
	}
	switch o[i] {
	case '"':
		return skipString(o, i)
	case '{', '[':
		depth := 0
		for i < len(o) {
			switch o[i] {
			case '"':
				j, ok := skipString(o, i)
				if !ok {
					return i, false
				}
				i = j
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1, true
				}
			}
			i++
		}
		return i, false
	}
	// A number or a literal: up to the next delimiter.
	start := i
	for i < len(o) && o[i] != ',' && o[i] != '}' && o[i] != ']' && o[i] != ' ' &&
		o[i] != '\t' && o[i] != '\n' && o[i] != '\r' {
		i++
	}
	return i, i > start
}

// skipString skips the string at o[i], escapes included.
func skipString(o []byte, i int) (int, bool) {
	for j := i + 1; j < len(o); j++ {
		switch o[j] {
		case '\\':
			j++
		case '"':
			return j + 1, true
		}
	}
	return i, false
}
