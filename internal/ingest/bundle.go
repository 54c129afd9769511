package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/google/uuid"

	"github.com/feeds2sentinel/feeds2sentinel/internal/sentinel"
)

// BundleSink is the local stand-in for Sentinel: it accepts every object and
// keeps the latest version of each id, and Close writes them as one STIX
// 2.1 bundle file (merged with the bundle already there). It is safe for
// concurrent use.
type BundleSink struct {
	path string
	mu   sync.Mutex
	objs map[string]json.RawMessage
}

// OpenBundleSink opens (or starts) the bundle at path.
func OpenBundleSink(path string) (*BundleSink, error) {
	s := &BundleSink{path: path, objs: map[string]json.RawMessage{}}
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open bundle: %w", err)
	}
	var bundle struct {
		Objects []json.RawMessage `json:"objects"`
	}
	if err := json.Unmarshal(b, &bundle); err != nil {
		return nil, fmt.Errorf("read bundle %s: not a STIX bundle (%v); move it away to start a new one", path, err)
	}
	for _, o := range bundle.Objects {
		if id := objectID(o); id != "" {
			s.objs[id] = o
		}
	}
	return s, nil
}

// Upload implements Uploader: every object is accepted.
func (s *BundleSink) Upload(_ context.Context, objects []json.RawMessage) (*sentinel.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range objects {
		if id := objectID(o); id != "" {
			s.objs[id] = append(json.RawMessage(nil), o...)
		}
	}
	return &sentinel.Result{Accepted: len(objects)}, nil
}

// Len returns how many distinct objects the bundle holds.
func (s *BundleSink) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.objs)
}

// Close writes the bundle (sorted by id, so it is stable) atomically.
func (s *BundleSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, 0, len(s.objs))
	for id := range s.objs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var buf bytes.Buffer
	buf.WriteString(`{"type":"bundle","id":"bundle--` + uuid.NewString() + `","objects":[`)
	for i, id := range ids {
		if i > 0 {
			buf.WriteString(",\n")
		} else {
			buf.WriteString("\n")
		}
		buf.Write(s.objs[id])
	}
	buf.WriteString("\n]}\n")
	if err := os.MkdirAll(filepath.Dir(s.path), 0o755); err != nil {
		return err
	}
	tmp := s.path + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write bundle: %w", err)
	}
	return os.Rename(tmp, s.path)
}

func objectID(o json.RawMessage) string {
	var v struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(o, &v) != nil {
		return ""
	}
	return v.ID
}
