package stix

import (
	"cmp"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// SourceContext is what one source said about an indicator: the name and
// description NewIndicator built from that source's record. Merge keeps one
// per source, so that an indicator reported by several sources shows the
// richest name and every source's details (see Merge).
type SourceContext struct {
	// Source is the feed name, as in Indicator.Sources.
	Source string
	// Rank orders contexts by richness, highest first: 2 when the details
	// name a malware family, plus 1 when they name a threat type (see
	// ContextRank).
	Rank int
	// Name is the indicator name built from this source's record.
	Name string
	// Description is the description built from this source's record.
	Description string
	// Reported is when this version of the context was built: of two
	// contexts of one source, Merge keeps the later one (not serialized;
	// a decoded indicator's contexts get its modified time).
	Reported time.Time
}

// SourceContextExtension is the id of the STIX 2.1 property extension in
// which an indicator with contexts from two or more sources carries them:
//
//	"extensions": {"extension-definition--69775d6c-…": {
//	  "extension_type": "property-extension",
//	  "source_contexts": [{"source": "threatfox", "rank": 3,
//	    "name": "…", "description_length": 123}, …]}}
//
// The description is the contexts' descriptions in that order, separated by
// one "\n"; description_length is each one's length in bytes, so that the
// description splits back exactly whatever text a source sent. Sentinel
// accepts extensions and ignores them ("the properties simply aren't
// referenced or indexed"); the OASIS schemas allow them.
const SourceContextExtension = "extension-definition--69775d6c-68bb-5848-8b43-7324ff05874e"

// Context limits: at most maxContexts contexts (the richest; the rest are
// dropped and TruncatedLabel added), and a multi-source description of at
// most about descBudget bytes, each context's description cut to
// descBudget/n bytes.
const (
	maxContexts = 8
	descBudget  = 8 << 10
)

// ContextRank returns the rank of a context description as NewIndicator
// writes it: 2 when it starts with the malware part ("Malware: "), plus 1
// when it has the threat-type part ("Threat type: "). A family and a threat
// type rank above a bare list entry.
func ContextRank(description string) int {
	r := 0
	if strings.HasPrefix(description, "Malware: ") {
		r += 2
	}
	if strings.HasPrefix(description, "Threat type: ") || strings.Contains(description, ". Threat type: ") {
		r++
	}
	return r
}

// contextsOf returns the source contexts of x: x.Contexts, or, when x has
// none (NewIndicator's result, or a decoded single-source indicator), one
// built from its name and description and attributed to the source they
// came from (see attribute). It returns nil for an indicator without name
// and description.
func contextsOf(x *Indicator) []SourceContext {
	if len(x.Contexts) > 0 {
		return x.Contexts
	}
	if x.Name == "" && x.Description == "" {
		return nil
	}
	return []SourceContext{{
		Source:      attribute(x),
		Rank:        ContextRank(x.Description),
		Name:        x.Name,
		Description: x.Description,
		Reported:    x.Modified,
	}}
}

// attribute returns the source whose record x's name and description were
// built from: its only source; else the first source (in sorted order) the
// description names ("Source: <name>."); else the one created_by_ref names;
// else the first; "" when x has no sources.
func attribute(x *Indicator) string {
	if len(x.Sources) == 1 {
		return x.Sources[0]
	}
	srcs := slices.Clone(x.Sources)
	slices.SortFunc(srcs, foldCompare)
	for _, s := range srcs {
		if strings.Contains(x.Description, "Source: "+s+".") {
			return s
		}
	}
	for _, s := range srcs {
		if IdentityID(s) == x.CreatedByRef {
			return s
		}
	}
	if len(srcs) > 0 {
		return srcs[0]
	}
	return ""
}

// mergeContexts unites the contexts of a and b: per source (compared
// case-insensitively) the later reported one, then the higher rank, then the
// smaller name and description; only the sources in sources when it is not
// empty; sorted richest first (rank, then source); at most maxContexts. It
// reports whether contexts were dropped for the limit.
func mergeContexts(a, b *Indicator, sources []string) ([]SourceContext, bool) {
	var out []SourceContext
	for _, list := range [][]SourceContext{contextsOf(a), contextsOf(b)} {
		for _, c := range list {
			if len(sources) > 0 && !slices.ContainsFunc(sources, func(s string) bool { return strings.EqualFold(s, c.Source) }) {
				continue
			}
			i := slices.IndexFunc(out, func(have SourceContext) bool { return strings.EqualFold(have.Source, c.Source) })
			switch {
			case i < 0:
				out = append(out, c)
			case preferContext(c, out[i]):
				out[i] = c
			}
		}
	}
	slices.SortFunc(out, func(x, y SourceContext) int {
		return cmp.Or(cmp.Compare(y.Rank, x.Rank), foldCompare(x.Source, y.Source))
	})
	if len(out) > maxContexts {
		return slices.Clip(out[:maxContexts]), true
	}
	return out, false
}

// preferContext reports whether c replaces have, a context of the same
// source: the later reported, then the richer, then the smaller text wins,
// so that the choice does not depend on which came first.
func preferContext(c, have SourceContext) bool {
	if !c.Reported.Equal(have.Reported) {
		return c.Reported.After(have.Reported)
	}
	return cmp.Or(cmp.Compare(have.Rank, c.Rank), cmp.Compare(c.Source, have.Source),
		cmp.Compare(c.Name, have.Name), cmp.Compare(c.Description, have.Description)) < 0
}

// setContexts sets x's contexts, name and description from ctxs (sorted
// richest first): the name and, when set, created_by_ref of the richest;
// the description of a single context as it is, else each context's
// description, cut to descBudget/n bytes, one per line. Texts are made
// valid UTF-8 (one U+FFFD per bad byte, as the JSON encoding does) so that
// the description splits back after a round trip.
func setContexts(x *Indicator, ctxs []SourceContext) {
	x.Contexts = ctxs
	if len(ctxs) == 0 {
		x.Name, x.Description = "", ""
		return
	}
	if ctxs[0].Source != "" {
		x.CreatedByRef = IdentityID(ctxs[0].Source)
	}
	if len(ctxs) == 1 {
		x.Name, x.Description = ctxs[0].Name, ctxs[0].Description
		return
	}
	limit := descBudget / len(ctxs)
	for i := range ctxs {
		ctxs[i].Name = validUTF8(ctxs[i].Name)
		ctxs[i].Description = cut(validUTF8(ctxs[i].Description), limit)
	}
	x.Name = ctxs[0].Name
	joinContexts(x)
}

// joinContexts sets x.Description to the descriptions of x.Contexts, one per
// line.
func joinContexts(x *Indicator) {
	var b strings.Builder
	for i, c := range x.Contexts {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(c.Description)
	}
	x.Description = b.String()
}

// validUTF8 returns s with each byte that is not part of valid UTF-8
// replaced by U+FFFD, as appendString encodes it.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteString("\uFFFD")
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// foldCompare orders strings by their runes mapped to lower case, then
// bytewise; it does not allocate.
func foldCompare(a, b string) int {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		ra, na := rune(a[i]), 1
		if ra >= utf8.RuneSelf {
			ra, na = utf8.DecodeRuneInString(a[i:])
		}
		rb, nb := rune(b[j]), 1
		if rb >= utf8.RuneSelf {
			rb, nb = utf8.DecodeRuneInString(b[j:])
		}
		if c := cmp.Compare(unicode.ToLower(ra), unicode.ToLower(rb)); c != 0 {
			return c
		}
		i, j = i+na, j+nb
	}
	return cmp.Or(cmp.Compare(len(a)-i, len(b)-j), cmp.Compare(a, b))
}

// appendContexts appends the extensions property carrying x.Contexts when
// there are two or more (see SourceContextExtension).
func appendContexts(dst []byte, x *Indicator) []byte {
	if len(x.Contexts) < 2 {
		return dst
	}
	dst = append(dst, `,"extensions":{"`+SourceContextExtension+`":{"extension_type":"property-extension","source_contexts":[`...)
	for i, c := range x.Contexts {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"source":`...)
		dst = appendString(dst, c.Source)
		dst = append(dst, `,"rank":`...)
		dst = strconv.AppendInt(dst, int64(c.Rank), 10)
		dst = appendOptString(dst, `,"name":`, c.Name)
		dst = append(dst, `,"description_length":`...)
		dst = strconv.AppendInt(dst, int64(len(c.Description)), 10)
		dst = append(dst, '}')
	}
	return append(dst, "]}}"...)
}

// contextsJSON is the decoded form of the extension.
type contextsJSON struct {
	SourceContexts []struct {
		Source            string `json:"source"`
		Rank              int    `json:"rank"`
		Name              string `json:"name"`
		DescriptionLength int    `json:"description_length"`
	} `json:"source_contexts"`
}

// decodeContexts returns the contexts the extension raw describes for x,
// or nil when it does not split x.Description exactly (an object trimmed or
// edited elsewhere is then treated as having one context).
func decodeContexts(raw json.RawMessage, x *Indicator) []SourceContext {
	var ext contextsJSON
	if len(raw) == 0 || json.Unmarshal(raw, &ext) != nil || len(ext.SourceContexts) < 2 || len(ext.SourceContexts) > maxContexts {
		return nil
	}
	out := make([]SourceContext, 0, len(ext.SourceContexts))
	rest := x.Description
	for i, c := range ext.SourceContexts {
		n := c.DescriptionLength
		if n < 0 || n > len(rest) {
			return nil
		}
		out = append(out, SourceContext{Source: c.Source, Rank: c.Rank, Name: c.Name, Description: rest[:n], Reported: x.Modified})
		rest = rest[n:]
		if i < len(ext.SourceContexts)-1 {
			if rest == "" || rest[0] != '\n' {
				return nil
			}
			rest = rest[1:]
		}
	}
	if rest != "" {
		return nil
	}
	return out
}
