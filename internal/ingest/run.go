package ingest

import (
	"errors"
	"log/slog"
	"time"

	"github.com/feeds2sentinel/feeds2sentinel/internal/ioc"
	"github.com/feeds2sentinel/feeds2sentinel/internal/state"
	"github.com/feeds2sentinel/feeds2sentinel/internal/stix"
)

// maxLoggedRejects is how many rejected records per reason a run logs one
// by one at Info (record id and reason, never the value); the rest are
// logged at Debug and all are counted.
const maxLoggedRejects = 20

// DefaultChunkSize is how many indicators a feed run builds before it
// commits them (diff against state, enqueue, remember): a run's memory is
// bounded by one chunk, whatever the size of the feed.
const DefaultChunkSize = 2000

// run is one feed run (or submission): its settings and counts, the
// identities it has enqueued, and the chunk of indicators built since the
// last commit.
type run struct {
	spec      FeedSpec
	now       time.Time
	opts      *stix.Options
	policy    *ioc.Policy
	logger    *slog.Logger
	counts    Counts
	logged    map[ioc.Reason]int
	chunkSize int

	// The current chunk.
	byKey   map[string]*stix.Indicator
	seen    map[string]state.SourceSeen
	order   []string
	allowed []string // keys rejected as allowlisted: revoke if active
}

func (p *Pipeline) newRun(spec FeedSpec, now time.Time) *run {
	pol := p.Policy
	if pol == nil {
		pol = &ioc.Policy{}
	}
	size := p.ChunkSize
	if size <= 0 {
		size = DefaultChunkSize
	}
	return &run{
		spec:      spec,
		now:       now,
		opts:      stixOptions(spec, now),
		policy:    pol,
		logger:    p.logger().With("feed", spec.Config.Name),
		byKey:     map[string]*stix.Indicator{},
		seen:      map[string]state.SourceSeen{},
		logged:    map[ioc.Reason]int{},
		chunkSize: size,
	}
}

// full reports whether the current chunk is due for a commit.
func (r *run) full() bool { return len(r.order)+len(r.allowed) >= r.chunkSize }

// reset empties the current chunk after its commit.
func (r *run) reset() {
	clear(r.byKey)
	clear(r.seen)
	r.order, r.allowed = r.order[:0], r.allowed[:0]
}

// rules returns the lifecycle settings of the run.
func (r *run) rules(p *Pipeline) *rules {
	return &rules{now: r.now, refresh: p.refreshInterval(), grace: p.revokeGrace(), lifetime: r.lifetime}
}

// vouch applies what holds for every record of a run once its indicator
// is built: a complete list that still lists an IOC vouches for it now,
// whatever its last-seen date says (its validity is extended to now plus
// the lifetime), and an indicator whose valid_until is already past is
// rejected rather than uploaded for nothing.
func (r *run) vouch(rec *ioc.Record, ind *stix.Indicator) error {
	if r.complete() && rec.ValidUntil.IsZero() {
		if ext := r.now.Add(r.lifetime(ind.Observable.Type)); ind.ValidUntil.Before(ext) {
			ind.ValidUntil = ext
		}
	}
	until := ind.ValidUntil
	if !rec.ValidUntil.IsZero() && rec.ValidUntil.Before(until) {
		until = rec.ValidUntil // an explicit expiry the builder had to bump
	}
	if !until.After(r.now) {
		return &ioc.Rejection{Reason: ioc.ReasonExpired, RecordID: rec.ID, Value: rec.Value,
			Detail: "valid_until " + until.UTC().Format(time.RFC3339) + " is already past: uploading it would cost quota and match nothing"}
	}
	return nil
}

// complete reports whether the run's source publishes a complete current
// list (what leaves it is revoked after the grace period).
func (r *run) complete() bool {
	u := r.spec.Config.URL
	if u == "" {
		u = r.spec.Source.DefaultURL
	}
	return r.spec.Source.CompleteAt(u) || (r.spec.Config.User && r.spec.Config.Complete)
}

// lifetime is the validity a still-reported indicator of type t gets.
func (r *run) lifetime(t ioc.Type) time.Duration {
	if d, ok := r.opts.Lifetimes[t]; ok && d > 0 {
		return d
	}
	return stix.DefaultLifetime(t)
}

// add takes one parsed record: normalize, policy, STIX, merge duplicates.
// It never fails the run: a bad record is rejected with a reason.
func (r *run) add(rec *ioc.Record) error {
	r.counts.Fetched++
	if rec.Source == "" {
		rec.Source = r.spec.Config.Name
	}
	ind, err := buildIndicator(rec, r.policy, r.spec.Config.MinConfidence, r.opts)
	if err == nil {
		err = r.vouch(rec, ind)
	}
	if err != nil {
		var rj *ioc.Rejection
		if errors.As(err, &rj) && rj.Reason == ioc.ReasonAllowlisted {
			if o, nerr := ioc.Normalize(rec.Value, rec.Type); nerr == nil {
				r.allowed = append(r.allowed, o.Key())
			}
		}
		r.reject(rec, err)
		return nil
	}
	key := ind.Observable.Key()
	seen := state.SourceSeen{Source: rec.Source, RecordID: rec.ID, FirstSeen: r.now, LastSeen: r.now}
	if old, ok := r.byKey[key]; ok {
		r.byKey[key] = stix.Merge(old, ind, r.now)
		r.counts.Duplicate++
		return nil
	}
	r.byKey[key] = ind
	r.seen[key] = seen
	r.order = append(r.order, key)
	return nil
}

func (r *run) reject(rec *ioc.Record, err error) {
	reason := ioc.ReasonInvalid
	var rj *ioc.Rejection
	if errors.As(err, &rj) {
		reason = rj.Reason
	}
	r.counts.reject(reason)
	r.logged[reason]++
	if r.logged[reason] <= maxLoggedRejects {
		r.logger.Info("record rejected", "record_id", rec.ID, "reason", string(reason), "error", err)
	} else {
		r.logger.Debug("record rejected", "record_id", rec.ID, "reason", string(reason), "value", rec.Value, "error", err)
	}
}

// buildIndicator is the per-record core shared by feeds, convert and
// submissions: normalize → policy → minimum confidence → STIX.
func buildIndicator(rec *ioc.Record, pol *ioc.Policy, minConf int, opts *stix.Options) (*stix.Indicator, error) {
	obs, err := ioc.Normalize(rec.Value, rec.Type)
	if err != nil {
		return nil, withRecord(err, rec.ID)
	}
	if err := pol.Check(obs); err != nil {
		return nil, withRecord(err, rec.ID)
	}
	if minConf > 0 {
		conf := opts.DefaultConfidence
		if rec.ConfidenceSet {
			conf = rec.Confidence
		}
		if conf < minConf {
			return nil, &ioc.Rejection{Reason: ioc.ReasonLowConfidence, RecordID: rec.ID, Value: rec.Value,
				Detail: "confidence below the feed's minimum confidence setting"}
		}
	}
	ind, err := stix.NewIndicator(obs, rec, opts)
	if err != nil {
		return nil, &ioc.Rejection{Reason: ioc.ReasonInvalid, RecordID: rec.ID, Value: rec.Value, Detail: err.Error()}
	}
	return ind, nil
}

func withRecord(err error, id string) error {
	var rj *ioc.Rejection
	if errors.As(err, &rj) && rj.RecordID == "" && id != "" {
		c := *rj
		c.RecordID = id
		return &c
	}
	return err
}
