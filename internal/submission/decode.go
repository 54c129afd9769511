// Package submission is the HTTP edge of analyst submissions: it sniffs
// the content type, decodes JSON, STIX and free-text bodies into the items
// and request-level defaults that ingest.Submissions takes, and maps a
// refused submission to its HTTP status.
package submission

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/feeds2sentinel/feeds2sentinel/internal/ingest"
	"github.com/feeds2sentinel/feeds2sentinel/internal/ioc"
	"github.com/feeds2sentinel/feeds2sentinel/internal/stix"
)

// Decode reads a submission body of the given Content-Type: JSON (an
// array of IOCs, {"indicators": [...], defaults…}, a STIX 2.1 bundle or
// object) or text (IOCs extracted, defanged forms included). A body refused
// whole returns an *ingest.SubmitError; an item that cannot be read is
// returned with its Err set, to be rejected with that reason.
func Decode(ctx context.Context, contentType string, body []byte) ([]ingest.SubmitItem, ingest.SubmitDefaults, error) {
	var d ingest.SubmitDefaults
	// PowerShell and some editors prefix UTF-8 with a byte-order mark.
	body = bytes.TrimPrefix(body, []byte("\xef\xbb\xbf"))
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, d, &ingest.SubmitError{Code: "empty", Message: "the submission is empty: send a JSON array of IOCs, a STIX 2.1 bundle, or text"}
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		mt = strings.ToLower(strings.TrimSpace(contentType))
	}
	switch mt {
	case "application/json", "application/stix+json", "application/vnd.oasis.stix+json", "application/taxii+json":
		return decodeJSON(body)
	case "text/plain", "text/markdown", "text/csv":
		items, err := extractText(ctx, string(body))
		return items, d, err
	}
	return nil, d, &ingest.SubmitError{Code: "unsupported_media_type",
		Message: fmt.Sprintf("Content-Type %q is not supported: use application/json, application/stix+json or text/plain", mt)}
}

// HTTPStatus is the status a refused submission is answered with: 413 for
// what is too large, 415 for an unsupported type, 400 for the rest of the
// refusals, 500 for an error that is not a refusal.
func HTTPStatus(err error) int {
	var se *ingest.SubmitError
	if !errors.As(err, &se) {
		return http.StatusInternalServerError
	}
	switch se.Code {
	case "too_many_items", "too_many_labels", "dry_run_too_large", "body_too_large":
		return http.StatusRequestEntityTooLarge
	case "unsupported_media_type":
		return http.StatusUnsupportedMediaType
	}
	return http.StatusBadRequest
}

// decodeJSON reads the JSON submission forms: an array of items, an object
// {"indicators": [...], defaults…}, a STIX bundle, a STIX object, or an
// array of STIX objects.
func decodeJSON(body []byte) ([]ingest.SubmitItem, ingest.SubmitDefaults, error) {
	var d ingest.SubmitDefaults
	var top any
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&top); err != nil {
		return nil, d, malformed(body, err)
	}
	if dec.More() {
		return nil, d, &ingest.SubmitError{Code: "malformed_json", Message: fmt.Sprintf("malformed JSON at byte %d: more than one JSON value", dec.InputOffset())}
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
				return nil, d, &ingest.SubmitError{Code: "bad_bundle", Message: "a STIX bundle needs an objects array: " + err.Error()}
			}
			return decodeItems(b.Objects), d, nil
		} else if typ != "" {
			return decodeItems([]json.RawMessage{body}), d, nil
		}
		if _, ok := t["indicators"]; !ok {
			return nil, d, &ingest.SubmitError{Code: "bad_shape", Message: `expected a JSON array of IOCs, an object {"indicators": [...]}, or a STIX 2.1 bundle`}
		}
		var env struct {
			ingest.SubmitDefaults
			Indicators []json.RawMessage `json:"indicators"`
		}
		if err := json.Unmarshal(body, &env); err != nil {
			return nil, d, &ingest.SubmitError{Code: "bad_shape", Message: "request-level fields: " + err.Error() +
				` (source and tlp are strings, labels an array of strings, confidence 0-100, lifetime a duration such as "30d")`}
		}
		return decodeItems(env.Indicators), env.SubmitDefaults, nil
	default:
		return nil, d, &ingest.SubmitError{Code: "bad_shape", Message: `expected a JSON array of IOCs, an object {"indicators": [...]}, or a STIX 2.1 bundle`}
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
	return &ingest.SubmitError{Code: "malformed_json", Message: fmt.Sprintf("malformed JSON at line %d, column %d (byte %d): %s", line, col, off, msg)}
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

func decodeItems(raw []json.RawMessage) []ingest.SubmitItem {
	out := make([]ingest.SubmitItem, 0, len(raw))
	for _, r := range raw {
		out = append(out, decodeItem(r))
	}
	return out
}

func decodeItem(r json.RawMessage) ingest.SubmitItem {
	var s string
	if json.Unmarshal(r, &s) == nil {
		return ingest.SubmitItem{Input: s, Record: ioc.Record{Value: s}}
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(r, &probe); err != nil {
		return ingest.SubmitItem{Input: string(r), Err: &ioc.Rejection{Reason: ioc.ReasonInvalid, Detail: "an item is a string (the IOC) or an object {value, type?, labels?, confidence?, valid_until?, description?, tlp?}"}}
	}
	if _, isSTIX := probe["spec_version"]; isSTIX || probe["pattern"] != nil || hasSTIXID(probe) {
		return decodeSTIXItem(r)
	}
	var ji jsonItem
	if err := json.Unmarshal(r, &ji); err != nil {
		return ingest.SubmitItem{Input: string(r), Err: &ioc.Rejection{Reason: ioc.ReasonInvalid, Detail: "item fields: " + err.Error()}}
	}
	if ji.Value == nil || strings.TrimSpace(*ji.Value) == "" {
		return ingest.SubmitItem{Input: string(r), Err: &ioc.Rejection{Reason: ioc.ReasonInvalid, Detail: "item has no value: expected {\"value\": \"<IOC>\", …}"}}
	}
	it := ingest.SubmitItem{Input: *ji.Value, Record: ioc.Record{Value: *ji.Value, Description: ji.Description, TLP: ji.TLP}}
	if it.Record.Labels, it.Err = ingest.CleanLabels(ji.Labels); it.Err != nil {
		return it
	}
	if ji.Type != "" {
		t, err := ioc.ParseType(ji.Type)
		if err != nil {
			it.Err = err
			return it
		}
		it.Record.Type = t
	}
	if ji.Confidence != nil {
		if *ji.Confidence < 0 || *ji.Confidence > 100 {
			it.Err = &ioc.Rejection{Reason: ioc.ReasonInvalid, Detail: "confidence must be 0-100"}
			return it
		}
		it.Record.Confidence, it.Record.ConfidenceSet = *ji.Confidence, true
	}
	if ji.ValidUntil != "" {
		t, err := time.Parse(time.RFC3339, ji.ValidUntil)
		if err != nil {
			it.Err = &ioc.Rejection{Reason: ioc.ReasonInvalid, Detail: "valid_until must be an RFC 3339 time such as 2026-12-31T00:00:00Z"}
			return it
		}
		it.Record.ValidUntil = t.UTC()
	}
	if ji.TLP != "" {
		if _, err := stix.TLPMarkingID(ji.TLP); err != nil {
			it.Err = &ioc.Rejection{Reason: ioc.ReasonInvalid, Detail: "tlp must be clear, green, amber, amber+strict or red"}
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
func decodeSTIXItem(r json.RawMessage) ingest.SubmitItem {
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
		return ingest.SubmitItem{Input: string(r), Err: &ioc.Rejection{Reason: ioc.ReasonInvalid, Detail: "STIX object: " + err.Error()}}
	}
	in := o.ID
	if in == "" {
		in = o.Type
	}
	switch {
	case o.Type != "indicator":
		return ingest.SubmitItem{Input: in, Err: &ioc.Rejection{Reason: ioc.ReasonUnsupported, Detail: fmt.Sprintf("STIX object type %q: only indicator objects are accepted", o.Type)}}
	case o.PatternType != "" && o.PatternType != "stix":
		return ingest.SubmitItem{Input: in, Err: &ioc.Rejection{Reason: ioc.ReasonUnsupported, Detail: fmt.Sprintf("pattern_type %q: only stix patterns are accepted", o.PatternType)}}
	case o.Revoked:
		return ingest.SubmitItem{Input: in, Err: &ioc.Rejection{Reason: ioc.ReasonInvalid, Detail: "revoked indicators are not accepted"}}
	}
	c, err := stix.ParsePattern(o.Pattern)
	if err != nil {
		return ingest.SubmitItem{Input: in, Err: &ioc.Rejection{Reason: ioc.ReasonUnsupported, Detail: "pattern must be a single comparison such as [ipv4-addr:value = '1.2.3.4']: " + err.Error()}}
	}
	typ, value, err := stix.ObservableFromComparison(c)
	if err != nil {
		return ingest.SubmitItem{Input: in, Err: &ioc.Rejection{Reason: ioc.ReasonUnsupported, Detail: err.Error()}}
	}
	it := ingest.SubmitItem{Input: value, Record: ioc.Record{Value: value, Type: typ, Description: o.Description, ValidUntil: o.ValidUntil.UTC()}}
	if o.ValidUntil.IsZero() {
		it.Record.ValidUntil = time.Time{}
	}
	if it.Record.Labels, it.Err = ingest.CleanLabels(o.Labels); it.Err != nil {
		return it
	}
	if o.Confidence != nil {
		if *o.Confidence < 0 || *o.Confidence > 100 {
			it.Err = &ioc.Rejection{Reason: ioc.ReasonInvalid, Detail: "confidence must be 0-100"}
			return it
		}
		it.Record.Confidence, it.Record.ConfidenceSet = *o.Confidence, true
	}
	return it
}

// extractText pulls IOCs out of free text; it stops when ctx is done.
func extractText(ctx context.Context, text string) ([]ingest.SubmitItem, error) {
	cands, err := ioc.ExtractContext(ctx, text)
	if err != nil {
		return nil, fmt.Errorf("extract IOCs from text: %w", err)
	}
	out := make([]ingest.SubmitItem, 0, len(cands))
	for _, c := range cands {
		out = append(out, ingest.SubmitItem{Input: c.Raw, Record: ioc.Record{Value: c.Raw, Type: c.Type}})
	}
	return out, nil
}
