package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/feeds2sentinel/feeds2sentinel/internal/ioc"
	"github.com/feeds2sentinel/feeds2sentinel/internal/state"
	"github.com/feeds2sentinel/feeds2sentinel/internal/stix"
)

func stateSeen(source string, now time.Time) state.SourceSeen {
	return state.SourceSeen{Source: source, FirstSeen: now, LastSeen: now}
}

// decodeJSON reads the JSON submission forms: an array of items, an object
// {"indicators": [...], defaults…}, a STIX bundle, a STIX object, or an
// array of STIX objects.
func decodeJSON(body []byte) ([]item, defaults, error) {
	var d defaults
	var top any
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&top); err != nil {
		return nil, d, malformed(body, err)
	}
	if dec.More() {
		return nil, d, &SubmitError{Status: 400, Code: "malformed_json", Message: fmt.Sprintf("malformed JSON at byte %d: more than one JSON value", dec.InputOffset())}
	}
	switch t := top.(type) {
	case []any:
		var raw []json.RawMessage
		_ = json.Unmarshal(body, &raw)
		return decodeItems(raw), d, nil
	case map[string]any:
		if typ, _ := t["type"].(string); typ == "bundle" {
			var b struct {
				Objects []json.RawMessage `json:"objects"`
			}
			if err := json.Unmarshal(body, &b); err != nil {
				return nil, d, &SubmitError{Status: 400, Code: "bad_bundle", Message: "a STIX bundle needs an objects array: " + err.Error()}
			}
			return decodeItems(b.Objects), d, nil
		} else if typ != "" {
			return decodeItems([]json.RawMessage{body}), d, nil
		}
		if _, ok := t["indicators"]; !ok {
			return nil, d, &SubmitError{Status: 400, Code: "bad_shape", Message: `expected a JSON array of IOCs, an object {"indicators": [...]}, or a STIX 2.1 bundle`}
		}
		var env struct {
			defaults
			Indicators []json.RawMessage `json:"indicators"`
		}
		if err := json.Unmarshal(body, &env); err != nil {
			return nil, d, &SubmitError{Status: 400, Code: "bad_shape", Message: "request-level fields: " + err.Error() +
				` (source and tlp are strings, labels an array of strings, confidence 0-100, lifetime a duration such as "30d")`}
		}
		return decodeItems(env.Indicators), env.defaults, nil
	default:
		return nil, d, &SubmitError{Status: 400, Code: "bad_shape", Message: `expected a JSON array of IOCs, an object {"indicators": [...]}, or a STIX 2.1 bundle`}
	}
}

func malformed(body []byte, err error) error {
	var se *json.SyntaxError
	off := int64(len(body))
	if errors.As(err, &se) {
		off = se.Offset
	}
	line, col := 1, 1
	for i := int64(0); i < off && i < int64(len(body)); i++ {
		if body[i] == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	msg := err.Error()
	if errors.Is(err, io.ErrUnexpectedEOF) {
		msg = "unexpected end of input"
	}
	return &SubmitError{Status: 400, Code: "malformed_json", Message: fmt.Sprintf("malformed JSON at line %d, column %d (byte %d): %s", line, col, off, msg)}
}

// jsonItem is the object form of a submitted item.
type jsonItem struct {
	Value       *string  `json:"value"`
	Type        string   `json:"type"`
	Labels      []string `json:"labels"`
	Confidence  *int     `json:"confidence"`
	ValidUntil  string   `json:"valid_until"`
	Description string   `json:"description"`
	TLP         string   `json:"tlp"`
}

func decodeItems(raw []json.RawMessage) []item {
	out := make([]item, 0, len(raw))
	for _, r := range raw {
		out = append(out, decodeItem(r))
	}
	return out
}

func decodeItem(r json.RawMessage) item {
	var s string
	if json.Unmarshal(r, &s) == nil {
		return item{input: s, rec: ioc.Record{Value: s}}
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(r, &probe); err != nil {
		return item{input: string(r), err: &ioc.Rejection{Reason: ioc.ReasonInvalid, Detail: "an item is a string (the IOC) or an object {value, type?, labels?, confidence?, valid_until?, description?, tlp?}"}}
	}
	if _, isSTIX := probe["spec_version"]; isSTIX || probe["pattern"] != nil || hasSTIXID(probe) {
		return decodeSTIXItem(r)
	}
	var ji jsonItem
	if err := json.Unmarshal(r, &ji); err != nil {
		return item{input: string(r), err: &ioc.Rejection{Reason: ioc.ReasonInvalid, Detail: "item fields: " + err.Error()}}
	}
	if ji.Value == nil || strings.TrimSpace(*ji.Value) == "" {
		return item{input: string(r), err: &ioc.Rejection{Reason: ioc.ReasonInvalid, Detail: "item has no value: expected {\"value\": \"<IOC>\", …}"}}
	}
	it := item{input: *ji.Value, rec: ioc.Record{Value: *ji.Value, Description: ji.Description, TLP: ji.TLP}}
	if it.rec.Labels, it.err = cleanLabels(ji.Labels); it.err != nil {
		return it
	}
	if ji.Type != "" {
		t, err := ioc.ParseType(ji.Type)
		if err != nil {
			it.err = err
			return it
		}
		it.rec.Type = t
	}
	if ji.Confidence != nil {
		if *ji.Confidence < 0 || *ji.Confidence > 100 {
			it.err = &ioc.Rejection{Reason: ioc.ReasonInvalid, Detail: "confidence must be 0-100"}
			return it
		}
		it.rec.Confidence, it.rec.ConfidenceSet = *ji.Confidence, true
	}
	if ji.ValidUntil != "" {
		t, err := time.Parse(time.RFC3339, ji.ValidUntil)
		if err != nil {
			it.err = &ioc.Rejection{Reason: ioc.ReasonInvalid, Detail: "valid_until must be an RFC 3339 time such as 2026-12-31T00:00:00Z"}
			return it
		}
		it.rec.ValidUntil = t.UTC()
	}
	if ji.TLP != "" {
		if _, err := stix.TLPMarkingID(ji.TLP); err != nil {
			it.err = &ioc.Rejection{Reason: ioc.ReasonInvalid, Detail: "tlp must be clear, green, amber, amber+strict or red"}
		}
	}
	return it
}

func hasSTIXID(m map[string]json.RawMessage) bool {
	var id string
	return json.Unmarshal(m["id"], &id) == nil && strings.Contains(id, "--")
}

// decodeSTIXItem re-validates a submitted STIX indicator: only a
// single-comparison pattern over a supported observable is accepted.
func decodeSTIXItem(r json.RawMessage) item {
	var o struct {
		Type        string    `json:"type"`
		ID          string    `json:"id"`
		Pattern     string    `json:"pattern"`
		PatternType string    `json:"pattern_type"`
		Labels      []string  `json:"labels"`
		Confidence  *int      `json:"confidence"`
		ValidUntil  time.Time `json:"valid_until"`
		Description string    `json:"description"`
		Name        string    `json:"name"`
		Revoked     bool      `json:"revoked"`
	}
	if err := json.Unmarshal(r, &o); err != nil {
		return item{input: truncate(string(r), 256), err: &ioc.Rejection{Reason: ioc.ReasonInvalid, Detail: "STIX object: " + err.Error()}}
	}
	in := o.ID
	if in == "" {
		in = o.Type
	}
	switch {
	case o.Type != "indicator":
		return item{input: in, err: &ioc.Rejection{Reason: ioc.ReasonUnsupported, Detail: fmt.Sprintf("STIX object type %q: only indicator objects are accepted", o.Type)}}
	case o.PatternType != "" && o.PatternType != "stix":
		return item{input: in, err: &ioc.Rejection{Reason: ioc.ReasonUnsupported, Detail: fmt.Sprintf("pattern_type %q: only stix patterns are accepted", o.PatternType)}}
	case o.Revoked:
		return item{input: in, err: &ioc.Rejection{Reason: ioc.ReasonInvalid, Detail: "revoked indicators are not accepted"}}
	}
	c, err := stix.ParsePattern(o.Pattern)
	if err != nil {
		return item{input: in, err: &ioc.Rejection{Reason: ioc.ReasonUnsupported, Detail: "pattern must be a single comparison such as [ipv4-addr:value = '1.2.3.4']: " + err.Error()}}
	}
	typ, value, err := stix.ObservableFromComparison(c)
	if err != nil {
		return item{input: in, err: &ioc.Rejection{Reason: ioc.ReasonUnsupported, Detail: err.Error()}}
	}
	it := item{input: value, rec: ioc.Record{Value: value, Type: typ, Description: o.Description, ValidUntil: o.ValidUntil.UTC()}}
	if o.ValidUntil.IsZero() {
		it.rec.ValidUntil = time.Time{}
	}
	if it.rec.Labels, it.err = cleanLabels(o.Labels); it.err != nil {
		return it
	}
	if o.Confidence != nil {
		if *o.Confidence < 0 || *o.Confidence > 100 {
			it.err = &ioc.Rejection{Reason: ioc.ReasonInvalid, Detail: "confidence must be 0-100"}
			return it
		}
		it.rec.Confidence, it.rec.ConfidenceSet = *o.Confidence, true
	}
	return it
}

// Label limits of a submission. They bound the work and the memory a
// submission costs: request-level labels are added to every item.
const (
	// MaxLabels is the most labels an item, or the request level, may
	// carry (after removing duplicates and empty labels the count can only
	// fall).
	MaxLabels = 16
	// MaxLabelLen is the longest label in bytes, after trimming.
	MaxLabelLen = 64
	// MaxMergedLabels is the most labels one indicator may collect when
	// the same IOC is submitted several times in one submission; an item
	// that would add more is rejected.
	MaxMergedLabels = 64
)

// cleanLabels checks and cleans submitted labels in linear time: at most
// MaxLabels, each at most MaxLabelLen bytes of valid UTF-8 without control
// characters (NUL, newlines) after trimming; invisible format characters
// (bidirectional overrides such as U+202E, zero-width U+200B and U+FEFF)
// are removed; empty labels and case-insensitive duplicates are dropped.
func cleanLabels(labels []string) ([]string, error) {
	if len(labels) == 0 {
		return nil, nil
	}
	if len(labels) > MaxLabels {
		return nil, &ioc.Rejection{Reason: ioc.ReasonInvalid,
			Detail: fmt.Sprintf("%d labels: at most %d per item or request", len(labels), MaxLabels)}
	}
	out := make([]string, 0, len(labels))
	seen := make(map[string]bool, len(labels))
	for _, l := range labels {
		if len(l) > 4*MaxLabelLen {
			return nil, labelError(l, fmt.Sprintf("longer than %d bytes", MaxLabelLen))
		}
		if !utf8.ValidString(l) {
			return nil, labelError(l, "not valid UTF-8")
		}
		if strings.ContainsFunc(l, unicode.IsControl) {
			return nil, labelError(l, "control characters (such as NUL or a newline) are not allowed")
		}
		l = strings.TrimSpace(strings.Map(dropFormat, l))
		if l == "" {
			continue
		}
		if len(l) > MaxLabelLen {
			return nil, labelError(l, fmt.Sprintf("longer than %d bytes", MaxLabelLen))
		}
		k := strings.ToLower(l)
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, l)
	}
	return out, nil
}

// dropFormat removes Unicode format characters (category Cf: bidirectional
// controls, zero-width spaces and joiners, the byte-order mark).
func dropFormat(r rune) rune {
	if unicode.Is(unicode.Cf, r) {
		return -1
	}
	return r
}

func labelError(l, what string) error {
	if len(l) > 32 {
		l = l[:32] + "…"
	}
	return &ioc.Rejection{Reason: ioc.ReasonInvalid,
		Detail: fmt.Sprintf("label %q: %s", strings.ToValidUTF8(l, "?"), what)}
}

// extractText pulls IOCs out of free text; it stops when ctx is done.
func extractText(ctx context.Context, text string) ([]item, error) {
	cands, err := ioc.ExtractContext(ctx, text)
	if err != nil {
		return nil, fmt.Errorf("extract IOCs from text: %w", err)
	}
	out := make([]item, 0, len(cands))
	for _, c := range cands {
		out = append(out, item{input: c.Raw, rec: ioc.Record{Value: c.Raw, Type: c.Type}})
	}
	return out, nil
}
