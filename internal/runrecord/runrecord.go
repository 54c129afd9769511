// Package runrecord writes one row per pipeline run — a feed run, an
// upload batch, a submission — to a custom table of the Sentinel workspace
// through the Azure Monitor Logs Ingestion API, so the SOC sees the
// pipeline where it sees the alerts.
//
// A [Recorder] takes rows; [Nop] drops them (run records off). A [Batcher]
// buffers rows and hands them to a [Sender] — normally a [Client] — when
// the buffer is full and when the invocation ends ([Batcher.Flush]). Writing
// run records never fails the pipeline: a failed write is counted and
// logged, and the rows are dropped.
package runrecord

import (
	"context"
	"encoding/json"
	"time"
	"unicode/utf8"
)

// The table and the stream of the data collection rule
// (infra/modules/runrecords.bicep declares both; a test keeps Row equal to
// the declaration). Workbooks and health rules query Table.
const (
	Table  = "F2SRuns_CL"
	Stream = "Custom-F2SRuns_CL"
)

// MaxErrorBytes bounds Row.Error: the Logs Ingestion API takes at most
// 64 KB per field, and a run's error is a sentence, not a payload.
const MaxErrorBytes = 8 << 10

// Row is one run record. Its JSON form is one element of the array the
// Logs Ingestion API takes; the field names are the table's columns.
type Row struct {
	TimeGenerated time.Time `json:"TimeGenerated"`
	// Function is the Azure Function (or CLI command) that ran.
	Function string `json:"Function"`
	// Feed is the feed, or the source of an upload batch or submission.
	Feed string `json:"Feed"`
	// Outcome is how the run ended, e.g. succeeded, failed, skipped,
	// uploaded, parked, rescheduled, rejected.
	Outcome string `json:"Outcome"`
	Fetched int64  `json:"Fetched"`
	// Rejected is the total of RejectedByReason.
	Rejected         int64            `json:"Rejected"`
	RejectedByReason map[string]int64 `json:"RejectedByReason"`
	New              int64            `json:"New"`
	Changed          int64            `json:"Changed"`
	Refreshed        int64            `json:"Refreshed"`
	Revoked          int64            `json:"Revoked"`
	Enqueued         int64            `json:"Enqueued"`
	// Uploaded counts the objects Sentinel accepted.
	Uploaded int64 `json:"Uploaded"`
	// SentinelRejected counts the records Sentinel refused one by one.
	SentinelRejected int64 `json:"SentinelRejected"`
	// Parked and DeadLettered count batches (queue messages): 0 or 1 for
	// one upload.
	Parked       int64 `json:"Parked"`
	DeadLettered int64 `json:"DeadLettered"`
	DurationMs   int64 `json:"DurationMs"`
	// Error says why the run failed or was skipped ("" if it did not);
	// it is cut to MaxErrorBytes.
	Error string `json:"Error"`
}

// MarshalJSON encodes r with RejectedByReason always an object (the
// dynamic column gets {} rather than null), the time in UTC and Error cut
// to MaxErrorBytes on a character boundary.
func (r Row) MarshalJSON() ([]byte, error) {
	type plain Row
	p := plain(r)
	if p.RejectedByReason == nil {
		p.RejectedByReason = map[string]int64{}
	}
	p.TimeGenerated = p.TimeGenerated.UTC()
	p.Error = truncate(p.Error, MaxErrorBytes)
	return json.Marshal(p)
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	// Drop the bytes of a sequence the cut split (at most UTFMax-1).
	for i := 1; i < utf8.UTFMax && len(s) > 0; i++ {
		if r, size := utf8.DecodeLastRuneInString(s); r != utf8.RuneError || size != 1 {
			break
		}
		s = s[:len(s)-1]
	}
	return s
}

// Recorder takes run records. Record never fails and never blocks for
// long: a Recorder that writes somewhere counts and logs its own failures.
type Recorder interface {
	Record(ctx context.Context, r Row)
}

// Nop is the Recorder of a deployment without run records: it drops every
// row. Its Flush does nothing.
type Nop struct{}

// Record implements Recorder.
func (Nop) Record(context.Context, Row) {}

// Flush does nothing.
func (Nop) Flush(context.Context) error { return nil }
