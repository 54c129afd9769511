package ingest

import (
	"context"

	"github.com/feeds2sentinel/feeds2sentinel/internal/state"
)

// saveStatus records the run in the state store so GET /api/status and
// `handler status` show it from any instance.
func (p *Pipeline) saveStatus(ctx context.Context, spec FeedSpec, rep *Report) error {
	st := state.FeedStatus{
		Feed:      rep.Feed,
		Enabled:   spec.Config.Enabled,
		Schedule:  spec.Config.Schedule,
		LastStart: rep.Start,
		LastEnd:   rep.End,
		Outcome:   string(rep.Outcome),
		Counts:    rep.Counts.Map(),
		Rejected:  rep.Counts.Rejected,
	}
	if rep.Outcome == OutcomeFailed || rep.Outcome == OutcomeSkipped {
		st.LastError = rep.Reason
	}
	prev, err := p.Store.FeedStatuses(ctx)
	if err == nil {
		for _, s := range prev {
			if s.Feed != rep.Feed {
				continue
			}
			st.LastSuccess = s.LastSuccess
			if rep.Outcome == OutcomeSkipped || rep.Outcome == OutcomeNotModified {
				// Keep the counts of the last run that did work.
				st.Counts, st.Rejected = s.Counts, s.Rejected
			}
		}
	}
	if rep.Outcome == OutcomeSucceeded || rep.Outcome == OutcomeNotModified {
		st.LastSuccess = rep.End
	}
	return p.Store.PutFeedStatus(ctx, st)
}
