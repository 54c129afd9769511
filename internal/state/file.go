package state

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// FileOptions configures a FileStore. A nil *FileOptions or a zero field
// means the default.
type FileOptions struct {
	// FlushInterval is how often unflushed changes are written to the file
	// in the background. Zero means 30s; a negative value disables the
	// background flush (only Flush and Close persist).
	FlushInterval time.Duration
}

// FileStore is the local Store: every record lives in memory and is
// persisted to a single file of JSON lines by Flush, by Close and in the
// background at most every FlushInterval. Writing is crash-safe (temporary
// file, fsync, rename), so the file always holds a complete snapshot; a
// crash loses at most the changes since the last flush. That is safe for
// feeds2sentinel: state is re-derived from the feeds, and an indicator
// whose record was lost is merely seen as new and uploaded again.
//
// Flush is how a caller makes its work durable: call it after committing
// a run's state (callers holding a Store can test for the optional
// interface{ Flush() error }; TableStore has no Flush, its writes are
// durable when they return). Flush is cheap when nothing changed since the
// last flush: it then returns without touching the file.
//
// ETags are per-process counters. A FileStore is safe for concurrent use;
// two processes must not open the same file.
type FileStore struct {
	path string

	mu       sync.RWMutex
	inds     map[string]*Indicator // stored copies, ETag set
	feeds    map[string]FeedStatus
	cursors  map[string]Cursor
	uploader UploaderStats
	seq      uint64
	nonce    string
	gen      uint64 // modifications so far
	flushed  uint64 // gen last written to the file
	closing  bool   // Close has started: writes are refused
	closed   bool   // Close has finished: reads are refused too

	flushMu sync.Mutex // serializes writers of the file
	stop    chan struct{}
	done    chan struct{}
}

var (
	_ Store                      = (*FileStore)(nil)
	_ interface{ Flush() error } = (*FileStore)(nil)
)

// OpenFile opens the file store at path, loading it if the file exists (a
// missing file is an empty store; its directory must exist). The caller
// must Close the store to persist the last changes.
func OpenFile(path string, opts *FileOptions) (*FileStore, error) {
	var o FileOptions
	if opts != nil {
		o = *opts
	}
	if o.FlushInterval == 0 {
		o.FlushInterval = 30 * time.Second
	}
	s := &FileStore{
		path:    path,
		inds:    make(map[string]*Indicator),
		feeds:   make(map[string]FeedStatus),
		cursors: make(map[string]Cursor),
		nonce:   strconv.FormatInt(time.Now().UnixNano(), 36),
	}
	f, err := os.Open(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("state: open %s: %w", path, err)
	default:
		err = s.load(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("state: load %s: %w", path, err)
		}
	}
	if o.FlushInterval > 0 {
		s.stop, s.done = make(chan struct{}), make(chan struct{})
		go s.flusher(o.FlushInterval)
	}
	return s, nil
}

func (s *FileStore) flusher(every time.Duration) {
	defer close(s.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			// A failed background flush leaves the changes unflushed; the next
			// tick, Flush or Close retries and reports the error.
			_ = s.Flush()
		}
	}
}

// nextETag returns a fresh ETag; s.mu must be held for writing.
func (s *FileStore) nextETag() string {
	s.seq++
	return s.nonce + "-" + strconv.FormatUint(s.seq, 10)
}

// Get implements Store.Get.
func (s *FileStore) Get(ctx context.Context, keys []string) (map[string]*Indicator, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	out := make(map[string]*Indicator, len(keys))
	for _, k := range keys {
		if ind, ok := s.inds[k]; ok {
			out[k] = ind.Clone()
		}
	}
	return out, nil
}

// Put implements Store.Put.
func (s *FileStore) Put(ctx context.Context, recs []*Indicator) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := validate(recs); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return ErrClosed
	}
	var conflicts []string
	for _, r := range recs {
		cur, ok := s.inds[r.Key]
		if (r.ETag == "" && ok) || (r.ETag != "" && (!ok || cur.ETag != r.ETag)) {
			conflicts = append(conflicts, r.Key)
			continue
		}
		c := r.Clone()
		c.ETag = s.nextETag()
		s.inds[r.Key] = c
		r.ETag = c.ETag
		s.gen++
	}
	if conflicts != nil {
		return &ConflictError{Keys: conflicts}
	}
	return nil
}

// Scan implements Store.Scan. It visits the records in key order, as they
// were when Scan started.
func (s *FileStore) Scan(ctx context.Context, filter ScanFilter, fn func(*Indicator) error) error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	var match []*Indicator
	for _, ind := range s.inds {
		if filter.match(ind) {
			match = append(match, ind.Clone())
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(match, func(a, b *Indicator) int { return strings.Compare(a.Key, b.Key) })
	for _, ind := range match {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(ind); err != nil {
			return err
		}
	}
	return nil
}

// PutFeedStatus implements Store.PutFeedStatus.
func (s *FileStore) PutFeedStatus(ctx context.Context, st FeedStatus) error {
	return s.update(ctx, func() {
		st.Counts, st.Rejected = maps.Clone(st.Counts), maps.Clone(st.Rejected)
		s.feeds[st.Feed] = st
	})
}

// FeedStatuses implements Store.FeedStatuses.
func (s *FileStore) FeedStatuses(ctx context.Context) ([]FeedStatus, error) {
	var out []FeedStatus
	err := s.read(ctx, func() {
		for _, st := range s.feeds {
			st.Counts, st.Rejected = maps.Clone(st.Counts), maps.Clone(st.Rejected)
			out = append(out, st)
		}
	})
	return sortedStatuses(out), err
}

// AddUploaderStats implements Store.AddUploaderStats.
func (s *FileStore) AddUploaderStats(ctx context.Context, delta UploaderStats) error {
	return s.update(ctx, func() { s.uploader = s.uploader.add(delta) })
}

// UploaderStats implements Store.UploaderStats.
func (s *FileStore) UploaderStats(ctx context.Context) (UploaderStats, error) {
	var out UploaderStats
	err := s.read(ctx, func() { out = s.uploader })
	return out, err
}

// Cursor implements Store.Cursor.
func (s *FileStore) Cursor(ctx context.Context, feed string) (Cursor, error) {
	var out Cursor
	err := s.read(ctx, func() { out = s.cursors[feed] })
	return out, err
}

// PutCursor implements Store.PutCursor.
func (s *FileStore) PutCursor(ctx context.Context, feed string, c Cursor) error {
	return s.update(ctx, func() { s.cursors[feed] = c })
}

func (s *FileStore) read(ctx context.Context, fn func()) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	fn()
	return nil
}

func (s *FileStore) update(ctx context.Context, fn func()) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return ErrClosed
	}
	fn()
	s.gen++
	return nil
}

// Len returns the number of stored indicators.
func (s *FileStore) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.inds)
}

// Close stops the background flush, flushes and closes the store. Writes
// are refused with ErrClosed from the moment Close starts, so every write
// that succeeded is in the final flush; reads keep working until Close
// returns, and every method (Close included) returns ErrClosed afterwards.
func (s *FileStore) Close() error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return ErrClosed
	}
	s.closing = true
	s.mu.Unlock()
	if s.stop != nil {
		close(s.stop)
		<-s.done
	}
	err := s.Flush()
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return err
}
