package submission_test

import (
	"context"

	"github.com/feeds2sentinel/feeds2sentinel/internal/ingest"
	"github.com/feeds2sentinel/feeds2sentinel/internal/submission"
)

// request is a submission as the HTTP edge receives it.
type request struct {
	ContentType string
	Body        []byte
	DryRun      bool
}

// submit decodes req and runs it through s, as the handler does.
func submit(ctx context.Context, s *ingest.Submissions, req request) (*ingest.SubmitResponse, error) {
	items, d, err := submission.Decode(ctx, req.ContentType, req.Body)
	if err != nil {
		return nil, err
	}
	return s.Submit(ctx, ingest.Submission{Items: items, Defaults: d, DryRun: req.DryRun})
}
