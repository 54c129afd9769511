// Package state is feeds2sentinel's memory: one record per indicator (what
// was last uploaded to Sentinel, by which sources, until when), the per-feed
// run status, the uploader counters and the per-feed fetch cursors.
//
// Two implementations satisfy [Store]: [TableStore] on Azure Table Storage
// (used in Azure, shared by every instance of the Functions app) and
// [BoltStore], an embedded transactional database in one local file (the
// default of "handler sync"; [MigrateFile] imports the JSON-lines file of
// earlier versions). Both give the same optimistic-concurrency
// contract: every stored [Indicator] carries an opaque ETag; a write with a
// stale ETag is refused with a [*ConflictError] and the caller re-reads,
// re-merges and retries, so concurrent writers never lose an update.
//
// The lifecycle logic (what changed, what to refresh or revoke) belongs to
// the caller (package ingest); this package only stores.
package state

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Status is the lifecycle state of an indicator.
type Status string

// The indicator statuses.
const (
	StatusActive  Status = "active"  // uploaded and current
	StatusRevoked Status = "revoked" // uploaded again with revoked=true
	StatusExpired Status = "expired" // past its valid_until, no longer refreshed
)

// PossibleStatusValues returns every Status, in a stable order.
func PossibleStatusValues() []Status {
	return []Status{StatusActive, StatusRevoked, StatusExpired}
}

// MaxObjectSize is the largest Indicator.Object a store accepts, in bytes.
const MaxObjectSize = 32 << 10

// maxStringSize bounds every other string of an Indicator (Key, Value, the
// encoded Sources and Labels): Table Storage string properties hold at most
// 64 KiB of UTF-16, i.e. 32 Ki UTF-16 code units.
const maxStringSize = 32 << 10

// SourceSeen is what one source said about an indicator.
type SourceSeen struct {
	Source    string    `json:"source"`
	RecordID  string    `json:"record_id,omitempty"`
	FirstSeen time.Time `json:"first_seen,omitzero"`
	LastSeen  time.Time `json:"last_seen,omitzero"`
	// Digest is the fingerprint of what the source last reported (its own
	// indicator, before merging with other sources): an unchanged report
	// of an unchanged indicator is recognised without decoding Object.
	Digest string `json:"digest,omitempty"`
}

// Indicator is the stored memory of one IOC. Key is its identity (the
// observable key "type:value", see ioc.Observable.Key); the store derives
// its physical location from Key. ETag is the concurrency token: "" for a
// record that is not stored yet, otherwise the value the store returned
// from the last Get or Put. Callers must not build ETags themselves.
type Indicator struct {
	Key          string          `json:"key"`
	ID           string          `json:"id,omitempty"` // current STIX id
	Revision     int             `json:"revision,omitempty"`
	Type         string          `json:"type,omitempty"`
	Value        string          `json:"value,omitempty"`
	Sources      []SourceSeen    `json:"sources,omitempty"`
	Labels       []string        `json:"labels,omitempty"`
	Confidence   int             `json:"confidence,omitempty"`
	Fingerprint  string          `json:"fingerprint,omitempty"` // of what was last uploaded
	Created      time.Time       `json:"created,omitzero"`      // STIX created, stable
	LastUploaded time.Time       `json:"last_uploaded,omitzero"`
	ValidUntil   time.Time       `json:"valid_until,omitzero"`
	Status       Status          `json:"status,omitempty"`
	Object       json.RawMessage `json:"object,omitempty"` // last uploaded STIX object, ≤ MaxObjectSize
	ETag         string          `json:"-"`
}

// HasSource reports whether source is among the indicator's sources.
func (ind *Indicator) HasSource(source string) bool {
	return slices.ContainsFunc(ind.Sources, func(s SourceSeen) bool { return s.Source == source })
}

// Clone returns a deep copy of ind.
func (ind *Indicator) Clone() *Indicator {
	c := *ind
	c.Sources = slices.Clone(ind.Sources)
	c.Labels = slices.Clone(ind.Labels)
	c.Object = slices.Clone(ind.Object)
	return &c
}

// ScanFilter selects the indicators a Scan visits. A zero field matches
// every record.
type ScanFilter struct {
	Status Status // only records with this status
	Source string // only records whose Sources include this source
}

func (f ScanFilter) match(ind *Indicator) bool {
	if f.Status != "" && ind.Status != f.Status {
		return false
	}
	return f.Source == "" || ind.HasSource(f.Source)
}

// FeedStatus is the outcome of a feed's last run, served by GET /api/status.
type FeedStatus struct {
	Feed        string         `json:"feed"`
	Enabled     bool           `json:"enabled"`
	Schedule    string         `json:"schedule,omitempty"`
	LastStart   time.Time      `json:"last_start,omitzero"`
	LastEnd     time.Time      `json:"last_end,omitzero"`
	Outcome     string         `json:"outcome,omitempty"`  // succeeded, failed, skipped, not-modified
	Counts      map[string]int `json:"counts,omitempty"`   // fetched, rejected, new, changed, unchanged, refreshed, revoked, enqueued, ...
	Rejected    map[string]int `json:"rejected,omitempty"` // by ioc.Reason
	LastError   string         `json:"last_error,omitempty"`
	LastSuccess time.Time      `json:"last_success,omitzero"`
}

// UploaderStats are the uploader's cumulative counters, shared by every
// instance. Values passed to AddUploaderStats are deltas.
type UploaderStats struct {
	Batches      int64     `json:"batches"`
	Objects      int64     `json:"objects"`
	Rejected     int64     `json:"rejected"`
	Throttled    int64     `json:"throttled"`
	Retries      int64     `json:"retries"`
	DeadLettered int64     `json:"dead_lettered"`
	Parked       int64     `json:"parked"`
	LastSuccess  time.Time `json:"last_success,omitzero"`
	LastError    string    `json:"last_error,omitempty"`
}

// add returns s plus the delta d: counters are summed, LastSuccess is the
// later of the two and a non-empty d.LastError replaces s.LastError.
func (s UploaderStats) add(d UploaderStats) UploaderStats {
	s.Batches += d.Batches
	s.Objects += d.Objects
	s.Rejected += d.Rejected
	s.Throttled += d.Throttled
	s.Retries += d.Retries
	s.DeadLettered += d.DeadLettered
	s.Parked += d.Parked
	if d.LastSuccess.After(s.LastSuccess) {
		s.LastSuccess = d.LastSuccess
	}
	if d.LastError != "" {
		s.LastError = d.LastError
	}
	return s
}

// Cursor is a feed's fetch memory: the validators for a conditional GET and
// when the feed was last fetched.
type Cursor struct {
	ETag         string    `json:"etag,omitempty"`
	LastModified string    `json:"last_modified,omitempty"`
	LastFetch    time.Time `json:"last_fetch,omitzero"`
	// RunStart is the start time of the feed's last run that was begun;
	// a run that was interrupted (RunStart after LastFetch) is resumed
	// with the same clock, so what it enqueues again is byte-identical
	// and the queue's duplicate detection drops it.
	RunStart time.Time `json:"run_start,omitzero"`
}

// Indicators is the indicator memory. Implementations are safe for
// concurrent use by multiple goroutines and, for TableStore, by multiple
// processes.
type Indicators interface {
	// Get returns the stored indicators for keys, indexed by key. Keys with
	// no record are absent from the map; duplicate keys are allowed. The
	// records are the caller's to modify and Put back.
	Get(ctx context.Context, keys []string) (map[string]*Indicator, error)

	// Put writes recs. A record with ETag "" is inserted and conflicts if
	// the key already exists; any other record replaces the stored one only
	// if its ETag still matches. On success each written record's ETag is
	// updated in place. Conflicting records are skipped, the others are
	// still written, and the error is a *ConflictError (errors.Is
	// ErrConflict) naming the conflicting keys. A record that fails
	// validation makes Put fail with ErrInvalid before anything is written,
	// as does a key given twice. On any other error, records whose ETag
	// changed were written and the rest are in an unknown state: re-read.
	Put(ctx context.Context, recs []*Indicator) error

	// Scan calls fn for every indicator matching filter, one at a time, in
	// no particular order. fn may call the store. Scan stops at the first
	// error fn returns and returns it.
	Scan(ctx context.Context, filter ScanFilter, fn func(*Indicator) error) error
}

// Statuses keeps each feed's last run status.
type Statuses interface {
	// PutFeedStatus replaces the status of st.Feed.
	PutFeedStatus(ctx context.Context, st FeedStatus) error
	// FeedStatuses returns every feed's status, sorted by feed name.
	FeedStatuses(ctx context.Context) ([]FeedStatus, error)
}

// Counters keeps the uploader counters shared by every instance.
type Counters interface {
	// AddUploaderStats atomically adds delta to the uploader counters
	// (see UploaderStats); concurrent callers never lose an addition.
	AddUploaderStats(ctx context.Context, delta UploaderStats) error
	// UploaderStats returns the uploader counters (zero when none).
	UploaderStats(ctx context.Context) (UploaderStats, error)
}

// Cursors keeps each feed's fetch cursor.
type Cursors interface {
	// Cursor returns feed's cursor, the zero Cursor when none is stored.
	Cursor(ctx context.Context, feed string) (Cursor, error)
	// PutCursor replaces feed's cursor.
	PutCursor(ctx context.Context, feed string, c Cursor) error
}

// Store is all of the state, as BoltStore and TableStore keep it; users
// take the small interface they need.
type Store interface {
	Indicators
	Statuses
	Counters
	Cursors
	// Close releases the store, persisting what it must.
	Close() error
}

// ErrConflict is matched (errors.Is) by a *ConflictError.
var ErrConflict = errors.New("state: concurrent modification")

// ErrInvalid is returned (wrapped) by Put for a record it cannot store: an
// empty or repeated key, an Object larger than MaxObjectSize or not JSON,
// or a string too long for a Table property.
var ErrInvalid = errors.New("state: invalid record")

// ErrClosed is returned by a BoltStore's methods after Close.
var ErrClosed = errors.New("state: store closed")

// ConflictError reports the keys a Put did not write because their ETag no
// longer matched (or the record was inserted concurrently).
type ConflictError struct {
	Keys []string
}

func (e *ConflictError) Error() string {
	if len(e.Keys) == 1 {
		return "state: concurrent modification of 1 indicator"
	}
	return fmt.Sprintf("state: concurrent modification of %d indicators", len(e.Keys))
}

// Is reports whether target is ErrConflict.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// Validate reports whether a store accepts ind (see ErrInvalid), so that a
// caller can set aside the one record a Put would refuse.
func (ind *Indicator) Validate() error {
	return validate([]*Indicator{ind})
}

// validate checks every record of a Put, including duplicate keys.
func validate(recs []*Indicator) error {
	seen := make(map[string]struct{}, len(recs))
	for i, r := range recs {
		if r == nil {
			return fmt.Errorf("%w: record %d is nil", ErrInvalid, i)
		}
		if r.Key == "" {
			return fmt.Errorf("%w: record %d has an empty key", ErrInvalid, i)
		}
		if _, dup := seen[r.Key]; dup {
			return fmt.Errorf("%w: record %d repeats a key", ErrInvalid, i)
		}
		seen[r.Key] = struct{}{}
		if len(r.Object) > MaxObjectSize {
			return fmt.Errorf("%w: record %d: object is %d bytes (max %d)", ErrInvalid, i, len(r.Object), MaxObjectSize)
		}
		if len(r.Object) > 0 && !json.Valid(r.Object) {
			return fmt.Errorf("%w: record %d: object is not JSON", ErrInvalid, i)
		}
		for _, s := range []string{r.Key, r.ID, r.Type, r.Value, r.Fingerprint, string(r.Status)} {
			if len(s) > maxStringSize || !utf8.ValidString(s) {
				return fmt.Errorf("%w: record %d: a field is too long or not UTF-8", ErrInvalid, i)
			}
		}
	}
	return nil
}

// partitionCount is the number of indicator partitions.
const partitionCount = 64

// location returns the partition and row key of an indicator key: the row
// key is the hex SHA-256 of the key and the partition is "i" followed by
// two hex digits, the top 6 bits of the hash's first byte (64 partitions).
func location(key string) (pk, rk string) {
	h := sha256.Sum256([]byte(key))
	return partitionName(int(h[0] >> 2)), hex.EncodeToString(h[:])
}

func partitionName(i int) string { return fmt.Sprintf("i%02x", i) }

// nameKey encodes a feed name as a row key: "n" and its hex form, so any
// name is a legal row key.
func nameKey(name string) string { return "n" + hex.EncodeToString([]byte(name)) }

// sortedStatuses sorts feed statuses by name.
func sortedStatuses(sts []FeedStatus) []FeedStatus {
	slices.SortFunc(sts, func(a, b FeedStatus) int { return strings.Compare(a.Feed, b.Feed) })
	return sts
}
