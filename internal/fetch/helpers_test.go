package fetch

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testKey is the Auth-Key used in tests; it must never leak.
const testKey = "f00dfacecafe5ec7e7k3y0123456789abcdef"

// server is an httptest server that counts requests.
type server struct {
	*httptest.Server
	hits atomic.Int64
}

func newServer(t testing.TB, h http.HandlerFunc) *server {
	t.Helper()
	return newServerN(t, func(w http.ResponseWriter, r *http.Request, _ int64) { h(w, r) })
}

// newServerN is newServer with a handler told the request's 1-based rank.
func newServerN(t testing.TB, h func(w http.ResponseWriter, r *http.Request, n int64)) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h(w, r, s.hits.Add(1))
	}))
	t.Cleanup(s.Close)
	return s
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newClient returns a client with fast retries and a Debug logger writing
// to the returned buffer. opts may be nil; its zero fields get test values.
func newClient(t *testing.T, s *server, opts *Options) (*Client, *syncBuffer) {
	t.Helper()
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Transport == nil && s != nil {
		o.Transport = s.Client()
	}
	if o.RetryDelay == 0 {
		o.RetryDelay = time.Millisecond
	}
	if o.MaxRetryDelay == 0 {
		o.MaxRetryDelay = 3 * time.Second
	}
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Second
	}
	logs := &syncBuffer{}
	o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, err := New(&o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c, logs
}

// fetchAll fetches and reads the whole body.
func fetchAll(t *testing.T, c *Client, req *Request) ([]byte, *Response, error) {
	t.Helper()
	resp, err := c.Fetch(context.Background(), req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return b, resp, err
}

func readFixture(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/threatfox_recent.csv")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// zipEntry is one member of a test archive; a name ending in "/" is a
// directory.
type zipEntry struct {
	name string
	data []byte
}

func zipBytes(t testing.TB, entries ...zipEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: e.name, Method: zip.Deflate})
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(e.name, "/") {
			continue
		}
		if _, err := w.Write(e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// pattern is an endless deterministic, poorly compressible byte stream.
type pattern struct{ x uint32 }

func (p *pattern) Read(b []byte) (int, error) {
	for i := range b {
		p.x = p.x*1664525 + 1013904223
		b[i] = 'a' + byte(p.x>>24)%26
	}
	return len(b), nil
}

// countingWriter counts bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}
