package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/feeds2sentinel/feeds2sentinel/internal/queue"
	"github.com/feeds2sentinel/feeds2sentinel/internal/state"
	"github.com/feeds2sentinel/feeds2sentinel/internal/stix"
)

// commit diffs the run's current chunk against state, enqueues what must be
// uploaded and then writes state for what was enqueued. It leaves the chunk
// in place (the caller resets it): a submission reads the final ids from it.
func (p *Pipeline) commit(ctx context.Context, r *run) error {
	if len(r.order) == 0 && len(r.allowed) == 0 {
		return nil
	}
	keys := append(append(make([]string, 0, len(r.order)+len(r.allowed)), r.order...), r.allowed...)
	existing, err := p.Store.Get(ctx, keys)
	if err != nil {
		return fmt.Errorf("%s: read state: %w", r.spec.Config.Name, err)
	}
	ru := r.rules(p)
	changes := make([]*change, 0, len(r.order))
	for _, key := range r.order {
		c, v, derr := ru.diff(key, r.byKey[key], r.seen[key], existing[key])
		if derr != nil {
			r.logger.Warn("state object unreadable; uploading the indicator afresh", "id", existing[key].ID, "error", derr)
		}
		r.counts.count(v)
		if c != nil {
			changes = append(changes, c)
		}
	}
	done := make(map[string]bool, len(r.allowed))
	for _, key := range r.allowed {
		if done[key] {
			continue
		}
		done[key] = true
		c, rerr := revoke(existing[key], r.now)
		if rerr != nil {
			r.logger.Warn("cannot revoke an allowlisted indicator: state object unreadable", "id", existing[key].ID, "error", rerr)
		}
		if c != nil {
			changes = append(changes, c)
		}
	}
	return p.apply(ctx, r, changes)
}

// apply enqueues the uploads of changes, then writes state for every change
// that needs no upload or whose upload is on the queue. A record the store
// refuses is logged and counted (StateRejected); it never discards the
// others.
func (p *Pipeline) apply(ctx context.Context, r *run, changes []*change) error {
	sent, err := p.enqueue(ctx, r, changes)
	r.counts.Enqueued += sent
	writes := make([]*state.Indicator, 0, len(changes))
	for _, c := range changes {
		if c.upload && !c.sent {
			continue
		}
		if c.sent && c.ind.Revoked {
			r.counts.Revoked++
		}
		writes = append(writes, c.rec)
	}
	if err != nil {
		notSent := 0
		for _, c := range changes {
			if c.upload && !c.sent {
				notSent++
			}
		}
		r.counts.NotEnqueued += notSent
		// Remember what did reach the queue, then fail the run.
		if werr := p.writeValid(ctx, r, writes); werr != nil {
			err = errors.Join(err, werr)
		}
		return fmt.Errorf("%s: %d indicators not enqueued: %w", r.spec.Config.Name, r.counts.NotEnqueued, err)
	}
	if err := p.writeValid(ctx, r, writes); err != nil {
		return fmt.Errorf("%s: write state: %w", r.spec.Config.Name, err)
	}
	return nil
}

// writeValid writes recs; when the store refuses the write for a record it
// cannot hold (state.ErrInvalid, nothing written), that record is logged,
// counted in StateRejected and left out, and the others are written.
func (p *Pipeline) writeValid(ctx context.Context, r *run, recs []*state.Indicator) error {
	err := p.writeState(ctx, recs)
	if !errors.Is(err, state.ErrInvalid) {
		return err
	}
	valid := recs[:0:0]
	for _, rec := range recs {
		if verr := rec.Validate(); verr != nil {
			r.counts.StateRejected++
			r.logger.Error("indicator state not stored: the next run sees it as new and uploads it again",
				"id", rec.ID, "error", verr)
			continue
		}
		valid = append(valid, rec)
	}
	return p.writeState(ctx, valid)
}

// sweep revokes what a complete-list source stopped listing for longer than
// the grace period, unless another source still reports it; it also marks
// expired every active indicator past its valid_until (the scan visits every
// active record: Table Storage filters the status, not the source). It runs
// after every chunk of the run is committed, so an indicator the list still
// holds has this run's last-seen time. It scans twice: first to count, so
// that a mass revocation can be held before anything is revoked, then to
// act, a chunk at a time.
func (p *Pipeline) sweep(ctx context.Context, r *run) error {
	src := r.spec.Config.Name
	ru := r.rules(p)
	active, revokes := 0, 0
	err := p.Store.Scan(ctx, state.ScanFilter{Status: state.StatusActive}, func(st *state.Indicator) error {
		if st.HasSource(src) && st.ValidUntil.After(r.now) {
			active++
		}
		if a, _ := ru.sweepVerdict(st, src); a == sweepRevoke {
			revokes++
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%s: revocation sweep: %w", src, err)
	}
	hold := holdRevocations(revokes, active, p.holdFraction())
	if hold {
		r.counts.RevocationsHeld = revokes
		r.logger.Warn("mass revocation held: the complete list dropped more than the hold fraction of its indicators at once",
			"would_revoke", revokes, "active", active, "hold_fraction", p.holdFraction())
	}
	var batch []*change
	flush := func() error {
		err := p.apply(ctx, r, batch)
		batch = batch[:0]
		return err
	}
	err = p.Store.Scan(ctx, state.ScanFilter{Status: state.StatusActive}, func(st *state.Indicator) error {
		a, others := ru.sweepVerdict(st, src)
		switch a {
		case sweepExpire:
			rec := *st
			rec.Status = state.StatusExpired
			batch = append(batch, &change{key: st.Key, rec: &rec})
		case sweepHandOff:
			batch = append(batch, handOff(st, others, r.now))
		case sweepRevoke:
			if hold {
				return nil
			}
			c, err := revoke(st, r.now)
			if err != nil {
				r.logger.Warn("cannot revoke: state object unreadable", "id", st.ID, "reason", "delisted by "+src, "error", err)
			}
			if c != nil {
				batch = append(batch, c)
			}
		}
		if len(batch) >= r.chunkSize {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return fmt.Errorf("%s: revocation sweep: %w", src, err)
	}
	return nil
}

// holdFraction is Pipeline.MassRevocationHold or its default, one half.
func (p *Pipeline) holdFraction() float64 {
	if p.MassRevocationHold > 0 {
		return p.MassRevocationHold
	}
	return 0.5
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
		byKey := make(map[string]*state.Indicator, len(recs))
		for _, r := range recs {
			byKey[r.Key] = r
		}
		var retry []*state.Indicator
		for _, k := range ce.Keys {
			if mine := byKey[k]; mine != nil {
				retry = append(retry, reconcile(mine, fresh[k]))
			}
		}
		recs = retry
	}
	return nil
}

// enqueue publishes the uploads of one chunk in batches and marks what was
// sent. The source identities the chunk's indicators reference ride in its
// first batch (once per chunk, not in every batch): the batches of a chunk
// depend only on its indicators, so a run resumed after a kill enqueues the
// same bytes again and the queue's duplicate detection drops them. It
// returns the number of indicators safely enqueued.
func (p *Pipeline) enqueue(ctx context.Context, r *run, changes []*change) (int, error) {
	var ups []*change
	var idents []json.RawMessage
	refs := map[string]bool{}
	for _, c := range changes {
		if !c.upload {
			continue
		}
		ups = append(ups, c)
		if ref := c.ind.CreatedByRef; ref != "" && !refs[ref] {
			refs[ref] = true
			if id := identityFor(ref, c.ind); id != nil {
				b, err := json.Marshal(id)
				if err != nil {
					return 0, fmt.Errorf("encode identity %s: %w", ref, err)
				}
				idents = append(idents, b)
			}
		}
	}
	if len(ups) == 0 {
		return 0, nil
	}
	if len(idents) > maxIdentitiesInBatch {
		// Indicators of many sources: the identities go ahead in batches
		// of their own.
		for _, b := range queue.Split(r.spec.Config.Name, idents, nil) {
			if _, err := p.Publisher.Publish(ctx, []queue.Batch{b}); err != nil {
				return 0, err
			}
		}
		idents = nil
	}
	objs := make([]json.RawMessage, len(ups))
	for i, c := range ups {
		objs[i] = c.rec.Object // the one encoding, made by fill
	}
	batches := queue.Split(r.spec.Config.Name, objs, &queue.SplitOptions{MaxObjects: queue.MaxObjects - len(idents)})
	if len(idents) > 0 {
		batches[0].Objects = append(slices.Clip(idents), batches[0].Objects...)
	}
	// One call for the whole chunk: Service Bus packs the messages into
	// few sends, the spool syncs its files together.
	objsSent, err := p.Publisher.Publish(ctx, batches)
	// Publish reports the objects on the queue, in order: the batches
	// they make up are sent.
	sent := 0
	for _, b := range batches {
		if objsSent < len(b.Objects) {
			break
		}
		objsSent -= len(b.Objects)
		n := len(b.Objects)
		if sent == 0 {
			n -= len(idents)
		}
		for _, c := range ups[sent : sent+n] {
			c.sent = true
		}
		sent += n
	}
	return sent, err
}

// maxIdentitiesInBatch is how many identities may ride in a chunk's first
// batch of indicators.
const maxIdentitiesInBatch = 10

// identityFor returns the identity object a created_by_ref names: the
// identity of one of the indicator's sources.
func identityFor(ref string, ind *stix.Indicator) *stix.Identity {
	for _, src := range ind.Sources {
		if stix.IdentityID(src) == ref {
			return stix.NewSourceIdentity(src)
		}
	}
	return nil
}

// count adds one diff verdict to the counts.
func (c *Counts) count(v verdict) {
	switch v {
	case verdictNew:
		c.New++
	case verdictChanged:
		c.Changed++
	case verdictRefreshed:
		c.Refreshed++
	case verdictUnchanged:
		c.Unchanged++
	}
}
