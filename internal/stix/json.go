package stix

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// AppendJSON appends the STIX JSON encoding of x to dst and returns the
// extended buffer. Properties come in a fixed order; empty optional ones are
// omitted; times use TimeFormat; strings are escaped as JSON requires, plus
// U+2028 and U+2029, with invalid UTF-8 replaced by U+FFFD. It does not
// validate x (NewIndicator does) and allocates only to grow dst.
func (x *Indicator) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"type":"indicator","spec_version":"2.1","id":`...)
	dst = appendString(dst, x.ID)
	dst = append(dst, `,"created":`...)
	dst = appendTime(dst, x.Created)
	dst = append(dst, `,"modified":`...)
	dst = appendTime(dst, x.Modified)
	dst = appendOptString(dst, `,"created_by_ref":`, x.CreatedByRef)
	if x.Revoked {
		dst = append(dst, `,"revoked":true`...)
	}
	dst = appendStrings(dst, `,"labels":`, x.Labels)
	dst = append(dst, `,"confidence":`...)
	dst = strconv.AppendInt(dst, int64(x.Confidence), 10)
	dst = appendOptString(dst, `,"lang":`, x.Lang)
	if len(x.ExternalReferences) > 0 {
		dst = append(dst, `,"external_references":[`...)
		for i := range x.ExternalReferences {
			r := &x.ExternalReferences[i]
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"source_name":`...)
			dst = appendString(dst, r.SourceName)
			dst = appendOptString(dst, `,"description":`, r.Description)
			dst = appendOptString(dst, `,"url":`, r.URL)
			dst = appendOptString(dst, `,"external_id":`, r.ExternalID)
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	dst = appendStrings(dst, `,"object_marking_refs":`, x.ObjectMarkingRefs)
	dst = appendOptString(dst, `,"name":`, x.Name)
	dst = appendOptString(dst, `,"description":`, x.Description)
	dst = appendStrings(dst, `,"indicator_types":`, x.IndicatorTypes)
	dst = append(dst, `,"pattern":`...)
	dst = appendString(dst, x.Pattern)
	dst = append(dst, `,"pattern_type":`...)
	dst = appendString(dst, x.PatternType)
	dst = appendOptString(dst, `,"pattern_version":`, x.PatternVersion)
	dst = append(dst, `,"valid_from":`...)
	dst = appendTime(dst, x.ValidFrom)
	if !x.ValidUntil.IsZero() {
		dst = append(dst, `,"valid_until":`...)
		dst = appendTime(dst, x.ValidUntil)
	}
	if len(x.KillChainPhases) > 0 {
		dst = append(dst, `,"kill_chain_phases":[`...)
		for i, k := range x.KillChainPhases {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"kill_chain_name":`...)
			dst = appendString(dst, k.KillChainName)
			dst = append(dst, `,"phase_name":`...)
			dst = appendString(dst, k.PhaseName)
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	dst = appendContexts(dst, x)
	return append(dst, '}')
}

// MarshalJSON implements json.Marshaler with AppendJSON.
func (x *Indicator) MarshalJSON() ([]byte, error) {
	return x.AppendJSON(make([]byte, 0, 1024)), nil
}

// UnmarshalJSON implements json.Unmarshaler with encoding/json. It rejects
// (ErrInvalidIndicator) a "type" other than "indicator" and a "spec_version"
// other than "2.1" (absent is accepted), and fills Observable's Type and Value
// from the pattern when ParsePattern and ObservableFromComparison accept it.
// It sets Contexts from the SourceContextExtension when that splits the
// description exactly (else nil), each reported at modified. Properties
// this type does not model are ignored; Sources is left as is.
func (x *Indicator) UnmarshalJSON(data []byte) error {
	type plain Indicator
	aux := struct {
		Type        string                     `json:"type"`
		SpecVersion string                     `json:"spec_version"`
		Extensions  map[string]json.RawMessage `json:"extensions"`
		*plain
	}{plain: (*plain)(x)}
	if err := json.Unmarshal(data, &aux); err != nil {
		return err
	}
	if err := checkType(aux.Type, aux.SpecVersion, "indicator"); err != nil {
		return err
	}
	x.Contexts = decodeContexts(aux.Extensions[SourceContextExtension], x)
	x.Observable.Type, x.Observable.Value = "", ""
	if c, err := ParsePattern(x.Pattern); err == nil {
		if t, v, err := ObservableFromComparison(c); err == nil {
			x.Observable.Type, x.Observable.Value = t, v
		}
	}
	return nil
}

// AppendJSON appends the STIX JSON encoding of x to dst, like
// Indicator.AppendJSON.
func (x *Identity) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"type":"identity","spec_version":"2.1","id":`...)
	dst = appendString(dst, x.ID)
	dst = append(dst, `,"created":`...)
	dst = appendTime(dst, x.Created)
	dst = append(dst, `,"modified":`...)
	dst = appendTime(dst, x.Modified)
	dst = append(dst, `,"name":`...)
	dst = appendString(dst, x.Name)
	dst = appendOptString(dst, `,"description":`, x.Description)
	dst = appendOptString(dst, `,"identity_class":`, x.IdentityClass)
	return append(dst, '}')
}

// MarshalJSON implements json.Marshaler with AppendJSON.
func (x *Identity) MarshalJSON() ([]byte, error) {
	return x.AppendJSON(make([]byte, 0, 256)), nil
}

// UnmarshalJSON implements json.Unmarshaler with encoding/json, rejecting
// (ErrInvalidIndicator) a "type" other than "identity" and a "spec_version"
// other than "2.1".
func (x *Identity) UnmarshalJSON(data []byte) error {
	type plain Identity
	aux := struct {
		Type        string `json:"type"`
		SpecVersion string `json:"spec_version"`
		*plain
	}{plain: (*plain)(x)}
	if err := json.Unmarshal(data, &aux); err != nil {
		return err
	}
	return checkType(aux.Type, aux.SpecVersion, "identity")
}

func checkType(typ, spec, want string) error {
	if typ != want {
		return fmt.Errorf("%w: type %q, want %q", ErrInvalidIndicator, typ, want)
	}
	if spec != "" && spec != SpecVersion {
		return fmt.Errorf("%w: spec_version %q, want %q", ErrInvalidIndicator, spec, SpecVersion)
	}
	return nil
}

// appendTime appends t as a quoted TimeFormat timestamp; it writes the
// digits itself (time.AppendFormat is several times slower) and falls back
// to AppendFormat for years outside 0-9999.
func appendTime(dst []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		dst = append(dst, '"')
		dst = t.AppendFormat(dst, TimeFormat)
		return append(dst, '"')
	}
	hour, minute, sec := t.Clock()
	ms := t.Nanosecond() / 1e6
	return append(dst, '"',
		byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10), '-',
		byte('0'+int(month)/10), byte('0'+int(month)%10), '-', byte('0'+day/10), byte('0'+day%10), 'T',
		byte('0'+hour/10), byte('0'+hour%10), ':', byte('0'+minute/10), byte('0'+minute%10), ':',
		byte('0'+sec/10), byte('0'+sec%10), '.', byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10), 'Z', '"')
}

func appendOptString(dst []byte, key, s string) []byte {
	if s == "" {
		return dst
	}
	dst = append(dst, key...)
	return appendString(dst, s)
}

func appendStrings(dst []byte, key string, ss []string) []byte {
	if len(ss) == 0 {
		return dst
	}
	dst = append(dst, key...)
	dst = append(dst, '[')
	for i, s := range ss {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, s)
	}
	return append(dst, ']')
}

// jsonPlain marks the bytes appendString copies as they are: printable
// ASCII other than the quote and the backslash. A read-only lookup table.
var jsonPlain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendString appends s as a JSON string: quote, backslash and control
// characters escaped, U+2028/U+2029 escaped (JavaScript line terminators),
// invalid UTF-8 bytes replaced by U+FFFD.
func appendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	// Fast path: most values are plain printable ASCII.
	i := 0
	for i < len(s) && jsonPlain[s[i]] {
		i++
	}
	if i == len(s) {
		dst = append(dst, s...)
		return append(dst, '"')
	}
	start := 0
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0x0f])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0x0f])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
