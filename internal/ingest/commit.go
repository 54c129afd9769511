package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/feeds2sentinel/feeds2sentinel/internal/ioc"
	"github.com/feeds2sentinel/feeds2sentinel/internal/queue"
	"github.com/feeds2sentinel/feeds2sentinel/internal/state"
	"github.com/feeds2sentinel/feeds2sentinel/internal/stix"
)

// expiryWindow: an indicator still reported whose valid_until is closer than
// this (or than half its lifetime, for short lifetimes) is refreshed even if
// its refresh interval has not passed, so it never drops out of the TI map
// rules while a source still lists it.
const expiryWindow = 3 * 24 * time.Hour

// seenWriteAge: an unchanged indicator's state row is rewritten (to move its
// last-seen time) only when the stored time is older than this; complete-list
// revocation needs it accurate to well within the grace period.
const seenWriteAge = 6 * time.Hour

// change is one indicator the run wants to upload and/or remember.
type change struct {
	key    string
	ind    *stix.Indicator // nil = state-only update
	rec    *state.Indicator
	upload bool
	sent   bool // the upload is on the queue
}

// commit diffs the run against state, enqueues what must be uploaded and
// then writes state for what was enqueued.
func (p *Pipeline) commit(ctx context.Context, r *run) error {
	keys := append(slices.Clone(r.order), r.allowed...)
	existing, err := p.Store.Get(ctx, keys)
	if err != nil {
		return fmt.Errorf("%s: read state: %w", r.spec.Config.Name, err)
	}
	var changes []*change
	for _, key := range r.order {
		c, err := p.diff(r, key, existing[key])
		if err != nil {
			return fmt.Errorf("%s: %w", r.spec.Config.Name, err)
		}
		if c != nil {
			changes = append(changes, c)
		}
	}
	for _, key := range r.allowed {
		if c := p.revokeChange(existing[key], r.now, "allowlisted"); c != nil {
			changes = append(changes, c)
			delete(existing, key)
		}
	}
	if r.complete() {
		sweep, err := p.sweep(ctx, r)
		if err != nil {
			return fmt.Errorf("%s: revocation sweep: %w", r.spec.Config.Name, err)
		}
		changes = append(changes, sweep...)
	}
	changes = dedupe(changes)
	sent, err := p.enqueue(ctx, r.spec.Config.Name, changes)
	r.counts.Enqueued = sent
	for _, c := range changes {
		if c.sent && c.ind.Revoked {
			r.counts.Revoked++
		}
	}
	var writes []*state.Indicator
	for _, c := range changes {
		if c.upload && !c.sent {
			continue
		}
		writes = append(writes, c.rec)
	}
	if err != nil {
		r.counts.NotEnqueued = countUploads(changes) - sent
		// Remember what did reach the queue, then fail the run.
		if werr := p.writeState(ctx, writes); werr != nil {
			err = errors.Join(err, werr)
		} else if ferr := p.flush(); ferr != nil {
			err = errors.Join(err, ferr)
		}
		return fmt.Errorf("%s: %d indicators not enqueued: %w", r.spec.Config.Name, r.counts.NotEnqueued, err)
	}
	if err := p.writeState(ctx, writes); err != nil {
		return fmt.Errorf("%s: write state: %w", r.spec.Config.Name, err)
	}
	return p.flush()
}

// flush makes the run's state durable when the store buffers writes (the
// local file store): a crash after the batches reached the spool must not
// forget a revocation, or a revoked id could be refreshed again.
func (p *Pipeline) flush() error {
	if f, ok := p.Store.(interface{ Flush() error }); ok {
		if err := f.Flush(); err != nil {
			return fmt.Errorf("flush state: %w", err)
		}
	}
	return nil
}

// dedupe keeps the first change of each key: a state row is written once
// per run (Put refuses a key twice).
func dedupe(cs []*change) []*change {
	seen := make(map[string]bool, len(cs))
	out := cs[:0]
	for _, c := range cs {
		if !seen[c.key] {
			seen[c.key] = true
			out = append(out, c)
		}
	}
	return out
}

func countUploads(cs []*change) int {
	n := 0
	for _, c := range cs {
		if c.upload {
			n++
		}
	}
	return n
}

// diff decides what to do with one indicator of the run.
func (p *Pipeline) diff(r *run, key string, st *state.Indicator) (*change, error) {
	cur := r.byKey[key]
	seen := r.seen[key]
	now := r.now
	if st == nil {
		r.counts.New++
		return &change{key: key, ind: cur, upload: true, rec: newState(key, cur, 0, seen, now)}, nil
	}
	if st.Status == state.StatusRevoked {
		// Revoked ids are never re-activated: the IOC comes back under the
		// next revision's id.
		rev := st.Revision + 1
		cur.ID = stix.IndicatorID(cur.Observable, rev)
		r.counts.New++
		rec := newState(key, cur, rev, seen, now)
		rec.ETag = st.ETag
		return &change{key: key, ind: cur, upload: true, rec: rec}, nil
	}
	old, err := decodeIndicator(st)
	if err != nil {
		// A state row we cannot read is replaced by the fresh indicator.
		r.logger.Warn("state object unreadable; re-uploading", "key_id", st.ID, "error", err)
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
	switch {
	case st.Status == state.StatusExpired || fp != st.Fingerprint:
		r.counts.Changed++
	case now.Sub(st.LastUploaded) >= p.refreshInterval() || st.ValidUntil.Sub(now) < min(expiryWindow, r.lifetime(cur.Observable.Type)/2):
		// Still reported: a newer modified and an extended validity keep
		// it inside the TI map rules' look-back.
		r.counts.Refreshed++
		merged.Modified = now
		if ext := now.Add(r.lifetime(cur.Observable.Type)); merged.ValidUntil.Before(ext) {
			merged.ValidUntil = ext
		}
	default:
		r.counts.Unchanged++
		if prev := lastSeen(st.Sources, seen.Source); now.Sub(prev) < seenWriteAge {
			return nil, nil
		}
		return &change{key: key, rec: &rec}, nil
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
	return &change{key: key, ind: merged, upload: true, rec: &rec}, nil
}

// revokeChange revokes an active indicator (re-upload with revoked: true).
func (p *Pipeline) revokeChange(st *state.Indicator, now time.Time, why string) *change {
	if st == nil || st.Status != state.StatusActive {
		return nil
	}
	ind, err := decodeIndicator(st)
	if err != nil {
		p.logger().Warn("cannot revoke: state object unreadable", "id", st.ID, "reason", why, "error", err)
		return nil
	}
	stix.Revoke(ind, now)
	rec := *st
	fill(&rec, ind, now)
	rec.Status = state.StatusRevoked
	return &change{key: st.Key, ind: ind, upload: true, rec: &rec}
}

// sweep revokes what a complete-list source stopped listing for longer than
// the grace period, unless another source still reports it.
func (p *Pipeline) sweep(ctx context.Context, r *run) ([]*change, error) {
	src := r.spec.Config.Name
	var out []*change
	grace := p.revokeGrace()
	active, revokes := 0, 0
	allowed := map[string]bool{}
	for _, k := range r.allowed {
		allowed[k] = true // revoked by the allowlist path already
	}
	// The scan visits every active indicator (Table Storage filters the
	// status, not the source), so it also retires the expired ones of
	// every source: they leave later scans.
	err := p.Store.Scan(ctx, state.ScanFilter{Status: state.StatusActive}, func(st *state.Indicator) error {
		if _, listed := r.byKey[st.Key]; listed || allowed[st.Key] {
			if st.HasSource(src) {
				active++
			}
			return nil // this run's diff or the allowlist path handles it
		}
		if !st.ValidUntil.After(r.now) {
			// Ran out: Sentinel's rules ignore it already. Marking it
			// expired keeps it out of future sweeps (and a source that
			// reports it again re-uploads it).
			rec := *st
			rec.Status = state.StatusExpired
			out = append(out, &change{key: st.Key, rec: &rec})
			return nil
		}
		if !st.HasSource(src) {
			return nil
		}
		active++
		last := lastSeen(st.Sources, src)
		if last.IsZero() || r.now.Sub(last) < grace {
			return nil
		}
		// Another source still vouches for it while its own report is
		// valid: last seen by it plus the type's lifetime.
		life := r.lifetime(ioc.Type(st.Type))
		var others []state.SourceSeen
		for _, s := range st.Sources {
			if s.Source != src && r.now.Before(s.LastSeen.Add(life)) {
				others = append(others, s)
			}
		}
		if len(others) > 0 {
			rec := *st
			rec.Sources = others
			out = append(out, &change{key: st.Key, rec: &rec})
			return nil
		}
		if c := p.revokeChange(st, r.now, "delisted by "+src); c != nil {
			out = append(out, c)
			revokes++
		}
		return nil
	})
	if err == nil && revokes > massRevocationMin && float64(revokes) > p.holdFraction()*float64(active) {
		// A complete list that lost more than half of what it listed is
		// more likely broken (truncated, an error page that parsed, an
		// upstream incident) than a real clean-up: hold the revocations
		// and say so; they go ahead once the list looks sane again.
		r.counts.RevocationsHeld = revokes
		r.logger.Warn("mass revocation held: the complete list dropped more than half of its indicators",
			"would_revoke", revokes, "active", active)
		kept := out[:0]
		for _, c := range out {
			if c.ind == nil || !c.ind.Revoked {
				kept = append(kept, c)
			}
		}
		out = kept
	}
	return out, err
}

// massRevocationMin is the number of revocations a sweep always allows; above
// it, a sweep that would revoke more than the hold fraction of a source's
// indicators is held (see sweep).
const massRevocationMin = 20

// holdFraction is Pipeline.MassRevocationHold or its default, one half.
func (p *Pipeline) holdFraction() float64 {
	if p.MassRevocationHold > 0 {
		return p.MassRevocationHold
	}
	return 0.5
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
	rec := &state.Indicator{
		Key:      key,
		Revision: rev,
		Type:     string(ind.Observable.Type),
		Value:    ind.Observable.Value,
		Sources:  []state.SourceSeen{seen},
		Created:  ind.Created,
		Status:   state.StatusActive,
	}
	fill(rec, ind, now)
	return rec
}

// fill copies what state remembers of an uploaded indicator.
func fill(rec *state.Indicator, ind *stix.Indicator, now time.Time) {
	rec.ID = ind.ID
	rec.Labels = ind.Labels
	rec.Confidence = ind.Confidence
	rec.Fingerprint = stix.Fingerprint(ind)
	rec.LastUploaded = now
	rec.ValidUntil = ind.ValidUntil
	rec.Object, _ = json.Marshal(ind)
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
			return out
		}
	}
	return append(out, s)
}

func lastSeen(list []state.SourceSeen, source string) time.Time {
	for _, s := range list {
		if s.Source == source {
			return s.LastSeen
		}
	}
	return time.Time{}
}

// writeState stores records, re-reading and re-merging the ones another
// writer changed meanwhile (optimistic concurrency), a few times.
func (p *Pipeline) writeState(ctx context.Context, recs []*state.Indicator) error {
	for attempt := 0; len(recs) > 0; attempt++ {
		err := p.Store.Put(ctx, recs)
		var ce *state.ConflictError
		if err == nil || !errors.As(err, &ce) || attempt >= 5 {
			return err
		}
		fresh, gerr := p.Store.Get(ctx, ce.Keys)
		if gerr != nil {
			return errors.Join(err, gerr)
		}
		byKey := map[string]*state.Indicator{}
		for _, r := range recs {
			byKey[r.Key] = r
		}
		var retry []*state.Indicator
		for _, k := range ce.Keys {
			mine := byKey[k]
			theirs := fresh[k]
			if mine == nil {
				continue
			}
			retry = append(retry, reconcile(mine, theirs))
		}
		recs = retry
	}
	return nil
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

// enqueue publishes the uploads in batches (identities alongside the
// indicators that reference them) and marks what was sent. It returns the
// number of indicators safely enqueued.
func (p *Pipeline) enqueue(ctx context.Context, source string, changes []*change) (int, error) {
	groups := map[string][]*change{}
	var order []string
	for _, c := range changes {
		if !c.upload {
			continue
		}
		ref := c.ind.CreatedByRef
		if _, ok := groups[ref]; !ok {
			order = append(order, ref)
		}
		groups[ref] = append(groups[ref], c)
	}
	sent := 0
	for _, ref := range order {
		cs := groups[ref]
		var ident json.RawMessage
		if ref != "" {
			if id := identityFor(ref, cs); id != nil {
				ident, _ = json.Marshal(id)
			}
		}
		objs := make([]json.RawMessage, 0, len(cs))
		for _, c := range cs {
			b, err := json.Marshal(c.ind)
			if err != nil {
				return sent, fmt.Errorf("encode indicator %s: %w", c.ind.ID, err)
			}
			objs = append(objs, b)
		}
		batches := queue.Split(source, objs, &queue.SplitOptions{MaxObjects: 99})
		i := 0
		for _, b := range batches {
			n := len(b.Objects)
			if ident != nil {
				b.Objects = append([]json.RawMessage{ident}, b.Objects...)
			}
			if _, err := p.Publisher.Publish(ctx, []queue.Batch{b}); err != nil {
				return sent, err
			}
			for _, c := range cs[i : i+n] {
				c.sent = true
			}
			i += n
			sent += n
		}
	}
	return sent, nil
}

// identityFor returns the identity object a created_by_ref names: the
// identity of one of the indicators' sources.
func identityFor(ref string, cs []*change) *stix.Identity {
	for _, c := range cs {
		for _, src := range c.ind.Sources {
			if stix.IdentityID(src) == ref {
				return stix.NewSourceIdentity(src)
			}
		}
	}
	return nil
}
