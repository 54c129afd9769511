package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/feeds2sentinel/feeds2sentinel/internal/feed"
	"github.com/feeds2sentinel/feeds2sentinel/internal/ioc"
	"github.com/feeds2sentinel/feeds2sentinel/internal/state"
	"github.com/feeds2sentinel/feeds2sentinel/internal/stix"
)

// SubmitError is a submission refused as a whole: nothing of it is queued.
// Code says why, in a stable word (the HTTP edge maps it to a status:
// package submission), Message what was expected.
type SubmitError struct {
	Code    string
	Message string
}

// Error implements error.
func (e *SubmitError) Error() string { return e.Code + ": " + e.Message }

// Submissions is the ad hoc submission use case.
type Submissions struct {
	Pipeline *Pipeline
	// Settings: defaults for manual entries.
	MaxItems   int
	Confidence int
	Lifetime   time.Duration
	Source     string
	TLP        string
	// MaxDryRunBytes bounds the STIX objects of a dry run's answer;
	// DefaultMaxDryRunBytes if zero. A larger dry run is refused (413).
	MaxDryRunBytes int
	// Reserved are names a submission's source may not take: the feeds.
	// A submission under a feed's name would overwrite its status and be
	// revoked by its complete-list sweep.
	Reserved []string
}

// Submission is one decoded submission: its items, the request-level
// defaults and how to run it (package submission decodes HTTP bodies into
// it).
type Submission struct {
	Items    []SubmitItem
	Defaults SubmitDefaults
	DryRun   bool
	// Principal is the caller's identity when the platform supplies one.
	Principal string
}

// SubmitItem is one submitted item, before normalization: the input as
// given, the record decoded from it, or the reason it could not be.
type SubmitItem struct {
	Input  string
	Record ioc.Record
	Err    error
}

// ItemResult is the outcome of one submitted item.
type ItemResult struct {
	Input   string `json:"input"`
	Status  string `json:"status"` // accepted or rejected
	ID      string `json:"id,omitempty"`
	Value   string `json:"value,omitempty"`
	Type    string `json:"type,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

// SubmitResponse is the answer to a submission.
type SubmitResponse struct {
	Source   string            `json:"source"`
	DryRun   bool              `json:"dry_run"`
	Accepted int               `json:"accepted"`
	Rejected int               `json:"rejected"`
	Enqueued int               `json:"enqueued"`
	Results  []ItemResult      `json:"results"`
	Objects  []json.RawMessage `json:"objects,omitempty"`
}

// SubmitDefaults are the request-level defaults of a submission.
type SubmitDefaults struct {
	Source     string   `json:"source"`
	Labels     []string `json:"labels"`
	Confidence *int     `json:"confidence"`
	TLP        string   `json:"tlp"`
	Lifetime   string   `json:"lifetime"`
}

// Submit normalizes and (unless DryRun) enqueues a decoded submission. A
// submission refused as a whole returns a *SubmitError.
func (s *Submissions) Submit(ctx context.Context, sub Submission) (*SubmitResponse, error) {
	items, d, req := sub.Items, sub.Defaults, sub
	if len(items) == 0 {
		return nil, &SubmitError{Code: "empty", Message: "the submission holds no items (text: no IOC found)"}
	}
	if max := s.maxItems(); len(items) > max {
		return nil, &SubmitError{Code: "too_many_items", Message: fmt.Sprintf("%d items; at most %d per submission", len(items), max)}
	}
	spec, err := s.spec(d, req.Principal)
	if err != nil {
		return nil, err
	}
	p := s.Pipeline
	now := p.now()
	r := p.newRun(spec, now)
	resp := &SubmitResponse{Source: spec.Config.Name, DryRun: req.DryRun}
	keys := make([]string, len(items)) // the result's indicator key, "" if rejected
	for i := range items {
		if i%256 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("submission: %w", err)
			}
		}
		it := &items[i]
		res := ItemResult{Input: truncate(it.Input, 256)}
		if it.Err == nil {
			it.Err = checkValidUntil(it.Record.ValidUntil, now)
		}
		if it.Err == nil {
			it.Record.Source = spec.Config.Name
			applyDefaults(&it.Record, d, now)
			var ind *stix.Indicator
			ind, it.Err = buildIndicator(&it.Record, r.policy, 0, r.opts)
			if it.Err == nil {
				it.Err = r.vouch(&it.Record, ind)
			}
			if it.Err == nil {
				it.Err = checkMergedLabels(r.byKey[ind.Observable.Key()], ind)
			}
			if it.Err == nil {
				res.Status, res.ID, res.Value, res.Type = "accepted", ind.ID, ind.Observable.Value, string(ind.Observable.Type)
				key := ind.Observable.Key()
				keys[i] = key
				if old, ok := r.byKey[key]; ok {
					r.byKey[key] = stix.Merge(old, ind, now)
					r.counts.Duplicate++
				} else {
					r.byKey[key] = ind
					r.order = append(r.order, key)
					r.seen[key] = stateSeen(spec.Config.Name, now)
				}
				resp.Accepted++
			}
		}
		if it.Err != nil {
			res.Status = "rejected"
			res.Reason, res.Message = string(ioc.ReasonInvalid), it.Err.Error()
			var rj *ioc.Rejection
			if errors.As(it.Err, &rj) {
				res.Reason, res.Message = string(rj.Reason), rj.Detail
			}
			resp.Rejected++
		}
		resp.Results = append(resp.Results, res)
	}
	if req.DryRun {
		p.predictIDs(ctx, r)
		setIDs(resp, keys, r)
		size := 0
		for _, key := range r.order {
			b, _ := json.Marshal(r.byKey[key])
			if size += len(b); size > s.maxDryRunBytes() {
				return nil, &SubmitError{Code: "dry_run_too_large",
					Message: fmt.Sprintf("the dry run's STIX objects would exceed %d bytes: dry-run fewer items at a time (a real submission is not limited by this)", s.maxDryRunBytes())}
			}
			resp.Objects = append(resp.Objects, b)
		}
		if len(r.order) > 0 {
			b, _ := json.Marshal(stix.NewSourceIdentity(spec.Config.Name))
			resp.Objects = append([]json.RawMessage{b}, resp.Objects...)
		}
		return resp, nil
	}
	if len(r.order) == 0 {
		return resp, nil
	}
	rep := &Report{Feed: spec.Config.Name, Start: now, Outcome: OutcomeSucceeded}
	r.counts.Fetched = len(items)
	for _, res := range resp.Results {
		if res.Status == "rejected" {
			r.counts.reject(ioc.Reason(res.Reason))
		}
	}
	err = p.commit(ctx, r)
	rep.Counts, rep.End = r.counts, p.now()
	if err != nil {
		rep.Outcome, rep.Reason = OutcomeFailed, err.Error()
	}
	sctx, cancel := detached(ctx)
	defer cancel()
	if serr := p.saveStatus(sctx, spec, rep); serr != nil {
		p.logger().Warn("submission status not saved", "source", rep.Feed, "error", serr)
	}
	if err != nil {
		return resp, err
	}
	setIDs(resp, keys, r)
	resp.Enqueued = r.counts.Enqueued
	return resp, nil
}

// setIDs reports the final indicator ids: an IOC that returns after a
// revocation is uploaded under its next revision's id.
func setIDs(resp *SubmitResponse, keys []string, r *run) {
	for i, k := range keys {
		if ind, ok := r.byKey[k]; ok && k != "" {
			resp.Results[i].ID = ind.ID
		}
	}
}

// predictIDs gives a dry run the ids a real submission would use, from
// state (revoked IOCs come back under the next revision).
func (p *Pipeline) predictIDs(ctx context.Context, r *run) {
	if p.Store == nil || len(r.order) == 0 {
		return
	}
	existing, err := p.Store.Get(ctx, r.order)
	if err != nil {
		return // the dry run shows revision-0 ids
	}
	for k, st := range existing {
		ind := r.byKey[k]
		switch {
		case st.Status == state.StatusRevoked:
			ind.ID = stix.IndicatorID(ind.Observable, st.Revision+1)
		case st.ID != "":
			ind.ID = st.ID
		}
	}
}

// DefaultMaxDryRunBytes is the default bound on the STIX objects of a dry
// run's answer.
const DefaultMaxDryRunBytes = 16 << 20

func (s *Submissions) maxDryRunBytes() int {
	if s.MaxDryRunBytes > 0 {
		return s.MaxDryRunBytes
	}
	return DefaultMaxDryRunBytes
}

// checkValidUntil refuses an explicit valid_until further than
// stix.MaxValidity from now.
func checkValidUntil(t, now time.Time) error {
	if !t.IsZero() && t.After(now.Add(stix.MaxValidity)) {
		return &ioc.Rejection{Reason: ioc.ReasonInvalid,
			Detail: fmt.Sprintf("valid_until %s is too far ahead: at most %d days from now", t.Format(time.DateOnly), stix.MaxValidity/(24*time.Hour))}
	}
	return nil
}

// checkMergedLabels refuses ind when merging it into old, an earlier item
// of the submission with the same IOC (nil if none), would give the
// indicator more than MaxMergedLabels labels: repeated IOCs must not pile
// up labels without bound. Its time is linear in the labels.
func checkMergedLabels(old, ind *stix.Indicator) error {
	if old == nil {
		return nil
	}
	set := make(map[string]bool, len(old.Labels)+len(ind.Labels))
	for _, l := range old.Labels {
		set[strings.ToLower(l)] = true
	}
	for _, l := range ind.Labels {
		set[strings.ToLower(l)] = true
	}
	if len(set) > MaxMergedLabels {
		return &ioc.Rejection{Reason: ioc.ReasonInvalid,
			Detail: fmt.Sprintf("this IOC would carry more than %d labels across the submission's items", MaxMergedLabels)}
	}
	return nil
}

func (s *Submissions) maxItems() int {
	if s.MaxItems > 0 {
		return s.MaxItems
	}
	return 10000
}

// spec is the pseudo-feed a submission runs as.
func (s *Submissions) spec(d SubmitDefaults, principal string) (FeedSpec, error) {
	source := strings.TrimSpace(d.Source)
	if source == "" {
		source = s.Source
		if principal != "" {
			source += ":" + principal
		}
	}
	if source == "" {
		source = "manual"
	}
	// The source becomes a label and the identity's name: no control or
	// invisible format characters (U+202E would reverse what is shown).
	if len(source) > 100 || !utf8.ValidString(source) ||
		strings.IndexFunc(source, func(c rune) bool { return unicode.IsControl(c) || unicode.Is(unicode.Cf, c) }) >= 0 {
		return FeedSpec{}, &SubmitError{Code: "bad_source", Message: "source must be at most 100 printable characters"}
	}
	for _, f := range s.Reserved {
		if strings.EqualFold(source, f) {
			return FeedSpec{}, &SubmitError{Code: "bad_source",
				Message: fmt.Sprintf("source %q is the name of a feed; give the submission a source of its own (e.g. the case or team)", source)}
		}
	}
	tlp := s.TLP
	if d.TLP != "" {
		if _, err := stix.TLPMarkingID(d.TLP); err != nil {
			return FeedSpec{}, &SubmitError{Code: "bad_tlp", Message: fmt.Sprintf("tlp %q: use clear, green, amber, amber+strict or red", d.TLP)}
		}
		tlp = d.TLP
	}
	conf := s.Confidence
	if d.Confidence != nil {
		if *d.Confidence < 0 || *d.Confidence > 100 {
			return FeedSpec{}, &SubmitError{Code: "bad_confidence", Message: "confidence must be 0-100"}
		}
		conf = *d.Confidence
	}
	life := s.Lifetime
	if d.Lifetime != "" {
		l, err := stix.ParseLifetime(d.Lifetime)
		if err != nil || l <= 0 || l > stix.MaxValidity {
			return FeedSpec{}, &SubmitError{Code: "bad_lifetime", Message: fmt.Sprintf("lifetime %q: use a duration such as 30d or 36h, at most %dd", d.Lifetime, stix.MaxValidity/(24*time.Hour))}
		}
		life = l
	}
	labels, err := CleanLabels(d.Labels)
	if err != nil {
		se := &SubmitError{Code: "bad_labels", Message: "request-level labels: " + err.Error()}
		if len(d.Labels) > MaxLabels {
			se.Code = "too_many_labels"
		}
		var rj *ioc.Rejection
		if errors.As(err, &rj) {
			se.Message = "request-level labels: " + rj.Detail
		}
		return FeedSpec{}, se
	}
	lifetimes := map[ioc.Type]time.Duration{}
	if life > 0 {
		for _, t := range ioc.PossibleTypeValues() {
			lifetimes[t] = life
		}
	}
	return FeedSpec{
		Source: feed.Source{Name: source, DefaultConfidence: conf},
		Config: feed.Settings{Name: source, Enabled: true, Confidence: conf, TLP: tlp, Labels: labels, Lifetimes: lifetimes},
	}, nil
}

func applyDefaults(rec *ioc.Record, d SubmitDefaults, now time.Time) {
	if rec.FirstSeen.IsZero() {
		rec.FirstSeen = now
	}
	if d.Confidence != nil && !rec.ConfidenceSet {
		// Explicit, so that a request-level 0 stays 0.
		rec.Confidence, rec.ConfidenceSet = *d.Confidence, true
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
