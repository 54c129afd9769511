package stix

import (
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/feeds2sentinel/feeds2sentinel/internal/ioc"
)

// Options tune NewIndicator. A nil *Options and the zero value mean defaults.
type Options struct {
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Lifetimes overrides DefaultLifetime per type; a missing type or a
	// duration <= 0 means DefaultLifetime.
	Lifetimes map[ioc.Type]time.Duration
	// DefaultConfidence is the confidence of a record without one; 0 means
	// 50. It is clamped to 0-100.
	DefaultConfidence int
	// MinConfidence, when > 0, makes NewIndicator reject records whose
	// confidence is lower with an *ioc.Rejection (ioc.ReasonLowConfidence).
	MinConfidence int
	// TLP is the TLP level of records without one ("" means clear); see
	// TLPMarkingID.
	TLP string
	// Labels are added to every indicator (e.g. per-feed labels).
	Labels []string
}

// DefaultConfidence is the confidence of records that carry none when
// Options.DefaultConfidence is 0.
const DefaultConfidence = 50

// DefaultLifetime is how long an indicator stays valid after the IOC was last
// seen: 14 days for IP addresses and CIDR ranges (they are reassigned
// quickly), 30 days for domains, URLs and email addresses, 365 days for file
// hashes and certificate fingerprints (a hash never becomes benign), and 30
// days for any other type.
func DefaultLifetime(t ioc.Type) time.Duration {
	const day = 24 * time.Hour
	switch t {
	case ioc.TypeIPv4, ioc.TypeIPv6, ioc.TypeCIDRv4, ioc.TypeCIDRv6:
		return 14 * day
	case ioc.TypeMD5, ioc.TypeSHA1, ioc.TypeSHA256, ioc.TypeSHA512, ioc.TypeX509SHA1:
		return 365 * day
	}
	return 30 * day
}

func (o *Options) now() time.Time {
	if o != nil && o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

func (o *Options) lifetime(t ioc.Type) time.Duration {
	if o != nil {
		if d, ok := o.Lifetimes[t]; ok && d > 0 {
			return d
		}
	}
	return DefaultLifetime(t)
}

// NewIndicator builds the indicator for observable o as record r describes
// it (r may be nil: no context). o must be normalized; r.Value and r.Type are
// not used. The result:
//
//   - id: IndicatorID(o, 0); created = modified = now (the state layer keeps
//     created stable across runs, see Merge).
//   - valid_from: r.FirstSeen, else r.LastSeen, else now. valid_until:
//     r.ValidUntil when set, else the later of r.LastSeen and r.FirstSeen (else
//     now) plus the lifetime of o.Type; when that is not after valid_from it
//     becomes valid_from + 1ms. Times are UTC, truncated to milliseconds.
//   - confidence: r.Confidence clamped to 0-100 when r.ConfidenceSet, else
//     the default.
//   - labels, deduplicated case-insensitively in this order: malware
//     (printable name, else id), aliases, threat type, tags, source, r.Labels,
//     opts.Labels, "port:N"; at most MaxLabels, each at most MaxLabelLen
//     bytes. When there are more, aliases and tags are dropped first and
//     TruncatedLabel is added (see the size limits).
//   - the JSON encoding is at most MaxObjectSize bytes: over-long labels,
//     external references and description are trimmed as the size limits
//     document, and TruncatedLabel says so.
//   - indicator_types: IndicatorType(r.ThreatType); kill_chain_phases:
//     KillChainPhaseFor(r.ThreatType).
//   - external_references: the source record (external_id r.ID, url
//     r.RecordURL), r.Reference and r.MalpediaURL, each only when valid.
//   - object_marking_refs: the TLP of r.TLP, else opts.TLP, else clear.
//   - created_by_ref: IdentityID(r.Source) when r.Source is set; Sources:
//     [r.Source] when set.
//   - name: short and readable, e.g. "Cobalt Strike botnet C2 ip
//     1.2.3.4:443"; description: malware, threat type, port, first seen,
//     reporter, status, source, then r.Description (each only when given;
//     last seen is left out so that it does not change the Fingerprint).
//
// Errors: ErrUnsupportedType for a type without STIX mapping,
// ErrInvalidIndicator for an empty or non-UTF-8 value, a time outside years
// 1-9999 or an indicator larger than MaxObjectSize even when trimmed,
// ErrUnknownTLP, and an *ioc.Rejection (ReasonLowConfidence) below
// opts.MinConfidence.
func NewIndicator(o ioc.Observable, r *ioc.Record, opts *Options) (*Indicator, error) {
	if r == nil {
		r = &ioc.Record{}
	}
	if o.Value == "" || !utf8.ValidString(o.Value) {
		return nil, fmt.Errorf("%w: empty or invalid UTF-8 value", ErrInvalidIndicator)
	}
	// Pattern, name, description, id and created_by_ref are built into one
	// buffer and become one string, sliced five ways: one allocation
	// instead of five (they live exactly as long as x).
	var stack [1024]byte
	text, ok := appendPattern(stack[:0], o)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnsupportedType, o.Type)
	}
	patEnd := len(text)
	confidence := r.Confidence
	if !r.ConfidenceSet {
		confidence = DefaultConfidence
		if opts != nil && opts.DefaultConfidence != 0 {
			confidence = opts.DefaultConfidence
		}
	}
	confidence = min(max(confidence, 0), 100)
	if opts != nil && confidence < opts.MinConfidence {
		return nil, &ioc.Rejection{Reason: ioc.ReasonLowConfidence, RecordID: r.ID,
			Detail: fmt.Sprintf("confidence %d is below the minimum %d", confidence, opts.MinConfidence)}
	}
	tlp := r.TLP
	if tlp == "" && opts != nil {
		tlp = opts.TLP
	}
	marking, err := TLPMarkingID(tlp)
	if err != nil {
		return nil, err
	}

	now := msUTC(opts.now())
	x := &Indicator{
		Created:        now,
		Modified:       now,
		Confidence:     confidence,
		PatternType:    "stix",
		PatternVersion: SpecVersion,
		Observable:     o,
	}
	x.ValidFrom, x.ValidUntil = validity(r, now, opts.lifetime(o.Type))

	// One backing array for every []string of x; full slice expressions keep
	// an append to one of them from overwriting the next.
	n := len(r.MalwareAliases) + len(r.Tags) + len(r.Labels) + 5
	if opts != nil {
		n += len(opts.Labels)
	}
	n = 3 + min(n, MaxLabels)
	strs := make([]string, 0, n)
	strs = append(strs, IndicatorType(r.ThreatType), marking)
	x.IndicatorTypes = strs[0:1:1]
	x.ObjectMarkingRefs = strs[1:2:2]
	if r.Source != "" {
		strs = append(strs, r.Source)
		x.Sources = strs[2:3:3]
	}
	start := len(strs)
	strs, truncated := appendLabels(strs, start, o, r, opts)
	if len(strs) > start {
		x.Labels = strs[start:len(strs):len(strs)]
	}

	if phase, ok := KillChainPhaseFor(r.ThreatType); ok {
		x.KillChainPhases = []KillChainPhase{{KillChainName: LockheedMartinKillChain, PhaseName: phase}}
	}
	x.ExternalReferences = externalReferences(r)
	text = appendName(text, o, r)
	nameEnd := len(text)
	// appendDescription starts its own text (it separates parts only
	// after the first): give it an empty slice over the rest of the buffer.
	text = append(text, appendDescription(text[nameEnd:nameEnd], o, r)...)
	descEnd := len(text)
	text = appendIndicatorID(text, o, 0)
	idEnd := len(text)
	if r.Source != "" {
		text = appendIdentityID(text, r.Source)
	}
	all := string(text)
	x.Pattern, x.Name, x.Description = all[:patEnd], all[patEnd:nameEnd], all[nameEnd:descEnd]
	x.ID, x.CreatedByRef = all[descEnd:idEnd], all[idEnd:]
	if err := check(x); err != nil {
		return nil, err
	}
	if err := fit(x, truncated); err != nil {
		return nil, err
	}
	return x, nil
}

// validity computes valid_from and valid_until as NewIndicator documents.
// ParseLifetime parses a lifetime: time.ParseDuration plus a "d" (24h)
// unit, "14d", "1d12h". Day counts above 100000 are refused.
func ParseLifetime(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, 'd'); i > 0 {
		days, err := strconv.Atoi(s[:i])
		if err != nil || days < 0 || days > 100000 {
			return 0, fmt.Errorf("duration %q: bad day count", s)
		}
		rest := time.Duration(0)
		if s[i+1:] != "" {
			if rest, err = time.ParseDuration(s[i+1:]); err != nil {
				return 0, fmt.Errorf("duration %q: %w", s, err)
			}
		}
		return time.Duration(days)*24*time.Hour + rest, nil
	}
	return time.ParseDuration(s)
}

// MaxValidity is the longest validity an indicator gets: a feed record's
// valid_until (given, or last seen plus the lifetime) is cut to now plus
// this (five years, the same bound config.MaxLifetime puts on settings).
const MaxValidity = 1825 * 24 * time.Hour

func validity(r *ioc.Record, now time.Time, lifetime time.Duration) (from, until time.Time) {
	first, last := msUTC(r.FirstSeen), msUTC(r.LastSeen)
	// A first or last seen in the future is a broken record: taken as now.
	if first.After(now) {
		first = now
	}
	if last.After(now) {
		last = now
	}
	switch {
	case !first.IsZero():
		from = first
	case !last.IsZero():
		from = last
	default:
		from = now
	}
	if !r.ValidUntil.IsZero() {
		until = msUTC(r.ValidUntil)
	} else {
		base := now
		if !first.IsZero() || !last.IsZero() {
			base = first
			if last.After(first) {
				base = last
			}
		}
		until = base.Add(lifetime)
	}
	// A validity beyond MaxValidity is a broken record, not intelligence.
	if limit := now.Add(MaxValidity); until.After(limit) {
		until = limit
	}
	if !until.After(from) {
		until = from.Add(time.Millisecond)
	}
	return from, until
}

// msUTC returns t in UTC truncated to the millisecond (STIX precision), or the
// zero time for a zero t.
func msUTC(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Millisecond)
}

// appendLabels appends the deduplicated labels of r to strs; strs[start:]
// are the labels already added. It keeps room for TruncatedLabel and puts
// the feed's open-ended lists last in line: aliases and tags stop at
// MaxLabels-1 minus the other labels (threat type, source, r.Labels,
// opts.Labels, port), so that a record with thousands of tags keeps those.
// It reports whether a label was dropped or cut to MaxLabelLen.
func appendLabels(strs []string, start int, o ioc.Observable, r *ioc.Record, opts *Options) ([]string, bool) {
	truncated := false
	add := func(l string, limit int) {
		if l = strings.TrimSpace(l); l == "" {
			return
		}
		if len(l) > MaxLabelLen {
			l, truncated = cut(l, MaxLabelLen), true
		}
		for _, have := range strs[start:] {
			if strings.EqualFold(have, l) {
				return
			}
		}
		if len(strs)-start >= limit {
			truncated = true
			return
		}
		strs = append(strs, l)
	}
	var extra []string
	if opts != nil {
		extra = opts.Labels
	}
	all := MaxLabels - 1
	open := max(all-3-len(r.Labels)-len(extra), 1) // aliases and tags
	if r.MalwarePrintable != "" {
		add(r.MalwarePrintable, all)
	} else {
		add(r.Malware, all)
	}
	for _, l := range r.MalwareAliases {
		add(l, open)
	}
	add(r.ThreatType, all)
	for _, l := range r.Tags {
		add(l, open)
	}
	add(r.Source, all)
	for _, lists := range [][]string{r.Labels, extra} {
		for _, l := range lists {
			add(l, all)
		}
	}
	if o.Port > 0 && o.Port <= 65535 {
		var b [16]byte
		add(string(appendInt(append(b[:0], "port:"...), o.Port)), all)
	}
	return strs, truncated
}

// externalReferences returns the valid external references of r, or nil.
func externalReferences(r *ioc.Record) []ExternalReference {
	src := r.Source
	if src == "" {
		src = "unknown"
	}
	recordURL := validURL(r.RecordURL)
	ref := validURL(r.Reference)
	malpedia := validURL(r.MalpediaURL)
	n := 0
	if r.ID != "" || recordURL {
		n++
	}
	if ref && r.Reference != r.RecordURL {
		n++
	}
	if malpedia {
		n++
	}
	if n == 0 {
		return nil
	}
	refs := make([]ExternalReference, 0, n)
	if r.ID != "" || recordURL {
		e := ExternalReference{SourceName: src, ExternalID: r.ID}
		if recordURL {
			e.URL = r.RecordURL
		}
		refs = append(refs, e)
	}
	if ref && r.Reference != r.RecordURL {
		refs = append(refs, ExternalReference{SourceName: src, Description: "reference", URL: r.Reference})
	}
	if malpedia {
		refs = append(refs, ExternalReference{SourceName: "malpedia", URL: r.MalpediaURL, ExternalID: r.Malware})
	}
	return refs
}

// uriPunct reports whether c is one of the punctuation characters RFC 3986
// allows unescaped: the unreserved "-._~", the gen-delims ":/?#[]@" and the
// sub-delims "!$&'()*+,;=".
func uriPunct(c byte) bool {
	switch c {
	case '-', '.', '_', '~', ':', '/', '?', '#', '[', ']', '@', '!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=':
		return true
	}
	return false
}

// validURL reports whether s is an absolute http(s) URL with a host and
// only characters RFC 3986 allows, so that it passes the schema's "uri"
// format. A plain host[:port] is checked without allocating; other
// authorities (IPv6 literals, userinfo, escapes) go through net/url.
func validURL(s string) bool {
	var rest string
	switch {
	case len(s) > 8 && strings.EqualFold(s[:8], "https://"):
		rest = s[8:]
	case len(s) > 7 && strings.EqualFold(s[:7], "http://"):
		rest = s[7:]
	default:
		return false
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		switch {
		case isAlnum(c), uriPunct(c):
		case c == '%':
			if i+2 >= len(rest) || !isHex(rest[i+1]) || !isHex(rest[i+2]) {
				return false
			}
		default:
			return false
		}
	}
	authority := rest
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority = rest[:i]
	}
	host, port, hasPort := strings.Cut(authority, ":")
	if host == "" {
		return false
	}
	plain := !hasPort || (port != "" && len(port) <= 5 && strings.Trim(port, "0123456789") == "")
	for i := 0; plain && i < len(host); i++ {
		plain = isAlnum(host[i]) || host[i] == '-' || host[i] == '.'
	}
	if plain {
		return true
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return false
	}
	if h := u.Hostname(); strings.Contains(h, ":") {
		a, err := netip.ParseAddr(h)
		return err == nil && a.Is6() && a.Zone() == "" && strings.HasPrefix(u.Host, "[")
	}
	return u.Hostname() != ""
}

func isHex(c byte) bool { return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

// check validates what NewIndicator built.
func check(x *Indicator) error {
	// appendPattern writes a fixed structure around the escaped value, so
	// only a value with a quote or backslash can break it: re-parse those
	// (the fuzz tests prove the round trip for every string).
	if strings.ContainsAny(x.Observable.Value, `'\`) {
		if _, err := ParsePattern(x.Pattern); err != nil {
			return fmt.Errorf("%w: pattern: %w", ErrInvalidIndicator, err)
		}
	}
	for _, t := range []time.Time{x.Created, x.Modified, x.ValidFrom, x.ValidUntil} {
		if y := t.Year(); y < 1 || y > 9999 {
			return fmt.Errorf("%w: time %v out of range", ErrInvalidIndicator, t)
		}
	}
	if !x.ValidUntil.After(x.ValidFrom) {
		return fmt.Errorf("%w: valid_until is not after valid_from", ErrInvalidIndicator)
	}
	if x.ID == "" || x.PatternType == "" || x.Modified.Before(x.Created) {
		return fmt.Errorf("%w: missing required property", ErrInvalidIndicator)
	}
	return nil
}
