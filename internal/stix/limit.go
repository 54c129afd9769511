package stix

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/feeds2sentinel/feeds2sentinel/internal/ioc"
)

// Size limits of the indicators NewIndicator and Merge return. A feed record
// can carry thousands of tags or megabytes of text (a ThreatFox record with
// 4,000 tags made a 49 KB object that the state store refused, failing a
// whole run); both functions trim such content, deterministically, so that
// one record never breaks a run and the same input always yields the same
// object (and Fingerprint).
const (
	// MaxObjectSize is the largest JSON encoding of an indicator that
	// NewIndicator and Merge return, as json.Marshal writes it (which
	// escapes <, > and & as six bytes each). It is half the state store's
	// per-object limit (32 KiB, internal/state.MaxObjectSize), leaving
	// room for the store record's own fields and the identity that travels
	// with each queued batch; Sentinel documents no object limit, and no
	// indicator built from a valid IOC and the documented caps below comes
	// close to it.
	MaxObjectSize = 16 << 10
	// MaxLabels is the largest number of labels of an indicator, including
	// TruncatedLabel.
	MaxLabels = 50
	// MaxLabelLen is the longest label in bytes; a longer one is cut on a
	// rune boundary and ends with "…".
	MaxLabelLen = 100
	// MaxExternalReferences is the largest number of external references.
	MaxExternalReferences = 10
	// TruncatedLabel is the label added to an indicator whose labels,
	// description or external references were trimmed to respect the
	// limits above, so that an analyst sees that the source said more.
	TruncatedLabel = "f2s:truncated"
)

// maxRefText caps the source_name, description and external_id of an
// external reference; maxRefURL caps its url. A reference with a longer field
// is dropped whole (a cut URL or id would point at something else).
const (
	maxRefText = 256
	maxRefURL  = ioc.MaxURLLen
)

// fit trims x in place to the limits above; truncated says the caller has
// already dropped or cut something. Whenever anything was trimmed, x carries
// TruncatedLabel (as its last label). It never modifies the arrays of x's
// slices: a trimmed list is a new slice. It returns an error when x is still
// larger than MaxObjectSize with every optional property trimmed (only a
// pattern of several KiB can do that).
//
// What is trimmed, in order: labels longer than MaxLabelLen are cut, labels
// beyond MaxLabels dropped from the end; external references with an
// over-long field dropped, those beyond MaxExternalReferences dropped from the
// end; then, while the encoding is too large, the description is halved
// (ending with "…"; with two or more source contexts, each context's
// description), then labels, external references and kill-chain phases are
// dropped from the end.
func fit(x *Indicator, truncated bool) error {
	if refs, cut := capRefs(x.ExternalReferences); cut {
		x.ExternalReferences, truncated = refs, true
	}
	if labels, cut := capLabels(x.Labels, truncated); cut {
		x.Labels, truncated = labels, true
	}
	if sizeBound(x) <= MaxObjectSize {
		return nil
	}
	var buf []byte
	size := func() int {
		buf = x.AppendJSON(buf[:0])
		n := len(buf)
		for _, c := range buf {
			if c == '<' || c == '>' || c == '&' {
				n += 5
			}
		}
		return n
	}
	if size() <= MaxObjectSize {
		return nil
	}
	x.Labels = withMarker(x.Labels)
	for n := size(); n > MaxObjectSize; n = size() {
		switch {
		case len(x.Contexts) > 1 && x.Description != strings.Repeat("\n", len(x.Contexts)-1):
			// Halve each context's description, keeping the split that
			// the extension records.
			x.Contexts = slices.Clone(x.Contexts)
			for i := range x.Contexts {
				x.Contexts[i].Description = halve(x.Contexts[i].Description)
			}
			joinContexts(x)
		case len(x.Contexts) < 2 && x.Description != "":
			x.Description = halve(x.Description)
		case len(x.Labels) > 1:
			// The marker is last: drop the label before it.
			x.Labels = slices.Delete(slices.Clone(x.Labels), len(x.Labels)-2, len(x.Labels)-1)
		case len(x.ExternalReferences) > 0:
			x.ExternalReferences = slices.Clip(x.ExternalReferences[:len(x.ExternalReferences)-1])
		case len(x.KillChainPhases) > 0:
			x.KillChainPhases = slices.Clip(x.KillChainPhases[:len(x.KillChainPhases)-1])
		default:
			return fmt.Errorf("%w: encoded indicator is %d bytes with every optional property trimmed, max %d",
				ErrInvalidIndicator, n, MaxObjectSize)
		}
	}
	return nil
}

// capLabels returns labels cut to MaxLabelLen, deduplicated
// case-insensitively and limited to MaxLabels, ending with TruncatedLabel,
// and true, when anything must be cut or dropped, labels has TruncatedLabel
// elsewhere than last, or truncated is set; otherwise labels and false.
func capLabels(labels []string, truncated bool) ([]string, bool) {
	needed := truncated || len(labels) > MaxLabels
	for i, l := range labels {
		needed = needed || len(l) > MaxLabelLen || (l == TruncatedLabel && i != len(labels)-1)
	}
	if !needed {
		return labels, false
	}
	out := make([]string, 0, min(len(labels), MaxLabels-1)+1)
	for _, l := range labels {
		if l == TruncatedLabel {
			continue
		}
		l = cut(l, MaxLabelLen)
		if slices.ContainsFunc(out, func(have string) bool { return strings.EqualFold(have, l) }) {
			continue
		}
		if len(out) == MaxLabels-1 {
			break
		}
		out = append(out, l)
	}
	return append(out, TruncatedLabel), true
}

// withMarker returns labels ending with TruncatedLabel, in a new slice when
// it must add it (replacing the last label when labels is full).
func withMarker(labels []string) []string {
	if len(labels) > 0 && labels[len(labels)-1] == TruncatedLabel {
		return labels
	}
	out, _ := capLabels(labels, true)
	return out
}

// capRefs returns refs without the references that have an over-long field,
// limited to MaxExternalReferences, and whether anything was dropped.
func capRefs(refs []ExternalReference) ([]ExternalReference, bool) {
	ok := func(r *ExternalReference) bool {
		return len(r.SourceName) <= maxRefText && len(r.Description) <= maxRefText &&
			len(r.ExternalID) <= maxRefText && len(r.URL) <= maxRefURL
	}
	all := len(refs) <= MaxExternalReferences
	for i := 0; all && i < len(refs); i++ {
		all = ok(&refs[i])
	}
	if all {
		return refs, false
	}
	var out []ExternalReference
	for i := range refs {
		if ok(&refs[i]) && len(out) < MaxExternalReferences {
			out = append(out, refs[i])
		}
	}
	return out, true
}

// sizeBound returns an upper bound of the size fit checks, cheaply: every
// string byte may take six bytes to encode (\u00XX), plus quotes, commas and
// property names.
func sizeBound(x *Indicator) int {
	const fixed = 512 // property names, timestamps, confidence, revoked
	n := fixed
	str := func(s string) { n += 6*len(s) + 3 }
	for _, s := range []string{x.ID, x.CreatedByRef, x.Lang, x.Name, x.Description, x.Pattern, x.PatternType, x.PatternVersion} {
		str(s)
	}
	for _, list := range [][]string{x.Labels, x.ObjectMarkingRefs, x.IndicatorTypes} {
		for _, s := range list {
			str(s)
		}
	}
	for i := range x.ExternalReferences {
		r := &x.ExternalReferences[i]
		n += 64
		str(r.SourceName)
		str(r.Description)
		str(r.URL)
		str(r.ExternalID)
	}
	for _, c := range x.Contexts {
		n += 64
		str(c.Source)
		str(c.Name)
	}
	for _, k := range x.KillChainPhases {
		n += 40
		str(k.KillChainName)
		str(k.PhaseName)
	}
	return n
}

// cut returns s cut to at most n bytes on a rune boundary, ending with "…".
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	n -= len("…")
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// halve returns the first half of s ending with "…", or "" when s is at most
// a few bytes long.
func halve(s string) string {
	if len(s) <= 2*len("…") {
		return ""
	}
	return cut(s, len(s)/2)
}
