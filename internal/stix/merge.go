package stix

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Merge combines two versions of the indicator of one observable: old (what
// was uploaded or stored, or an earlier duplicate in the same run) and cur
// (just built from a feed). It returns a new indicator and modifies neither
// argument.
//
// The result does not depend on the order of the arguments except in
// modified (see below): Merge(a, b) and Merge(b, a) encode the same, and so
// do the results of merging several versions in any order. It has:
//
//   - the source contexts of both (see SourceContext): per source the later
//     reported one (a feed's current report replaces what it said before),
//     only for the sources in the united Sources; the name and
//     created_by_ref of the richest (a malware family and threat type over a
//     bare list entry; then by source name); the description of a single
//     context as it is, else every context's description, richest first,
//     one per line, carried in the SourceContextExtension so that a decoded
//     indicator merges the same way;
//   - the id, indicator_types, pattern (and observable) and lang of the
//     older version: the one created first (Sentinel treats a change of
//     indicator_types as a new object, so the stored version's stay); of
//     versions created at the same instant, the one with "malicious-activity"
//     first, then by the smaller id and pattern; the earliest created;
//   - sources, labels (case-insensitively, keeping the bytewise smallest
//     spelling), external references, kill-chain phases and markings
//     united and sorted, keeping only the most restrictive TLP marking;
//   - the higher confidence, the earlier valid_from, the later valid_until;
//   - revoked when either is (a revoked id is never re-activated);
//   - the size limits applied (labels, external references, contexts and
//     description trimmed to MaxObjectSize, TruncatedLabel added); labels
//     and references are kept in sorted order, so that the same versions
//     always keep the same ones and a long-lived indicator reaches a stable
//     trimmed state; when cur's pattern and name alone exceed MaxObjectSize
//     (NewIndicator refuses such an indicator) the result may too;
//   - modified = now (at least old.Modified + 1ms) when the result differs
//     from old in Fingerprint or in its validity window, else old.Modified.
func Merge(old, cur *Indicator, now time.Time) *Indicator {
	first, second := old, cur
	if olderVersion(cur, old) {
		first, second = cur, old
	}
	m := Indicator{
		ID:                 firstNonEmpty(first.ID, second.ID),
		Created:            earliest(old.Created, cur.Created),
		CreatedByRef:       firstNonEmpty(first.CreatedByRef, second.CreatedByRef),
		Lang:               firstNonEmpty(first.Lang, second.Lang),
		IndicatorTypes:     slices.Clone(first.IndicatorTypes),
		Pattern:            first.Pattern,
		PatternType:        first.PatternType,
		PatternVersion:     first.PatternVersion,
		Observable:         first.Observable,
		ExternalReferences: uniteSorted(old.ExternalReferences, cur.ExternalReferences, compareRefs),
		KillChainPhases: uniteSorted(old.KillChainPhases, cur.KillChainPhases, func(a, b KillChainPhase) int {
			return cmp.Or(cmp.Compare(a.KillChainName, b.KillChainName), cmp.Compare(a.PhaseName, b.PhaseName))
		}),
		ObjectMarkingRefs: mergeMarkings(old.ObjectMarkingRefs, cur.ObjectMarkingRefs),
		Confidence:        max(old.Confidence, cur.Confidence),
		ValidFrom:         earliest(old.ValidFrom, cur.ValidFrom),
		ValidUntil:        latest(old.ValidUntil, cur.ValidUntil),
		Revoked:           old.Revoked || cur.Revoked,
	}
	// Sources compare case-insensitively (sorted by fold first: equal ones
	// are adjacent), keeping the bytewise smallest spelling.
	m.Sources = slices.CompactFunc(uniteSorted(old.Sources, cur.Sources, foldCompare), strings.EqualFold)
	if len(m.IndicatorTypes) == 0 {
		m.IndicatorTypes = slices.Clone(second.IndicatorTypes)
	}
	if m.Pattern == "" {
		m.Pattern, m.PatternType, m.PatternVersion = second.Pattern, second.PatternType, second.PatternVersion
	}
	if m.Observable.Value == "" {
		m.Observable = second.Observable
	}
	m.Observable.Port = max(old.Observable.Port, cur.Observable.Port)
	labels, truncated := mergeLabels(old.Labels, cur.Labels)
	m.Labels = labels
	ctxs, dropped := mergeContexts(old, cur, m.Sources)
	setContexts(&m, ctxs)
	_ = fit(&m, truncated || dropped) // only a pattern NewIndicator refuses makes it fail

	m.Modified = old.Modified
	if Fingerprint(&m) != Fingerprint(old) || !m.ValidFrom.Equal(old.ValidFrom) || !m.ValidUntil.Equal(old.ValidUntil) {
		m.Modified = bump(old.Modified, now)
	}
	if m.Modified.Before(m.Created) {
		m.Modified = m.Created
	}
	return &m
}

// olderVersion reports whether a is the older of two versions of one
// indicator, whose id, indicator_types, pattern and lang the merge keeps:
// created first (a zero time counts as latest); then indicator_types
// starting with "malicious-activity"; then the smaller indicator_types, id,
// pattern and lang. The order is total on those properties, so the choice
// does not depend on the order of Merge's arguments.
func olderVersion(a, b *Indicator) bool {
	if !a.Created.Equal(b.Created) {
		return !a.Created.IsZero() && (b.Created.IsZero() || a.Created.Before(b.Created))
	}
	generic := func(x *Indicator) int {
		if len(x.IndicatorTypes) > 0 && x.IndicatorTypes[0] == "malicious-activity" {
			return 0
		}
		return 1
	}
	return cmp.Or(cmp.Compare(generic(a), generic(b)), slices.Compare(a.IndicatorTypes, b.IndicatorTypes),
		cmp.Compare(a.ID, b.ID), cmp.Compare(a.Pattern, b.Pattern), cmp.Compare(a.PatternType, b.PatternType),
		cmp.Compare(a.PatternVersion, b.PatternVersion), cmp.Compare(a.Lang, b.Lang),
		cmp.Compare(a.Observable.Type, b.Observable.Type), cmp.Compare(a.Observable.Value, b.Observable.Value)) < 0
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

// uniteSorted returns the items of a and b sorted by compare, each only
// once (of items compare finds equal, the first in that order), in a new
// slice (nil when both are empty). Items that compare equal must be
// interchangeable for the result to be independent of the argument order.
func uniteSorted[T any](a, b []T, compare func(T, T) int) []T {
	if len(a)+len(b) == 0 {
		return nil
	}
	out := make([]T, 0, len(a)+len(b))
	out = append(append(out, a...), b...)
	slices.SortStableFunc(out, compare)
	return slices.CompactFunc(out, func(x, y T) bool { return compare(x, y) == 0 })
}

// compareRefs orders external references by all their fields.
func compareRefs(a, b ExternalReference) int {
	return cmp.Or(cmp.Compare(a.SourceName, b.SourceName), cmp.Compare(a.ExternalID, b.ExternalID),
		cmp.Compare(a.URL, b.URL), cmp.Compare(a.Description, b.Description))
}

// mergeLabels unites two label lists case-insensitively, keeping the
// bytewise smallest spelling, sorted (case-insensitively) with
// TruncatedLabel left out; it reports whether either list had it.
func mergeLabels(a, b []string) ([]string, bool) {
	truncated := slices.Contains(a, TruncatedLabel) || slices.Contains(b, TruncatedLabel)
	all := uniteSorted(a, b, foldCompare)
	all = slices.CompactFunc(all, strings.EqualFold) // sorted by fold first: equal ones are adjacent
	return slices.DeleteFunc(all, func(l string) bool { return l == TruncatedLabel }), truncated
}

// mergeMarkings unites two marking lists, sorted, keeping only the most
// restrictive TLP marking among them.
func mergeMarkings(a, b []string) []string {
	all := uniteSorted(a, b, strings.Compare)
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
