package queue

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/feeds2sentinel/feeds2sentinel/internal/atomicfile"
)

// A spool file is one line of JSON (the envelope), a newline, and the
// message body as it was sent.

const (
	fileExt   = ".msg"
	tmpPrefix = ".tmp-"
)

// envelope is the first line of a spool file.
type envelope struct {
	V             int            `json:"v"`
	ID            string         `json:"id"`
	Seq           uint64         `json:"seq"`
	ContentType   string         `json:"content_type,omitempty"`
	Properties    map[string]any `json:"properties,omitempty"`
	DeliveryCount int            `json:"delivery_count"`
	EnqueuedAt    time.Time      `json:"enqueued_at"`
	LockedUntil   time.Time      `json:"-"` // inflight: end of the lease (in memory only)
	LockToken     string         `json:"-"` // in memory only
	LastError     string         `json:"last_error,omitempty"`
	Reason        string         `json:"reason,omitempty"`
	Description   string         `json:"description,omitempty"`
}

func (e *envelope) message(body []byte) *Message {
	return &Message{
		ID:            e.ID,
		Body:          body,
		ContentType:   e.ContentType,
		Properties:    e.Properties,
		DeliveryCount: e.DeliveryCount,
		Reason:        e.Reason,
		Description:   e.Description,
		EnqueuedAt:    e.EnqueuedAt,
		lockToken:     e.LockToken,
	}
}

// fileName is the file name of a message: its ID when that is a safe file
// name, else "x" and a hash of it.
func fileName(id string) string {
	safe := len(id) > 0 && len(id) <= 100
	for i := 0; safe && i < len(id); i++ {
		c := id[i]
		safe = c == '-' || c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
	}
	if safe {
		return id + fileExt
	}
	sum := sha256.Sum256([]byte(id))
	return "x" + hex.EncodeToString(sum[:16]) + fileExt
}

// writeFile writes env and body to path crash-safely: a temporary file in
// the same directory, fsync, rename, and, when dirSync is set, fsync of the
// directory.
func (s *Spool) writeFile(path string, env *envelope, body []byte, dirSync bool) error {
	env.V = 1
	head, err := json.Marshal(env)
	if err != nil {
		return fmt.Errorf("encode envelope: %w", err)
	}
	buf := make([]byte, 0, len(head)+1+len(body))
	buf = append(append(append(buf, head...), '\n'), body...)
	return atomicfile.WriteFile(path, buf, &atomicfile.Options{Perm: 0o600, Prefix: tmpPrefix, NoSync: s.noSync, NoDirSync: !dirSync})
}

// errCorrupt is wrapped by the errors of a spool file whose content can't
// be decoded (as opposed to one that can't be read).
var errCorrupt = errors.New("corrupt spool file")

// readHeader reads the envelope of a spool file.
func readHeader(path string) (*envelope, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	line, err := bufio.NewReaderSize(f, 4096).ReadBytes('\n')
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: truncated", errCorrupt)
		}
		return nil, err
	}
	return parseHeader(line)
}

// readFile reads the envelope and body of a spool file.
func readFile(path string) (*envelope, []byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	i := bytes.IndexByte(data, '\n')
	if i < 0 {
		return nil, nil, fmt.Errorf("%w: truncated", errCorrupt)
	}
	env, err := parseHeader(data[:i])
	if err != nil {
		return nil, nil, err
	}
	return env, data[i+1:], nil
}

func parseHeader(line []byte) (*envelope, error) {
	var env envelope
	if err := json.Unmarshal(line, &env); err != nil {
		return nil, fmt.Errorf("%w: envelope: %w", errCorrupt, err)
	}
	if env.ID == "" {
		return nil, fmt.Errorf("%w: envelope without a message id", errCorrupt)
	}
	for k, v := range env.Properties {
		// JSON numbers come back as float64; integers were ints.
		if f, ok := v.(float64); ok && f == math.Trunc(f) && math.Abs(f) < 1<<53 {
			env.Properties[k] = int(f)
		}
	}
	return &env, nil
}

// moveFile renames src to dst (in another directory of the spool) and
// syncs both directories.
func (s *Spool) moveFile(src, dst string) error {
	if err := os.Rename(src, dst); err != nil {
		return err
	}
	if err := s.syncDir(filepath.Dir(dst)); err != nil {
		return err
	}
	return s.syncDir(filepath.Dir(src))
}

// removeFile removes path and syncs its directory.
func (s *Spool) removeFile(path string) error {
	if err := os.Remove(path); err != nil {
		return err
	}
	return s.syncDir(filepath.Dir(path))
}

// syncDir makes the entries of dir durable.
func (s *Spool) syncDir(dir string) error {
	if s.noSync {
		return nil
	}
	return atomicfile.SyncDir(dir)
}

// newToken returns a random lease token.
func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand documents it)
	return hex.EncodeToString(b[:])
}
