package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/feeds2sentinel/feeds2sentinel/internal/ingest"
	"github.com/feeds2sentinel/feeds2sentinel/internal/runrecord"
	"github.com/feeds2sentinel/feeds2sentinel/internal/sentinel"
)

// runLog takes the run records of an invocation; Flush sends them at its
// end (its error is already logged and counted by the recorder).
type runLog interface {
	runrecord.Recorder
	Flush(ctx context.Context) error
}

// openRunRecords sets d.runs: a batching Logs Ingestion writer when
// RUN_RECORDS_ENDPOINT is set, else one that drops every row.
func (d *deps) openRunRecords() error {
	rc := d.cfg.RunRecords
	if rc.Endpoint == "" {
		d.runs = runrecord.Nop{}
		return nil
	}
	opts := runrecord.ClientOptions{Endpoint: rc.Endpoint, RuleID: rc.RuleID, Stream: rc.Stream}
	if !loopbackHTTP(rc.Endpoint) {
		cred, err := d.cred()
		if err != nil {
			return fmt.Errorf("run records credential: %w", err)
		}
		opts.Credential = cred
	}
	c, err := runrecord.NewClient(opts)
	if err != nil {
		return err
	}
	b, err := runrecord.NewBatcher(runrecord.BatcherOptions{Sender: c, Logger: d.logger})
	if err != nil {
		return err
	}
	d.runs = b
	d.closers = append(d.closers, func() error {
		_ = b.Flush(context.Background()) // logged and counted; never fails Close
		return nil
	})
	return nil
}

// flushRuns sends the invocation's run records.
func (d *deps) flushRuns(ctx context.Context) {
	_ = d.runs.Flush(ctx) // logged and counted by the recorder
}

func counts(m map[string]int) map[string]int64 {
	out := make(map[string]int64, len(m))
	for k, v := range m {
		out[k] = int64(v)
	}
	return out
}

// feedRunRow is the run record of one feed run.
func feedRunRow(function string, rep *ingest.Report) runrecord.Row {
	c := rep.Counts
	return runrecord.Row{
		TimeGenerated: rep.End, Function: function, Feed: rep.Feed, Outcome: string(rep.Outcome),
		Fetched: int64(c.Fetched), Rejected: int64(c.RejectedTotal()), RejectedByReason: counts(c.Rejected),
		New: int64(c.New), Changed: int64(c.Changed), Refreshed: int64(c.Refreshed), Revoked: int64(c.Revoked),
		Enqueued: int64(c.Enqueued), DurationMs: rep.End.Sub(rep.Start).Milliseconds(), Error: rep.Reason,
	}
}

// uploadRow is the run record of one upload batch (one queue message):
// Uploaded and SentinelRejected count objects, Parked and DeadLettered
// the batch. lastDelivery says a failure dead-letters it.
func uploadRow(function, source string, res *ingest.UploadResult, err error, lastDelivery bool, start, end time.Time) runrecord.Row {
	r := runrecord.Row{TimeGenerated: end, Function: function, Feed: source, DurationMs: end.Sub(start).Milliseconds()}
	var thr *sentinel.ThrottledError
	switch {
	case err != nil:
		r.Outcome, r.Error = "failed", err.Error()
		// As ingest.Uploads counts it: a throttled batch is retried, not lost.
		if lastDelivery && !errors.As(err, &thr) {
			r.Outcome, r.DeadLettered = "dead-lettered", 1
		}
	case res.Parked:
		r.Outcome, r.Parked = "parked", 1
	case !res.RescheduledAt.IsZero():
		r.Outcome = "rescheduled"
	default:
		r.Outcome = "uploaded"
	}
	if res != nil {
		r.Uploaded, r.SentinelRejected = int64(res.Accepted), int64(len(res.Rejected))
	}
	return r
}

// drainRow is the run record of a local drain of the spool (handler sync).
func drainRow(function string, dr ingest.DrainResult, err error, start, end time.Time) runrecord.Row {
	r := runrecord.Row{TimeGenerated: end, Function: function, Outcome: "uploaded",
		Uploaded: int64(dr.Uploaded), SentinelRejected: int64(dr.Rejected), Parked: int64(dr.Parked),
		DeadLettered: int64(dr.DeadLettered), DurationMs: end.Sub(start).Milliseconds()}
	if err != nil {
		r.Outcome, r.Error = "failed", err.Error()
	}
	return r
}

// submitRow is the run record of one submission. source is the default
// source, for a submission refused before it named one.
func submitRow(function, source string, resp *ingest.SubmitResponse, err error, start, end time.Time) runrecord.Row {
	r := runrecord.Row{TimeGenerated: end, Function: function, Feed: source, Outcome: "succeeded", DurationMs: end.Sub(start).Milliseconds()}
	if resp != nil {
		r.Feed = resp.Source
		r.Fetched, r.Rejected, r.Enqueued = int64(len(resp.Results)), int64(resp.Rejected), int64(resp.Enqueued)
		for _, it := range resp.Results {
			if it.Status == "rejected" {
				if r.RejectedByReason == nil {
					r.RejectedByReason = map[string]int64{}
				}
				r.RejectedByReason[it.Reason]++
			}
		}
		if resp.DryRun {
			r.Outcome = "dry-run"
		}
	}
	var se *ingest.SubmitError
	switch {
	case errors.As(err, &se):
		r.Outcome, r.Error = "refused", se.Error()
	case err != nil:
		r.Outcome, r.Error = "failed", err.Error()
	}
	return r
}
