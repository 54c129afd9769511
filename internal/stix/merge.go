package stix

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Merge combines two versions of the indicator with one id: old (what was
// uploaded or stored) and cur (just built from a feed). It returns a new
// indicator and modifies neither argument. The result has:
//
//   - cur's name, description, pattern, observable and lang (old's when cur's
//     are empty);
//   - old's id, created, created_by_ref and indicator_types (Sentinel treats
//     a change of indicator_types as a new object); cur's when old's are empty;
//   - sources, labels (case-insensitively), external references and kill-chain
//     phases united, old's first;
//   - object markings united, keeping only the most restrictive TLP;
//   - the higher confidence, the earlier valid_from, the later valid_until;
//   - revoked when either is (a revoked id is never re-activated);
//   - the size limits applied (labels, external references, description
//     trimmed to MaxObjectSize, TruncatedLabel added), old's items kept
//     first, so that a long-lived indicator reaches a stable trimmed state;
//     when cur's pattern and name alone exceed MaxObjectSize (NewIndicator
//     refuses such an indicator) the result may too;
//   - modified = now (at least old.Modified + 1ms) when the result differs
//     from old in Fingerprint or in its validity window, else old.Modified.
func Merge(old, cur *Indicator, now time.Time) *Indicator {
	m := *cur
	m.ID = old.ID
	m.Created = old.Created
	if m.Created.IsZero() {
		m.Created = cur.Created
	}
	m.CreatedByRef = firstNonEmpty(old.CreatedByRef, cur.CreatedByRef)
	m.Name = firstNonEmpty(cur.Name, old.Name)
	m.Description = firstNonEmpty(cur.Description, old.Description)
	m.Lang = firstNonEmpty(cur.Lang, old.Lang)
	if m.Pattern == "" {
		m.Pattern, m.PatternType, m.PatternVersion, m.Observable = old.Pattern, old.PatternType, old.PatternVersion, old.Observable
	}
	m.IndicatorTypes = slices.Clone(old.IndicatorTypes)
	if len(m.IndicatorTypes) == 0 {
		m.IndicatorTypes = slices.Clone(cur.IndicatorTypes)
	}
	m.Sources = unite(old.Sources, cur.Sources, strings.EqualFold)
	m.Labels = unite(old.Labels, cur.Labels, strings.EqualFold)
	m.ExternalReferences = unite(old.ExternalReferences, cur.ExternalReferences,
		func(a, b ExternalReference) bool { return a == b })
	m.KillChainPhases = unite(old.KillChainPhases, cur.KillChainPhases,
		func(a, b KillChainPhase) bool { return a == b })
	m.ObjectMarkingRefs = mergeMarkings(old.ObjectMarkingRefs, cur.ObjectMarkingRefs)
	m.Confidence = max(old.Confidence, cur.Confidence)
	m.ValidFrom = earliest(old.ValidFrom, cur.ValidFrom)
	m.ValidUntil = latest(old.ValidUntil, cur.ValidUntil)
	m.Revoked = old.Revoked || cur.Revoked
	_ = fit(&m, false) // only a pattern NewIndicator refuses makes it fail

	m.Modified = old.Modified
	if Fingerprint(&m) != Fingerprint(old) || !m.ValidFrom.Equal(old.ValidFrom) || !m.ValidUntil.Equal(old.ValidUntil) {
		m.Modified = bump(old.Modified, now)
	}
	if m.Modified.Before(m.Created) {
		m.Modified = m.Created
	}
	return &m
}

// Revoke marks x revoked and sets Modified to now (at least the previous
// Modified + 1ms, so that the revocation is a newer version). Revocation is
// permanent: a returning IOC needs IndicatorID(o, revision+1).
func Revoke(x *Indicator, now time.Time) {
	x.Revoked = true
	x.Modified = bump(x.Modified, now)
}

// bump returns now in STIX precision, or prev + 1ms when now is not after
// prev.
func bump(prev, now time.Time) time.Time {
	now = msUTC(now)
	if !now.After(prev) {
		return msUTC(prev).Add(time.Millisecond)
	}
	return now
}

// Fingerprint returns a short stable hash (16 hex digits) of the content of x
// that decides whether it must be uploaded again: pattern, pattern type and
// version, confidence, labels (case-insensitive), sources, external
// references, indicator types, kill-chain phases, markings, created_by_ref,
// name, description, lang and revoked. Set-like lists are compared as sets.
// Id, created, modified, valid_from and valid_until are not part of it.
func Fingerprint(x *Indicator) string {
	h := sha256.New()
	var buf []byte
	field := func(s string) {
		buf = strconv.AppendInt(buf[:0], int64(len(s)), 10)
		buf = append(buf, ':')
		buf = append(buf, s...)
		h.Write(buf)
	}
	set := func(name string, items []string) {
		items = slices.Clone(items)
		slices.Sort(items)
		items = slices.Compact(items)
		field(name)
		field(strconv.Itoa(len(items)))
		for _, s := range items {
			field(s)
		}
	}
	field(x.Pattern)
	field(x.PatternType)
	field(x.PatternVersion)
	field(strconv.Itoa(x.Confidence))
	field(strconv.FormatBool(x.Revoked))
	field(x.CreatedByRef)
	field(x.Name)
	field(x.Description)
	field(x.Lang)
	labels := make([]string, len(x.Labels))
	for i, l := range x.Labels {
		labels[i] = strings.ToLower(l)
	}
	set("labels", labels)
	set("sources", x.Sources)
	refs := make([]string, len(x.ExternalReferences))
	for i, r := range x.ExternalReferences {
		refs[i] = r.SourceName + "\x00" + r.Description + "\x00" + r.URL + "\x00" + r.ExternalID
	}
	set("external_references", refs)
	set("indicator_types", x.IndicatorTypes)
	kcp := make([]string, len(x.KillChainPhases))
	for i, k := range x.KillChainPhases {
		kcp[i] = k.KillChainName + "\x00" + k.PhaseName
	}
	set("kill_chain_phases", kcp)
	set("object_marking_refs", x.ObjectMarkingRefs)
	sum := h.Sum(nil)
	return hex.EncodeToString(sum[:8])
}

// unite returns a followed by the items of b not already present, without
// duplicates, in a new slice (nil when both are empty).
func unite[T any](a, b []T, eq func(T, T) bool) []T {
	var out []T
	for _, list := range [][]T{a, b} {
		for _, v := range list {
			if !slices.ContainsFunc(out, func(w T) bool { return eq(v, w) }) {
				out = append(out, v)
			}
		}
	}
	return out
}

// mergeMarkings unites two marking lists, keeping only the most restrictive
// TLP marking among them.
func mergeMarkings(a, b []string) []string {
	all := unite(a, b, func(x, y string) bool { return x == y })
	best := ""
	for _, m := range all {
		if tlpRank(m) > tlpRank(best) {
			best = m
		}
	}
	return slices.DeleteFunc(all, func(m string) bool { return tlpRank(m) > 0 && m != best })
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
