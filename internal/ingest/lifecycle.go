package ingest

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/feeds2sentinel/feeds2sentinel/internal/ioc"
	"github.com/feeds2sentinel/feeds2sentinel/internal/state"
	"github.com/feeds2sentinel/feeds2sentinel/internal/stix"
)

// This file holds the lifecycle decisions: pure functions of a run's
// indicator, what state remembers and the clock. commit.go does the I/O.

// expiryWindow: an indicator still reported whose valid_until is closer than
// this (or than half its lifetime, for short lifetimes) is refreshed even if
// its refresh interval has not passed, so it never drops out of the TI map
// rules while a source still lists it.
const expiryWindow = 3 * 24 * time.Hour

// seenWriteAge: an unchanged indicator's state row is rewritten (to move its
// last-seen time) only when the stored time is older than this (or than a
// quarter of the revocation grace period, if shorter): complete-list
// revocation reads it and must never take a listed indicator for a
// delisted one.
const seenWriteAge = 6 * time.Hour

// massRevocationMin is the number of revocations a sweep always allows; above
// it, a sweep that would revoke more than the hold fraction of a source's
// indicators is held (see holdRevocations).
const massRevocationMin = 20

// change is one indicator the run wants to upload and/or remember.
type change struct {
	key    string
	ind    *stix.Indicator // nil = state-only update
	rec    *state.Indicator
	upload bool
	sent   bool // the upload is on the queue
}

// verdict is what diff decided, for the run's counts.
type verdict int

const (
	verdictNew verdict = iota
	verdictChanged
	verdictRefreshed
	verdictUnchanged
)

// rules are the lifecycle settings a decision needs.
type rules struct {
	now      time.Time
	refresh  time.Duration                // re-upload an unchanged indicator after this
	grace    time.Duration                // revoke what a complete list dropped this long ago
	lifetime func(ioc.Type) time.Duration // validity of a still-reported indicator
}

func (ru *rules) seenWriteAge() time.Duration {
	return min(seenWriteAge, ru.grace/4)
}

// diff decides what to do with one indicator of the run (cur, reported by
// seen.Source) given its stored record st (nil when new). The change is nil
// when nothing needs writing. cur.ID is set to the id that is uploaded.
func (ru *rules) diff(key string, cur *stix.Indicator, seen state.SourceSeen, st *state.Indicator) (*change, verdict, error) {
	now := ru.now
	if seen.Digest == "" {
		seen.Digest = stix.Fingerprint(cur)
	}
	if st == nil {
		// The digest is the new indicator's fingerprint: computed once.
		return &change{key: key, ind: cur, upload: true, rec: newStateFP(key, cur, 0, seen, now, seen.Digest)}, verdictNew, nil
	}
	if st.Status == state.StatusRevoked {
		// Revoked ids are never re-activated: the IOC comes back under the
		// next revision's id.
		rev := st.Revision + 1
		cur.ID = stix.IndicatorID(cur.Observable, rev)
		rec := newState(key, cur, rev, seen, now)
		rec.ETag = st.ETag
		return &change{key: key, ind: cur, upload: true, rec: rec}, verdictNew, nil
	}
	if st.Status == state.StatusActive && st.Fingerprint != "" && !ru.refreshDue(st, cur.Observable.Type) {
		if prev := sourceSeen(st.Sources, seen.Source); prev != nil && prev.Digest == seen.Digest {
			// The source reports what it reported before, and the stored
			// indicator was uploaded with it: unchanged.
			cur.ID = st.ID
			if ru.now.Sub(prev.LastSeen) < ru.seenWriteAge() {
				return nil, verdictUnchanged, nil
			}
			rec := *st
			rec.Sources = mergeSeen(st.Sources, seen)
			return &change{key: key, rec: &rec}, verdictUnchanged, nil
		}
	}
	old, err := decodeIndicator(st)
	if err != nil {
		// A state row we cannot read is replaced by the fresh indicator.
		old = nil
	}
	merged := cur
	if old != nil {
		merged = stix.Merge(old, cur, now)
	}
	merged.ID = st.ID
	cur.ID = st.ID // the run reports the id that is uploaded
	rec := *st
	rec.Sources = mergeSeen(st.Sources, seen)
	fp := stix.Fingerprint(merged)
	var v verdict
	switch {
	case st.Status == state.StatusExpired || fp != st.Fingerprint:
		v = verdictChanged
	case ru.refreshDue(st, cur.Observable.Type):
		// Still reported: a newer modified and an extended validity keep
		// it inside the TI map rules' look-back.
		v = verdictRefreshed
		merged.Modified = now
		if ext := now.Add(ru.lifetime(cur.Observable.Type)); merged.ValidUntil.Before(ext) {
			merged.ValidUntil = ext
		}
	default:
		if prev := lastSeen(st.Sources, seen.Source); now.Sub(prev) < ru.seenWriteAge() {
			return nil, verdictUnchanged, err
		}
		return &change{key: key, rec: &rec}, verdictUnchanged, err
	}
	if merged.ValidUntil.Before(cur.ValidUntil) {
		merged.ValidUntil = cur.ValidUntil
	}
	// Sentinel must see a newer modified than what it holds, even when
	// clocks of two instances disagree.
	if old != nil && !merged.Modified.After(old.Modified) {
		merged.Modified = old.Modified.Add(time.Millisecond)
	}
	fill(&rec, merged, now)
	return &change{key: key, ind: merged, upload: true, rec: &rec}, v, err
}

// refreshDue reports whether an indicator still reported must be uploaded
// again although unchanged: its refresh interval has passed, or its
// valid_until is near.
func (ru *rules) refreshDue(st *state.Indicator, t ioc.Type) bool {
	return ru.now.Sub(st.LastUploaded) >= ru.refresh || st.ValidUntil.Sub(ru.now) < min(expiryWindow, ru.lifetime(t)/2)
}

// revoke revokes an active indicator (re-upload with revoked: true). It
// returns nil for a record that is not active.
func revoke(st *state.Indicator, now time.Time) (*change, error) {
	if st == nil || st.Status != state.StatusActive {
		return nil, nil
	}
	ind, err := decodeIndicator(st)
	if err != nil {
		return nil, err
	}
	stix.Revoke(ind, now)
	rec := *st
	fill(&rec, ind, now)
	rec.Status = state.StatusRevoked
	return &change{key: st.Key, ind: ind, upload: true, rec: &rec}, nil
}

// sweepAction is what a complete-list sweep does with one active record.
type sweepAction int

const (
	sweepKeep    sweepAction = iota // still listed, or within the grace period
	sweepExpire                     // past valid_until: mark expired (state only)
	sweepHandOff                    // dropped by src, vouched for by others: drop src
	sweepRevoke                     // dropped by src longer than the grace period
)

// sweepVerdict decides what a sweep for source src does with the active
// record st. For sweepHandOff it also returns the sources that remain.
func (ru *rules) sweepVerdict(st *state.Indicator, src string) (sweepAction, []state.SourceSeen) {
	if !st.ValidUntil.After(ru.now) {
		// Ran out: Sentinel's rules ignore it already. Marking it expired
		// keeps it out of future sweeps (and a source that reports it
		// again re-uploads it).
		return sweepExpire, nil
	}
	if !st.HasSource(src) {
		return sweepKeep, nil
	}
	last := lastSeen(st.Sources, src)
	if last.IsZero() || ru.now.Sub(last) < ru.grace {
		return sweepKeep, nil
	}
	// Another source still vouches for it while its own report is valid:
	// last seen by it plus the type's lifetime.
	life := ru.lifetime(ioc.Type(st.Type))
	var others []state.SourceSeen
	for _, s := range st.Sources {
		if s.Source != src && ru.now.Before(s.LastSeen.Add(life)) {
			others = append(others, s)
		}
	}
	if len(others) > 0 {
		return sweepHandOff, others
	}
	return sweepRevoke, nil
}

// handOff drops a source that stopped listing an indicator other sources
// still vouch for: state forgets the source and, when the indicator as
// merged from the remaining sources reads differently (the dropped feed's
// name, description or labels), it is uploaded again without them.
func handOff(st *state.Indicator, others []state.SourceSeen, now time.Time) *change {
	rec := *st
	rec.Sources = others
	ind, err := decodeIndicator(&rec)
	if err != nil {
		return &change{key: st.Key, rec: &rec} // unreadable: state only
	}
	// What is attributable to the dropped sources goes with them: their
	// name label and their external references. (Other labels a feed
	// added cannot be told apart from the remaining sources' and stay.)
	kept := map[string]bool{}
	for _, s := range others {
		kept[strings.ToLower(s.Source)] = true
	}
	for _, s := range st.Sources {
		if name := strings.ToLower(s.Source); !kept[name] {
			ind.Labels = slices.DeleteFunc(ind.Labels, func(l string) bool { return strings.ToLower(l) == name })
			ind.ExternalReferences = slices.DeleteFunc(ind.ExternalReferences, func(r stix.ExternalReference) bool {
				return strings.ToLower(r.SourceName) == name
			})
		}
	}
	m := stix.Merge(ind, ind, now)
	m.ID = st.ID
	if stix.Fingerprint(m) == st.Fingerprint {
		return &change{key: st.Key, rec: &rec}
	}
	if !m.Modified.After(ind.Modified) {
		m.Modified = ind.Modified.Add(time.Millisecond)
	}
	fill(&rec, m, now)
	return &change{key: st.Key, ind: m, upload: true, rec: &rec}
}

// holdRevocations reports whether a sweep that would revoke revokes of a
// complete list's active indicators must be held: a list that lost more
// than the hold fraction at once is more likely broken (truncated, an
// error page that parsed, an upstream incident) than a real clean-up.
func holdRevocations(revokes, active int, fraction float64) bool {
	return revokes > massRevocationMin && float64(revokes) > fraction*float64(active)
}

func decodeIndicator(st *state.Indicator) (*stix.Indicator, error) {
	if len(st.Object) == 0 {
		return nil, errors.New("no stored object")
	}
	var ind stix.Indicator
	if err := json.Unmarshal(st.Object, &ind); err != nil {
		return nil, err
	}
	typ := ioc.Type(st.Type)
	ind.Observable = ioc.Observable{Type: typ, Value: st.Value}
	for _, s := range st.Sources {
		ind.Sources = append(ind.Sources, s.Source)
	}
	return &ind, nil
}

func newState(key string, ind *stix.Indicator, rev int, seen state.SourceSeen, now time.Time) *state.Indicator {
	return newStateFP(key, ind, rev, seen, now, "")
}

// newStateFP is newState with ind's fingerprint already known ("" =
// compute it).
func newStateFP(key string, ind *stix.Indicator, rev int, seen state.SourceSeen, now time.Time, fp string) *state.Indicator {
	rec := &state.Indicator{
		Key:      key,
		Revision: rev,
		Type:     string(ind.Observable.Type),
		Value:    ind.Observable.Value,
		Sources:  []state.SourceSeen{seen},
		Created:  ind.Created,
		Status:   state.StatusActive,
	}
	fillFP(rec, ind, now, fp)
	return rec
}

// fill copies what state remembers of an uploaded indicator; rec.Object is
// the indicator's one encoding, also the bytes that are enqueued.
func fill(rec *state.Indicator, ind *stix.Indicator, now time.Time) {
	fillFP(rec, ind, now, "")
}

// fillFP is fill with ind's fingerprint already known ("" = compute it).
func fillFP(rec *state.Indicator, ind *stix.Indicator, now time.Time, fp string) {
	if fp == "" {
		fp = stix.Fingerprint(ind)
	}
	rec.ID = ind.ID
	rec.Labels = ind.Labels
	rec.Confidence = ind.Confidence
	rec.Fingerprint = fp
	rec.LastUploaded = now
	rec.ValidUntil = ind.ValidUntil
	rec.Object = ind.AppendJSON(make([]byte, 0, 1024)) // valid JSON by construction, no re-scan
	if ind.Revoked {
		rec.Status = state.StatusRevoked
	} else {
		rec.Status = state.StatusActive
	}
}

func mergeSeen(list []state.SourceSeen, s state.SourceSeen) []state.SourceSeen {
	out := slices.Clone(list)
	for i := range out {
		if out[i].Source == s.Source {
			if s.RecordID != "" {
				out[i].RecordID = s.RecordID
			}
			if s.LastSeen.After(out[i].LastSeen) {
				out[i].LastSeen = s.LastSeen
			}
			if s.Digest != "" {
				out[i].Digest = s.Digest
			}
			return out
		}
	}
	return append(out, s)
}

// sourceSeen returns what list says of source, nil when nothing.
func sourceSeen(list []state.SourceSeen, source string) *state.SourceSeen {
	for i := range list {
		if list[i].Source == source {
			return &list[i]
		}
	}
	return nil
}

func lastSeen(list []state.SourceSeen, source string) time.Time {
	for _, s := range list {
		if s.Source == source {
			return s.LastSeen
		}
	}
	return time.Time{}
}

// reconcile merges our pending write into the row another writer stored:
// sources are united; the higher revision wins (a revoked id is never
// reused); within one revision a revocation sticks, from either side; only
// then does the newer upload's object win.
func reconcile(mine, theirs *state.Indicator) *state.Indicator {
	if theirs == nil {
		m := *mine
		m.ETag = ""
		return &m
	}
	out := *theirs
	for _, s := range mine.Sources {
		out.Sources = mergeSeen(out.Sources, s)
	}
	takeMine := false
	switch {
	case mine.Revision != theirs.Revision:
		takeMine = mine.Revision > theirs.Revision
	case theirs.Status == state.StatusRevoked:
		takeMine = false
	case mine.Status == state.StatusRevoked:
		takeMine = true
	default:
		takeMine = mine.LastUploaded.After(theirs.LastUploaded)
	}
	if takeMine {
		out.ID, out.Revision, out.Object, out.Fingerprint = mine.ID, mine.Revision, mine.Object, mine.Fingerprint
		out.LastUploaded, out.ValidUntil, out.Labels, out.Confidence, out.Status = mine.LastUploaded, mine.ValidUntil, mine.Labels, mine.Confidence, mine.Status
		out.Created = mine.Created
		if mine.Revision == theirs.Revision && mine.Status != state.StatusRevoked &&
			mine.Fingerprint != theirs.Fingerprint && !theirs.LastUploaded.IsZero() {
			// Both uploaded different content; force the next run to
			// upload the merge of both.
			out.Fingerprint = ""
		}
	}
	return &out
}
