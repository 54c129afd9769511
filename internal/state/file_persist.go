package state

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
)

// fileLine is one line of the state file; exactly one field is set.
type fileLine struct {
	Indicator *Indicator     `json:"indicator,omitempty"`
	Feed      *FeedStatus    `json:"feed,omitempty"`
	Cursor    *namedCursor   `json:"cursor,omitempty"`
	Uploader  *UploaderStats `json:"uploader,omitempty"`
}

type namedCursor struct {
	Feed string `json:"feed"`
	Cursor
}

// load reads a state file into the empty store s.
func (s *FileStore) load(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var l fileLine
		if err := json.Unmarshal(line, &l); err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
		switch {
		case l.Indicator != nil:
			if l.Indicator.Key == "" {
				return fmt.Errorf("line %d: indicator without key", n)
			}
			l.Indicator.ETag = s.nextETag()
			s.inds[l.Indicator.Key] = l.Indicator
		case l.Feed != nil:
			s.feeds[l.Feed.Feed] = *l.Feed
		case l.Cursor != nil:
			s.cursors[l.Cursor.Feed] = l.Cursor.Cursor
		case l.Uploader != nil:
			s.uploader = *l.Uploader
		}
	}
	return sc.Err()
}

// Flush makes every write that returned before it durable: it writes the
// store to its file, to a temporary file in the same directory, fsynced,
// then renamed over the old file. Call it after committing a run's state.
// When nothing changed since the last successful flush (reads, conflicting
// Puts and empty Puts change nothing) it returns nil at once, without
// writing or even encoding anything, so calling it often is cheap. It is
// safe to call concurrently with other methods, and after Close (a no-op
// then, unless the final flush failed, which it retries).
func (s *FileStore) Flush() error {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	// Stored records are never modified in place, so a read lock is
	// enough to encode them; writers proceed meanwhile and bump gen.
	s.mu.RLock()
	gen := s.gen
	if gen == s.flushed {
		s.mu.RUnlock()
		return nil
	}
	snap, err := s.snapshot()
	s.mu.RUnlock()
	if err != nil {
		return fmt.Errorf("state: encode %s: %w", s.path, err)
	}
	if err := writeFileAtomic(s.path, snap); err != nil {
		return fmt.Errorf("state: flush %s: %w", s.path, err)
	}
	s.mu.Lock()
	s.flushed = gen
	s.mu.Unlock()
	return nil
}

// snapshot encodes the store; s.mu must be held (a read lock suffices).
func (s *FileStore) snapshot() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	keys := make([]string, 0, len(s.inds))
	for k := range s.inds {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if err := enc.Encode(fileLine{Indicator: s.inds[k]}); err != nil {
			return nil, err
		}
	}
	feeds := make([]FeedStatus, 0, len(s.feeds))
	for _, st := range s.feeds {
		feeds = append(feeds, st)
	}
	for _, st := range sortedStatuses(feeds) {
		if err := enc.Encode(fileLine{Feed: &st}); err != nil {
			return nil, err
		}
	}
	names := make([]string, 0, len(s.cursors))
	for n := range s.cursors {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if err := enc.Encode(fileLine{Cursor: &namedCursor{Feed: n, Cursor: s.cursors[n]}}); err != nil {
			return nil, err
		}
	}
	up := s.uploader
	if err := enc.Encode(fileLine{Uploader: &up}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writeFileAtomic replaces path with data: temp file, fsync, rename, and
// an fsync of the directory so the rename itself is durable.
func writeFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, derr := os.Open(dir); derr == nil {
		d.Sync() // best effort: not every filesystem supports it
		d.Close()
	}
	return nil
}
