package queue

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Kind is one of the four directories of a Spool.
type Kind string

// The spool directories.
const (
	KindReady      Kind = "ready"      // waiting for delivery
	KindInflight   Kind = "inflight"   // delivered, leased, not settled
	KindDeadLetter Kind = "deadletter" // dead-lettered
	KindParked     Kind = "parked"     // parked by the uploader
)

// PossibleKindValues returns every Kind.
func PossibleKindValues() []Kind {
	return []Kind{KindReady, KindInflight, KindDeadLetter, KindParked}
}

// SpoolOptions configure OpenSpool. A nil *SpoolOptions, or a zero field,
// means the default.
type SpoolOptions struct {
	// MaxDeliveryCount is how many deliveries a message gets before it is
	// dead-lettered (default 5).
	MaxDeliveryCount int
	// LockDuration is the lease of a delivery (default 5m).
	LockDuration time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives warnings about unreadable files (default
	// slog.Default()).
	Logger *slog.Logger
	// NoSync skips every fsync: the spool still survives a killed process
	// (renames are atomic) but not a power loss or OS crash. For tests and
	// throwaway runs.
	NoSync bool
	// LockTimeout is how long OpenSpool waits for another process that
	// has the directory open to close it before it refuses (ErrLocked).
	// Zero means 2s; a negative value refuses at once.
	LockTimeout time.Duration
}

// ErrLocked is returned (wrapped) by OpenSpool when another process has
// the spool open.
var ErrLocked = errors.New("queue: spool in use by another process")

// errLocked is what lockFile returns when the lock is held elsewhere.
var errLocked = errors.New("locked")

// Spool is a durable local queue in a directory, with the delivery contract
// of a Service Bus queue: at-least-once delivery under a lease, redelivery
// after Abandon or an expired lease, dead-lettering after MaxDeliveryCount
// deliveries with the reason MaxDeliveryCountExceeded, duplicate detection
// on MessageID, parking and replay.
//
// Layout: dir/ready, dir/inflight, dir/deadletter and dir/parked, one file
// per message named by its MessageID, holding a one-line JSON envelope
// (properties, delivery count, reasons) and the body. Every change is an
// atomic rename of a fully written, fsynced file (a settled message is
// written to its destination first, then its inflight file is removed), so
// a killed process loses nothing: OpenSpool finishes or undoes what it
// interrupted and returns every inflight message to ready, counting the
// interrupted delivery. Against a power loss, published, parked and
// dead-lettered messages are durable once the call returns (directory
// fsync); a completed message may come back, and a delivery may be counted
// twice, both allowed by at-least-once delivery.
//
// Differences from Service Bus: duplicate detection looks only at ready and
// inflight messages (no time window, no memory of completed ones); delivery
// is FIFO by enqueue order (an abandoned message keeps its place); an
// expired lease is noticed when Receive finds nothing ready, not by a
// timer, and until then the holder can still settle the message (see
// Complete); leases do not survive reopening; there is no message TTL. A
// Spool is safe for concurrent use by one process; the directory must not
// be opened by two processes at once.
type Spool struct {
	dir      string
	maxDeliv int
	lock     time.Duration
	now      func() time.Time
	logger   *slog.Logger
	noSync   bool

	lockf *os.File // dir/lock, held open and flocked until Close

	mu      sync.Mutex
	index   map[Kind]map[string]*envelope // by MessageID
	ready   readyHeap
	seq     uint64 // last sequence number used
	corrupt int    // files in dir/corrupt
}

// CorruptDir is the directory of a Spool where files that can't be read
// are moved, named "<kind>-<file>", so that they neither block delivery
// nor vanish from the counts. An operator inspects and removes them.
const CorruptDir = "corrupt"

// quarantine moves the unreadable file name of directory k to CorruptDir
// and counts it; when even that fails the file is left alone (and logged).
// s.mu is held or s is being opened.
func (s *Spool) quarantine(k Kind, name string, cause error) {
	src := filepath.Join(s.dir, string(k), name)
	dst := filepath.Join(s.dir, CorruptDir, string(k)+"-"+name)
	if _, err := os.Lstat(dst); err == nil {
		dst += "-" + strconv.FormatInt(s.now().UnixNano(), 10)
	}
	err := os.MkdirAll(filepath.Dir(dst), 0o700)
	if err == nil {
		err = s.moveFile(src, dst)
	}
	if err != nil {
		s.logger.Warn("queue: spool: skipping unreadable file", "dir", string(k), "file", name,
			"error", cause.Error(), "move_error", err.Error())
		return
	}
	s.corrupt++
	s.logger.Warn("queue: spool: moved unreadable file aside", "dir", string(k), "file", name,
		"to", filepath.Join(CorruptDir, filepath.Base(dst)), "error", cause.Error())
}

// Corrupt returns how many unreadable files the spool has moved to
// CorruptDir (including those found there when it was opened).
func (s *Spool) Corrupt() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.corrupt
}

// OpenSpool opens (creating it if needed) the spool in dir. Only one
// process may have a spool open, so every inflight message it finds was
// delivered to a process that is gone: OpenSpool returns them all to ready
// at once, whatever their lease, with the interrupted delivery counted (or
// dead-letters them, reason MaxDeliveryCountExceeded, when their deliveries
// are used up). It also finishes a settlement a killed process left half
// done. Files it can't read are moved to CorruptDir, logged and counted
// (see Corrupt).
func OpenSpool(dir string, opts *SpoolOptions) (*Spool, error) {
	if dir == "" {
		return nil, fmt.Errorf("%w: spool: no directory", ErrInvalidOptions)
	}
	s := &Spool{dir: dir, maxDeliv: 5, lock: 5 * time.Minute, now: time.Now, logger: slog.Default(),
		index: map[Kind]map[string]*envelope{}}
	if opts != nil {
		if opts.MaxDeliveryCount > 0 {
			s.maxDeliv = opts.MaxDeliveryCount
		}
		if opts.LockDuration > 0 {
			s.lock = opts.LockDuration
		}
		if opts.Now != nil {
			s.now = opts.Now
		}
		if opts.Logger != nil {
			s.logger = opts.Logger
		}
		s.noSync = opts.NoSync
	}
	if err := s.takeLock(opts); err != nil {
		return nil, err
	}
	if entries, err := os.ReadDir(filepath.Join(dir, CorruptDir)); err == nil {
		s.corrupt = len(entries)
	}
	for _, k := range PossibleKindValues() {
		if err := s.load(k); err != nil {
			s.lockf.Close()
			return nil, err
		}
	}
	deadSeqs := map[uint64]bool{}
	for _, env := range s.index[KindDeadLetter] {
		deadSeqs[env.Seq] = true
	}
	for id, env := range s.index[KindInflight] {
		switch {
		case env.Seq != 0 && deadSeqs[env.Seq]:
			// Killed while dead-lettering, after the dead-letter copy
			// (same sequence number, maybe a new id) was written: it is
			// the later state.
			_ = os.Remove(s.path(KindInflight, id))
			delete(s.index[KindInflight], id)
		case s.index[KindReady][id] != nil:
			// Killed while abandoning, after the ready copy was written,
			// or a power loss during Receive's move: the inflight copy
			// goes back to ready below with the same delivery count.
			_ = os.Remove(s.path(KindReady, id))
			delete(s.index[KindReady], id)
		}
	}
	for _, env := range s.index[KindReady] {
		heap.Push(&s.ready, env)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.recoverInflight(true); err != nil {
		s.lockf.Close()
		return nil, err
	}
	return s, nil
}

// takeLock locks dir/lock so that no other process opens the spool while
// this one has it.
func (s *Spool) takeLock(opts *SpoolOptions) error {
	timeout := 2 * time.Second
	if opts != nil && opts.LockTimeout != 0 {
		timeout = max(opts.LockTimeout, 0)
	}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	f, err := lockFile(filepath.Join(s.dir, "lock"), timeout)
	if errors.Is(err, errLocked) {
		return fmt.Errorf("%w: %s is open in another feeds2sentinel process (waited %s); stop that process or point F2S_DATA_DIR elsewhere", ErrLocked, s.dir, timeout)
	}
	if err != nil {
		return fmt.Errorf("spool: lock: %w", err)
	}
	s.lockf = f
	return nil
}

// Close releases the spool: another process may open the directory then.
// The spool must not be used after Close.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lockf == nil {
		return nil
	}
	err := s.lockf.Close()
	s.lockf = nil
	return err
}

func (s *Spool) path(k Kind, id string) string {
	return filepath.Join(s.dir, string(k), fileName(id))
}

// load indexes the files of one directory, removing leftover temporary
// files. A file whose name is not that of its envelope's id (left by an
// older version killed while dead-lettering under a new id) is adopted:
// renamed to its id, and an inflight one that was being dead-lettered is
// moved on to the dead-letter directory (loaded after inflight).
func (s *Spool) load(k Kind) error {
	d := filepath.Join(s.dir, string(k))
	if err := os.MkdirAll(d, 0o700); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	entries, err := os.ReadDir(d)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	idx := map[string]*envelope{}
	s.index[k] = idx
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, tmpPrefix) {
			_ = os.Remove(filepath.Join(d, name)) // an interrupted write
			continue
		}
		if e.IsDir() || !strings.HasSuffix(name, fileExt) {
			continue
		}
		env, err := readHeader(filepath.Join(d, name))
		if err != nil {
			s.quarantine(k, name, err)
			continue
		}
		if want := fileName(env.ID); want != name {
			to := k
			if k == KindInflight && env.Reason != "" {
				to = KindDeadLetter // only dead-lettering sets a reason
			}
			dst := s.path(to, env.ID)
			err := os.ErrExist
			if _, serr := os.Lstat(dst); errors.Is(serr, os.ErrNotExist) {
				err = s.moveFile(filepath.Join(d, name), dst)
			}
			if err != nil {
				s.logger.Warn("queue: spool: skipping misnamed file", "dir", string(k), "file", name, "id", env.ID, "error", err.Error())
				continue
			}
			s.logger.Warn("queue: spool: adopted misnamed file", "dir", string(k), "file", name, "id", env.ID, "to", string(to))
			if to != k {
				continue // indexed when its directory is loaded
			}
		}
		if k == KindInflight {
			// The file records the deliveries before the interrupted one.
			env.DeliveryCount++
		}
		idx[env.ID] = env
		s.seq = max(s.seq, env.Seq)
	}
	return nil
}

// Publish implements Publisher: it writes each batch as a message file in
// ready. A batch whose MessageID is already ready or inflight is dropped
// and counted as sent, like Service Bus duplicate detection. It returns an
// error wrapping ErrInvalidMessage, before writing anything, when a batch
// can't be encoded.
func (s *Spool) Publish(ctx context.Context, batches []Batch) (int, error) {
	msgs := make([]Message, len(batches))
	for i, b := range batches {
		m, err := Encode(b)
		if err != nil {
			return 0, fmt.Errorf("spool publish: batch %d: %w", i, err)
		}
		msgs[i] = m
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Envelopes in order; duplicates (also within the call) are dropped.
	envs := make([]*envelope, len(msgs))
	ids := map[string]bool{}
	for i, m := range msgs {
		if s.index[KindReady][m.ID] != nil || s.index[KindInflight][m.ID] != nil || ids[m.ID] {
			continue
		}
		ids[m.ID] = true
		s.seq++
		envs[i] = &envelope{ID: m.ID, Seq: s.seq, ContentType: m.ContentType, Properties: m.Properties,
			EnqueuedAt: s.now().UTC()}
	}
	// The files are written and fsynced in parallel (a file system merges
	// concurrent syncs), then one directory sync makes them durable.
	errs := make([]error, len(msgs))
	sem := make(chan struct{}, publishWorkers)
	var wg sync.WaitGroup
	for i, env := range envs {
		if env == nil {
			continue
		}
		if err := ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = s.writeFile(s.path(KindReady, env.ID), env, msgs[i].Body, false)
		})
	}
	wg.Wait()
	sent, pending := 0, 0
	var err error
	for i, env := range envs {
		if err == nil && errs[i] != nil {
			err = errs[i]
		}
		switch {
		case env == nil && err == nil:
			pending += len(batches[i].Objects) // already queued
		case env == nil:
		case err == nil:
			s.index[KindReady][env.ID] = env
			heap.Push(&s.ready, env)
			pending += len(batches[i].Objects)
		case errs[i] == nil:
			// Written after one that failed: taken back, so that what is
			// on the queue is exactly the prefix reported as sent.
			_ = os.Remove(s.path(KindReady, env.ID))
		}
	}
	if serr := s.syncDir(filepath.Join(s.dir, string(KindReady))); serr == nil {
		sent = pending
	} else if err == nil {
		err = serr
	}
	if err != nil {
		return sent, fmt.Errorf("spool publish: %w", err)
	}
	return sent, nil
}

// publishWorkers bounds the files Publish writes at once.
const publishWorkers = 16

// enqueue writes m to ready unless its ID is ready or inflight already.
// Unless dirSync is set, the caller syncs the ready directory.
func (s *Spool) enqueue(m Message, dirSync bool) (bool, error) {
	if s.index[KindReady][m.ID] != nil || s.index[KindInflight][m.ID] != nil {
		return false, nil
	}
	s.seq++
	env := &envelope{ID: m.ID, Seq: s.seq, ContentType: m.ContentType, Properties: m.Properties,
		EnqueuedAt: s.now().UTC()}
	if err := s.writeFile(s.path(KindReady, m.ID), env, m.Body, dirSync); err != nil {
		return false, err
	}
	s.index[KindReady][m.ID] = env
	heap.Push(&s.ready, env)
	return true, nil
}

// Receive delivers the oldest ready message under a lease of LockDuration:
// it moves it to inflight and increments its DeliveryCount. It returns
// ErrEmpty when no message is ready (after returning expired leases to
// ready). The caller settles the message with Complete, Abandon or
// DeadLetter.
func (s *Spool) Receive(ctx context.Context) (*Message, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if s.ready.Len() == 0 {
			if err := s.recoverExpired(); err != nil {
				return nil, err
			}
			if s.ready.Len() == 0 {
				return nil, ErrEmpty
			}
		}
		env := heap.Pop(&s.ready).(*envelope)
		src, dst := s.path(KindReady, env.ID), s.path(KindInflight, env.ID)
		_, body, err := readFile(src)
		if errors.Is(err, errCorrupt) {
			// Damaged since it was indexed: move it aside, or every
			// later Receive would fail on it.
			delete(s.index[KindReady], env.ID)
			s.quarantine(KindReady, filepath.Base(src), err)
			continue
		}
		if err == nil {
			err = os.Rename(src, dst)
		}
		if err != nil {
			heap.Push(&s.ready, env)
			return nil, fmt.Errorf("spool receive: %w", err)
		}
		return s.lease(env, body, dst)
	}
}

// lease records env, just moved to inflight as dst, as delivered. s.mu is
// held.
func (s *Spool) lease(env *envelope, body []byte, dst string) (*Message, error) {
	upd := *env
	upd.DeliveryCount++
	upd.LockToken = newToken()
	upd.LockedUntil = s.now().Add(s.lock).UTC()
	delete(s.index[KindReady], env.ID)
	s.index[KindInflight][env.ID] = &upd
	if err := s.syncDir(filepath.Dir(dst)); err != nil {
		// Inflight without a holder: it comes back when the lease ends.
		return nil, fmt.Errorf("spool receive: %w", err)
	}
	return upd.message(body), nil
}

// leased returns the inflight envelope of msg if msg still holds the
// message: it is inflight under msg's lease token. An expired lease still
// holds until the message is returned to ready (by a Receive that finds
// nothing else ready) or redelivered: in one process nobody else can have
// it, so a slow holder may settle it late, as if it had renewed the lease.
func (s *Spool) leased(msg *Message) (*envelope, error) {
	env := s.index[KindInflight][msg.ID]
	if env == nil || msg.lockToken == "" || env.LockToken != msg.lockToken {
		return nil, fmt.Errorf("spool: message %s: %w", msg.ID, ErrLockLost)
	}
	return env, nil
}

// Complete removes a delivered message: it was processed. It returns
// ErrLockLost when msg no longer holds the message: its lease expired and
// the message was returned to ready or redelivered since. A lease that
// expired while nothing else took the message still holds (the same goes
// for Abandon and DeadLetter), so one slow upload needs no lease renewal.
func (s *Spool) Complete(msg *Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.leased(msg); err != nil {
		return err
	}
	// No directory sync: after a power loss the message may come back,
	// which at-least-once delivery allows.
	if err := os.Remove(s.path(KindInflight, msg.ID)); err != nil {
		return fmt.Errorf("spool complete: %w", err)
	}
	delete(s.index[KindInflight], msg.ID)
	return nil
}

// Abandon returns a delivered message to ready for redelivery, noting
// reason (the error) as its last error. When the message has had
// MaxDeliveryCount deliveries it is dead-lettered instead, with the reason
// MaxDeliveryCountExceeded and the last error as description. It returns
// ErrLockLost when msg no longer holds the message (see Complete).
func (s *Spool) Abandon(msg *Message, reason string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	env, err := s.leased(msg)
	if err != nil {
		return err
	}
	if env.DeliveryCount >= s.maxDeliv {
		return s.settle(env, KindDeadLetter, ReasonMaxDeliveryCountExceeded, reason, reason)
	}
	return s.settle(env, KindReady, "", "", reason)
}

// DeadLetter moves a delivered message to the dead-letter directory with a
// reason and description. It returns ErrLockLost when msg no longer holds
// the message (see Complete).
func (s *Spool) DeadLetter(msg *Message, reason, description string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	env, err := s.leased(msg)
	if err != nil {
		return err
	}
	return s.settle(env, KindDeadLetter, reason, description, env.LastError)
}

// settle moves an inflight message to ready or deadletter with an updated
// envelope: it writes the new file in the destination, then removes the
// inflight one, so a process killed in between leaves two copies that
// OpenSpool resolves (never a file under another message's name).
func (s *Spool) settle(env *envelope, to Kind, reason, description, lastErr string) error {
	src := s.path(KindInflight, env.ID)
	_, body, err := readFile(src)
	if err != nil {
		return fmt.Errorf("spool %s: %w", to, err)
	}
	upd := *env
	upd.LockToken, upd.LockedUntil, upd.LastError = "", time.Time{}, lastErr
	if to == KindDeadLetter {
		upd.Reason, upd.Description = reason, description
		upd.EnqueuedAt = s.now().UTC()
		if old := s.index[KindDeadLetter][env.ID]; old != nil {
			// The same content was dead-lettered before; keep both.
			upd.ID = replayID(env.ID, s.now())
		}
	}
	if err := s.writeFile(s.path(to, upd.ID), &upd, body, true); err != nil {
		return fmt.Errorf("spool %s: %w", to, err)
	}
	if err := s.removeFile(src); err != nil {
		// Settled all the same: OpenSpool drops the leftover copy.
		s.logger.Warn("queue: spool: removing settled inflight file", "id", env.ID, "error", err.Error())
	}
	delete(s.index[KindInflight], env.ID)
	s.index[to][upd.ID] = &upd
	if to == KindReady {
		heap.Push(&s.ready, &upd)
	}
	return nil
}

// recoverExpired returns inflight messages whose lease expired to ready,
// or dead-letters them when their deliveries are used up. s.mu is held.
func (s *Spool) recoverExpired() error { return s.recoverInflight(false) }

// recoverInflight is recoverExpired, for every inflight message when all
// is set (OpenSpool: their holder is gone). s.mu is held.
func (s *Spool) recoverInflight(all bool) error {
	now := s.now()
	why := "lease expired"
	if all {
		why = "delivery interrupted: the process ended"
	}
	var errs []error
	for _, env := range s.index[KindInflight] {
		if !all && now.Before(env.LockedUntil) {
			continue
		}
		var err error
		if env.DeliveryCount >= s.maxDeliv {
			err = s.settle(env, KindDeadLetter, ReasonMaxDeliveryCountExceeded, why, why)
		} else {
			err = s.settle(env, KindReady, "", "", why)
		}
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("spool: returning inflight messages: %w", err)
	}
	return nil
}
