// Package ingest holds the use cases of feeds2sentinel, shared by the
// Functions path and the command line: run a feed (fetch → parse →
// normalize → policy → STIX → diff against state → enqueue → remember),
// upload a queued batch to Sentinel, and take an analyst's submission.
//
// It declares the small interfaces it consumes (Fetcher, Uploader) and uses
// those of queue (Publisher) and state (Store); handler/ builds the concrete
// parts and passes them in.
package ingest

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/feeds2sentinel/feeds2sentinel/internal/fetch"
	"github.com/feeds2sentinel/feeds2sentinel/internal/ioc"
	"github.com/feeds2sentinel/feeds2sentinel/internal/queue"
	"github.com/feeds2sentinel/feeds2sentinel/internal/sentinel"
	"github.com/feeds2sentinel/feeds2sentinel/internal/state"
)

// Fetcher downloads a feed payload. *fetch.Client implements it.
type Fetcher interface {
	Fetch(ctx context.Context, req *fetch.Request) (*fetch.Response, error)
}

// Uploader sends one batch of at most 100 STIX objects to Sentinel (or to a
// local sink). *sentinel.Client implements it.
type Uploader interface {
	Upload(ctx context.Context, objects []json.RawMessage) (*sentinel.Result, error)
}

// StateStore is the state a feed run or a submission reads and writes: the
// indicator memory, the fetch cursors and the run statuses.
// *state.BoltStore and *state.TableStore implement it.
type StateStore interface {
	state.Indicators
	state.Cursors
	state.Statuses
}

// Pipeline is everything a feed run needs. The zero value is not usable:
// Fetcher, Publisher and Store are required.
type Pipeline struct {
	Fetcher   Fetcher
	Publisher queue.Publisher
	Store     StateStore
	// Policy is the reserved-range and allowlist policy; nil = built-in.
	Policy *ioc.Policy
	// AuthKey is the abuse.ch Auth-Key ("" = none).
	AuthKey string
	// RefreshInterval is how long after its last upload an indicator still
	// reported is uploaded again (default DefaultRefreshInterval).
	RefreshInterval time.Duration
	// RevokeGrace is how long a complete-list source may stop listing an
	// indicator before it is revoked (default DefaultRevokeGrace).
	RevokeGrace time.Duration
	// MassRevocationHold is the share of a complete list's active
	// indicators that one sweep may revoke; a sweep that would revoke more
	// (and more than 20) is held as a likely broken list. 0 means one half;
	// 1 or more disables the hold.
	MassRevocationHold float64
	// ChunkSize is how many indicators a run commits at a time
	// (default DefaultChunkSize).
	ChunkSize int
	// TempDir is where a feed payload is kept during its run (default
	// os.TempDir()).
	TempDir string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives progress (default slog.Default()).
	Logger *slog.Logger
}

func (p *Pipeline) now() time.Time {
	if p.Now != nil {
		return p.Now().UTC()
	}
	return time.Now().UTC()
}

func (p *Pipeline) logger() *slog.Logger {
	if p.Logger != nil {
		return p.Logger
	}
	return slog.Default()
}

// DefaultRefreshInterval is how long after its last upload an indicator a
// source still reports is uploaded again (INDICATOR_REFRESH_INTERVAL).
const DefaultRefreshInterval = 7 * 24 * time.Hour

// DefaultRevokeGrace is how long a complete list may stop listing an
// indicator before it is revoked (REVOCATION_GRACE_PERIOD).
const DefaultRevokeGrace = 48 * time.Hour

func (p *Pipeline) refreshInterval() time.Duration {
	if p.RefreshInterval > 0 {
		return p.RefreshInterval
	}
	return DefaultRefreshInterval
}

func (p *Pipeline) revokeGrace() time.Duration {
	if p.RevokeGrace > 0 {
		return p.RevokeGrace
	}
	return DefaultRevokeGrace
}

// Counts are what one run did, by stage. Every record a feed delivered is
// in exactly one of: Rejected, or an indicator that is New, Changed,
// Unchanged, Refreshed or Duplicate (merged into another record of the same
// run).
type Counts struct {
	Fetched   int            `json:"fetched"`
	Rejected  map[string]int `json:"rejected,omitempty"`
	Duplicate int            `json:"duplicate"`
	New       int            `json:"new"`
	Changed   int            `json:"changed"`
	Unchanged int            `json:"unchanged_skipped"`
	Refreshed int            `json:"refreshed"`
	Revoked   int            `json:"revoked"`
	// RevocationsHeld counts revocations a complete-list sweep held back
	// because the list lost more than half of its indicators at once.
	RevocationsHeld int `json:"revocations_held,omitempty"`
	Enqueued        int `json:"enqueued"`
	NotEnqueued     int `json:"not_enqueued"`
	// StateRejected counts indicators whose state record the store
	// refused (logged one by one): the next run sees them as new.
	StateRejected int `json:"state_rejected,omitempty"`
}

// RejectedTotal is the sum of Rejected.
func (c *Counts) RejectedTotal() int {
	n := 0
	for _, v := range c.Rejected {
		n += v
	}
	return n
}

func (c *Counts) reject(r ioc.Reason) {
	if c.Rejected == nil {
		c.Rejected = map[string]int{}
	}
	c.Rejected[string(r)]++
}

// Map returns the counts as a map, the form the status record keeps.
func (c *Counts) Map() map[string]int {
	return map[string]int{
		"fetched": c.Fetched, "rejected": c.RejectedTotal(), "duplicate": c.Duplicate,
		"new": c.New, "changed": c.Changed, "unchanged_skipped": c.Unchanged,
		"refreshed": c.Refreshed, "revoked": c.Revoked, "revocations_held": c.RevocationsHeld, "enqueued": c.Enqueued,
		"not_enqueued": c.NotEnqueued, "state_rejected": c.StateRejected,
	}
}

// Outcome is how a feed run ended.
type Outcome string

// The outcomes.
const (
	OutcomeSucceeded   Outcome = "succeeded"
	OutcomeFailed      Outcome = "failed"
	OutcomeSkipped     Outcome = "skipped"
	OutcomeNotModified Outcome = "not-modified"
)

// Report is the result of one feed run.
type Report struct {
	Feed    string        `json:"feed"`
	Outcome Outcome       `json:"outcome"`
	Reason  string        `json:"reason,omitempty"` // why skipped or failed
	Counts  Counts        `json:"counts"`
	Start   time.Time     `json:"start"`
	End     time.Time     `json:"end"`
	Elapsed time.Duration `json:"-"`
}
