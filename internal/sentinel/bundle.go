package sentinel

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"os"
	"path/filepath"
	"sync"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/feeds2sentinel/feeds2sentinel/internal/atomicfile"
)

// BundleSink is the local stand-in for Sentinel, beside the Client: an
// uploader (the same Upload method) that accepts every object
// and Close writes a STIX 2.1 bundle file holding the latest version of
// every object it received, plus the objects of the bundle already there
// that were not received again. It streams: objects are appended to a
// journal file as they arrive and Close copies the old bundle and the
// journal into a new file that atomically replaces the old one, so memory
// holds only a small hash of each id received (about 16 bytes an object),
// not the objects. It is safe for concurrent use.
type BundleSink struct {
	path string

	mu      sync.Mutex
	journal *os.File
	w       *bufio.Writer
	seed    maphash.Seed
	last    map[uint64]int64 // id hash → number of its last copy in the journal
	n       int64            // objects in the journal
	total   int              // objects in the bundle after Close
	closed  bool
}

// OpenBundleSink opens (or starts) the bundle at path. The old bundle is
// read only by Close.
func OpenBundleSink(path string) (*BundleSink, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("open bundle: %w", err)
	}
	return &BundleSink{path: path, seed: maphash.MakeSeed(), last: map[uint64]int64{}}, nil
}

// Upload implements Uploader: every object is accepted.
func (s *BundleSink) Upload(_ context.Context, objects []json.RawMessage) (*Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("bundle: closed")
	}
	if s.journal == nil {
		f, err := os.CreateTemp(filepath.Dir(s.path), filepath.Base(s.path)+".journal-*")
		if err != nil {
			return nil, fmt.Errorf("bundle journal: %w", err)
		}
		s.journal, s.w = f, bufio.NewWriterSize(f, 256<<10)
	}
	var buf bytes.Buffer
	for _, o := range objects {
		id := objectID(o)
		if id == "" {
			continue
		}
		buf.Reset()
		if err := json.Compact(&buf, o); err != nil {
			continue
		}
		buf.WriteByte('\n')
		if _, err := s.w.Write(buf.Bytes()); err != nil {
			return nil, fmt.Errorf("bundle journal: %w", err)
		}
		s.last[maphash.String(s.seed, id)] = s.n
		s.n++
	}
	return &Result{Accepted: len(objects)}, nil
}

// Len returns how many distinct objects the bundle holds: after Close, the
// whole bundle; before, the objects received so far.
func (s *BundleSink) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return s.total
	}
	return len(s.last)
}

// Close writes the bundle: a new file with the old bundle's objects that
// were not received again, then the latest copy of each received object,
// fsynced and renamed over the old file. With nothing received the old
// bundle is left as it is.
func (s *BundleSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.journal == nil {
		s.total = s.countOld()
		return nil
	}
	defer func() {
		s.journal.Close()
		os.Remove(s.journal.Name())
	}()
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("bundle journal: %w", err)
	}
	if _, err := s.journal.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("bundle journal: %w", err)
	}
	tmp, err := atomicfile.Create(s.path, &atomicfile.Options{Perm: 0o644})
	if err != nil {
		return fmt.Errorf("write bundle: %w", err)
	}
	defer tmp.Abort() // a no-op once committed
	w := bufio.NewWriterSize(tmp, 256<<10)
	w.WriteString(`{"type":"bundle","id":"bundle--` + uuid.NewString() + `","objects":[`)
	n := 0
	put := func(o []byte) {
		if n > 0 {
			w.WriteByte(',')
		}
		w.WriteByte('\n')
		w.Write(o)
		n++
	}
	if err := s.copyOld(put); err != nil {
		return err
	}
	sc := bufio.NewScanner(s.journal)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for i := int64(0); sc.Scan(); i++ {
		o := sc.Bytes()
		if s.last[maphash.String(s.seed, objectID(o))] == i {
			put(o)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("bundle journal: %w", err)
	}
	w.WriteString("\n]}\n")
	if err := w.Flush(); err != nil {
		return fmt.Errorf("write bundle: %w", err)
	}
	if err := tmp.Commit(); err != nil {
		return fmt.Errorf("write bundle: %w", err)
	}
	s.total = n
	return nil
}

// copyOld streams the objects of the old bundle that were not received
// again to put. A missing bundle has none; one that is not a STIX bundle
// is an error that says what to do.
func (s *BundleSink) copyOld(put func([]byte)) error {
	f, err := os.Open(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read bundle: %w", err)
	}
	defer f.Close()
	err = eachBundleObject(f, func(o json.RawMessage) {
		if _, again := s.last[maphash.String(s.seed, objectID(o))]; !again {
			put(o)
		}
	})
	if err != nil {
		return fmt.Errorf("read bundle %s: not a STIX bundle (%v); move it away to start a new one", s.path, err)
	}
	return nil
}

// countOld counts the objects of the bundle on disk (0 when unreadable).
func (s *BundleSink) countOld() int {
	f, err := os.Open(s.path)
	if err != nil {
		return 0
	}
	defer f.Close()
	n := 0
	_ = eachBundleObject(f, func(json.RawMessage) { n++ })
	return n
}

// eachBundleObject calls fn for every member of a bundle's "objects" array,
// decoding one object at a time.
func eachBundleObject(r io.Reader, fn func(json.RawMessage)) error {
	dec := json.NewDecoder(bufio.NewReaderSize(r, 256<<10))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return fmt.Errorf("want a JSON object (%v)", err)
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		if t != "objects" {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return err
			}
			continue
		}
		if t, err := dec.Token(); err != nil || t != json.Delim('[') {
			return fmt.Errorf(`"objects" is not an array (%v)`, err)
		}
		for dec.More() {
			var o json.RawMessage
			if err := dec.Decode(&o); err != nil {
				return err
			}
			if objectID(o) != "" {
				fn(o)
			}
		}
		if _, err := dec.Token(); err != nil {
			return err
		}
	}
	_, err := dec.Token()
	return err
}

// objectID returns the top-level "id" of a JSON object ("" when it has
// none or is not JSON). It scans instead of decoding: an object's id is
// read three times on its way into the bundle.
func objectID(o []byte) string {
	depth := 0
	for i := 0; i < len(o); i++ {
		switch o[i] {
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		case '"':
			j := i + 1
			for j < len(o) && o[j] != '"' {
				if o[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(o) {
				return ""
			}
			key := o[i+1 : j]
			i = j
			if depth != 1 || string(key) != "id" {
				continue
			}
			k := skipSpace(o, j+1)
			if k >= len(o) || o[k] != ':' {
				continue // a value that reads "id"
			}
			k = skipSpace(o, k+1)
			if k >= len(o) || o[k] != '"' {
				return ""
			}
			for e := k + 1; e < len(o); e++ {
				switch o[e] {
				case '\\':
					return slowObjectID(o) // an escaped id: decode it properly
				case '"':
					if !utf8.Valid(o[k+1 : e]) {
						return slowObjectID(o)
					}
					return string(o[k+1 : e])
				}
			}
			return ""
		}
	}
	return ""
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

func slowObjectID(o []byte) string {
	var v struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(o, &v) != nil {
		return ""
	}
	return v.ID
}
