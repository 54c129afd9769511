package state

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// BoltOptions configures a BoltStore. A nil *BoltOptions or a zero field
// means the default.
type BoltOptions struct {
	// LockTimeout is how long OpenBolt waits for another process to
	// release the file before it refuses. Zero means 2s; a negative value
	// refuses at once.
	LockTimeout time.Duration
	// NoSync skips the fsync of every commit: faster, and only for tests
	// and benchmarks (a power loss may then lose or corrupt the file).
	NoSync bool
	// ReadOnly opens the file for reading only (status commands); writes
	// then fail. Several read-only openers may share the file.
	ReadOnly bool
}

// BoltStore is the local Store: an embedded, transactional database in one
// file (go.etcd.io/bbolt). Opening it costs the same whatever its size (the
// file is memory-mapped, nothing is loaded); every Put is one ACID
// transaction, durable when it returns, so a crash keeps every Put that
// returned and none that did not. A process holds an exclusive lock on the
// file while it has it open: a second process waits up to
// BoltOptions.LockTimeout and then refuses with an error that says so.
//
// ETags are the database's own sequence numbers, stable across reopening.
// A BoltStore is safe for concurrent use.
type BoltStore struct {
	path string
	db   *bolt.DB

	mu     sync.RWMutex // held for reading by every operation, for writing by Close
	closed bool
}

var _ Store = (*BoltStore)(nil)

// The buckets of a BoltStore. An indicator value is its 8-byte big-endian
// version (the ETag), one status byte (so scans filter without decoding)
// and the Indicator (see encodeBolt).
var (
	bucketIndicators = []byte("indicators")
	bucketFeeds      = []byte("feeds")
	bucketCursors    = []byte("cursors")
	bucketMeta       = []byte("meta")
	metaUploader     = []byte("uploader")
	metaSchema       = []byte("schema")
)

// initialMmapSize is the address space mapped for the file at open: 4 GiB
// (a few million indicators) on 64-bit systems, 1 GiB elsewhere.
var initialMmapSize = int(min(uint64(1)<<32, uint64(math.MaxInt)>>1))

// boltSchema is the layout version written to the meta bucket.
const boltSchema = "1"

// ErrLocked is returned (wrapped) by OpenBolt when another process holds
// the file.
var ErrLocked = errors.New("state: store in use by another process")

// OpenBolt opens the store at path, creating the file if needed (its
// directory must exist).
func OpenBolt(path string, opts *BoltOptions) (*BoltStore, error) {
	var o BoltOptions
	if opts != nil {
		o = *opts
	}
	timeout := o.LockTimeout
	switch {
	case timeout == 0:
		timeout = 2 * time.Second
	case timeout < 0:
		timeout = time.Nanosecond
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout: timeout, NoSync: o.NoSync, ReadOnly: o.ReadOnly,
		// Address space, not memory: without it every doubling of the
		// file remaps it and copies every node in use (a third of a
		// first run's CPU at 100k indicators).
		InitialMmapSize: initialMmapSize,
		FreelistType:    bolt.FreelistMapType,
	})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s is open in another feeds2sentinel process (waited %s); stop that process or point STATE_FILE (or F2S_DATA_DIR) elsewhere", ErrLocked, path, timeout)
	}
	if err != nil {
		return nil, fmt.Errorf("state: open %s: %w (if the file is damaged, move it away: the next run re-learns state from the feeds)", path, err)
	}
	s := &BoltStore{path: path, db: db}
	ready := false
	err = db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return nil
		}
		if v := meta.Get(metaSchema); string(v) != boltSchema {
			return fmt.Errorf("layout version %q, this build reads %q", v, boltSchema)
		}
		ready = true
		return nil
	})
	if err == nil && !ready && !o.ReadOnly {
		err = db.Update(initBolt)
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("state: open %s: %w", path, err)
	}
	return s, nil
}

// initBolt creates the buckets of a new store.
func initBolt(tx *bolt.Tx) error {
	for _, name := range [][]byte{bucketIndicators, bucketFeeds, bucketCursors, bucketMeta} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	return tx.Bucket(bucketMeta).Put(metaSchema, []byte(boltSchema))
}

// view and update run fn in a read or write transaction of the open store.
func (s *BoltStore) view(ctx context.Context, fn func(*bolt.Tx) error) error {
	return s.tx(ctx, false, fn)
}

func (s *BoltStore) update(ctx context.Context, fn func(*bolt.Tx) error) error {
	return s.tx(ctx, true, fn)
}

func (s *BoltStore) tx(ctx context.Context, write bool, fn func(*bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	var err error
	if write {
		err = s.db.Update(fn)
	} else {
		err = s.db.View(fn)
	}
	if errors.Is(err, bolterrors.ErrDatabaseReadOnly) {
		return fmt.Errorf("state: %s is open read-only: %w", s.path, err)
	}
	return err
}

// encodeBolt is the stored form of ind at version ver: the version, the
// status byte, the binary form of every field but Object (boltcodec.go),
// then Object's bytes as they are (not re-encoded).
func encodeBolt(ind *Indicator, ver uint64) []byte {
	b := make([]byte, boltHeader, boltHeader+256+len(ind.Object))
	binary.BigEndian.PutUint64(b[:8], ver)
	b[8] = statusByte(ind.Status)
	b = appendMeta(b, ind)
	return append(b, ind.Object...)
}

// boltHeader is the size of a stored indicator's header: version and
// status.
const boltHeader = 9

// decodeBolt reads a stored indicator value (copying what it keeps: bolt
// memory is only valid inside its transaction).
func decodeBolt(key, v []byte) (*Indicator, error) {
	if len(v) < boltHeader {
		return nil, fmt.Errorf("state: record %q is damaged (%d bytes)", key, len(v))
	}
	var ind Indicator
	obj, err := decodeMeta(v[boltHeader:], &ind)
	if err != nil {
		return nil, fmt.Errorf("state: record %q is damaged: %w", key, err)
	}
	if len(obj) > 0 {
		ind.Object = bytes.Clone(obj)
	}
	ind.ETag = etagOf(v)
	return &ind, nil
}

func etagOf(v []byte) string {
	return "b" + strconv.FormatUint(binary.BigEndian.Uint64(v[:8]), 10)
}

func statusByte(st Status) byte {
	switch st {
	case StatusActive:
		return 'a'
	case StatusRevoked:
		return 'r'
	case StatusExpired:
		return 'e'
	}
	return '?'
}

// Get implements Store.Get.
func (s *BoltStore) Get(ctx context.Context, keys []string) (map[string]*Indicator, error) {
	out := make(map[string]*Indicator, len(keys))
	err := s.view(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketIndicators)
		if b == nil {
			return nil // a read-only store never written
		}
		for _, k := range keys {
			if _, ok := out[k]; ok {
				continue
			}
			v := b.Get([]byte(k))
			if v == nil {
				continue
			}
			ind, err := decodeBolt([]byte(k), v)
			if err != nil {
				return err
			}
			out[k] = ind
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Put implements Store.Put: the records are written in one transaction.
func (s *BoltStore) Put(ctx context.Context, recs []*Indicator) error {
	if err := validate(recs); err != nil {
		return err
	}
	var conflicts []string
	etags := make([]string, len(recs))
	err := s.update(ctx, func(tx *bolt.Tx) error {
		conflicts = conflicts[:0]
		b := tx.Bucket(bucketIndicators)
		for i, r := range recs {
			cur := b.Get([]byte(r.Key))
			if (r.ETag == "" && cur != nil) || (r.ETag != "" && (cur == nil || etagOf(cur) != r.ETag)) {
				conflicts = append(conflicts, r.Key)
				etags[i] = ""
				continue
			}
			ver, err := b.NextSequence()
			if err != nil {
				return err
			}
			v := encodeBolt(r, ver)
			if err := b.Put([]byte(r.Key), v); err != nil {
				return err
			}
			etags[i] = etagOf(v)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i, r := range recs {
		if etags[i] != "" {
			r.ETag = etags[i]
		}
	}
	if conflicts != nil {
		return &ConflictError{Keys: conflicts}
	}
	return nil
}

// scanPage is how many records Scan reads per read transaction: fn runs
// outside any transaction, so it may write to the store.
const scanPage = 512

// Scan implements Store.Scan. It visits the records in key order, a page
// at a time: a record written during the scan may or may not be visited.
func (s *BoltStore) Scan(ctx context.Context, filter ScanFilter, fn func(*Indicator) error) error {
	want := byte(0)
	if filter.Status != "" {
		want = statusByte(filter.Status)
	}
	var after []byte
	for {
		var page []*Indicator
		done := true
		err := s.view(ctx, func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketIndicators)
			if b == nil {
				return nil
			}
			c := b.Cursor()
			k, v := c.First()
			if after != nil {
				k, v = c.Seek(after)
				if bytes.Equal(k, after) {
					k, v = c.Next()
				}
			}
			for ; k != nil; k, v = c.Next() {
				if len(page) == scanPage {
					done = false
					break
				}
				after = append(after[:0], k...)
				if want != 0 && (len(v) < boltHeader || v[8] != want) {
					continue
				}
				ind, err := decodeBolt(k, v)
				if err != nil {
					return err
				}
				if filter.match(ind) {
					page = append(page, ind)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, ind := range page {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := fn(ind); err != nil {
				return err
			}
		}
		if done {
			return nil
		}
	}
}

// putJSON and getJSON store small records (statuses, cursors, counters).
func putJSON(tx *bolt.Tx, bucket, key []byte, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return tx.Bucket(bucket).Put(key, b)
}

func getJSON(tx *bolt.Tx, bucket, key []byte, v any) error {
	b := tx.Bucket(bucket).Get(key)
	if b == nil {
		return nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("state: %s record %q is damaged: %w", bucket, key, err)
	}
	return nil
}

// PutFeedStatus implements Store.PutFeedStatus.
func (s *BoltStore) PutFeedStatus(ctx context.Context, st FeedStatus) error {
	return s.update(ctx, func(tx *bolt.Tx) error { return putJSON(tx, bucketFeeds, []byte(st.Feed), st) })
}

// FeedStatuses implements Store.FeedStatuses.
func (s *BoltStore) FeedStatuses(ctx context.Context) ([]FeedStatus, error) {
	var out []FeedStatus
	err := s.view(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketFeeds)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var st FeedStatus
			if err := json.Unmarshal(v, &st); err != nil {
				return fmt.Errorf("state: feed status %q is damaged: %w", k, err)
			}
			out = append(out, st)
			return nil
		})
	})
	return sortedStatuses(out), err
}

// AddUploaderStats implements Store.AddUploaderStats.
func (s *BoltStore) AddUploaderStats(ctx context.Context, delta UploaderStats) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		var cur UploaderStats
		if err := getJSON(tx, bucketMeta, metaUploader, &cur); err != nil {
			return err
		}
		return putJSON(tx, bucketMeta, metaUploader, cur.add(delta))
	})
}

// UploaderStats implements Store.UploaderStats.
func (s *BoltStore) UploaderStats(ctx context.Context) (UploaderStats, error) {
	var out UploaderStats
	err := s.view(ctx, func(tx *bolt.Tx) error {
		if tx.Bucket(bucketMeta) == nil {
			return nil
		}
		return getJSON(tx, bucketMeta, metaUploader, &out)
	})
	return out, err
}

// Cursor implements Store.Cursor.
func (s *BoltStore) Cursor(ctx context.Context, feed string) (Cursor, error) {
	var out Cursor
	err := s.view(ctx, func(tx *bolt.Tx) error {
		if tx.Bucket(bucketCursors) == nil {
			return nil
		}
		return getJSON(tx, bucketCursors, []byte(feed), &out)
	})
	return out, err
}

// PutCursor implements Store.PutCursor.
func (s *BoltStore) PutCursor(ctx context.Context, feed string, c Cursor) error {
	return s.update(ctx, func(tx *bolt.Tx) error { return putJSON(tx, bucketCursors, []byte(feed), c) })
}

// Close waits for the operations under way and closes the file; every
// method (Close included) returns ErrClosed afterwards.
func (s *BoltStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.closed = true
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("state: close %s: %w", s.path, err)
	}
	return nil
}
