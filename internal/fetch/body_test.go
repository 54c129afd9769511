package fetch

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
)

// serveBytes returns a handler sending b with the given Content-Encoding
// (none when empty).
func serveBytes(b []byte, encoding string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if encoding != "" {
			w.Header().Set("Content-Encoding", encoding)
		}
		w.Write(b)
	}
}

func TestPayloadDecoding(t *testing.T) {
	t.Parallel()
	csv := readFixture(t)
	var deflated bytes.Buffer
	zw := zlib.NewWriter(&deflated)
	zw.Write(csv)
	zw.Close()
	html := []byte("<!DOCTYPE html><html><body>Cloudflare: checking your browser</body></html>")
	cases := []struct {
		name       string
		h          http.HandlerFunc
		want       []byte
		wantMember string
	}{
		{"plain", serveBytes(csv, ""), csv, ""},
		{"gzip encoding", serveBytes(gzipBytes(t, csv), "gzip"), csv, ""},
		{"deflate encoding", serveBytes(deflated.Bytes(), "deflate"), csv, ""},
		{"gzip file", serveBytes(gzipBytes(t, csv), ""), csv, ""},
		{"html error page with 200", serveBytes(html, ""), html, ""},
		{"empty", serveBytes(nil, ""), []byte{}, ""},
		{"zip", serveBytes(zipBytes(t, zipEntry{"full.csv", csv}), ""), csv, "full.csv"},
		{"zip gzip-encoded", serveBytes(gzipBytes(t, zipBytes(t, zipEntry{"full.csv", csv})), "gzip"), csv, "full.csv"},
		{"zip largest member", serveBytes(zipBytes(t,
			zipEntry{"docs/", nil}, zipEntry{"README.txt", []byte("terms of use")}, zipEntry{"docs/full.csv", csv}), ""),
			csv, "docs/full.csv"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, tc.h)
			tmp := t.TempDir()
			c, _ := newClient(t, s, &Options{TempDir: tmp})
			got, resp, err := fetchAll(t, c, &Request{Feed: "threatfox", URL: s.URL})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Errorf("body mismatch: got %d bytes %.60q, want %d bytes", len(got), got, len(tc.want))
			}
			if resp.Member != tc.wantMember || resp.Bytes() != int64(len(tc.want)) || resp.StatusCode != http.StatusOK {
				t.Errorf("Member %q Bytes %d Status %d, want %q %d 200", resp.Member, resp.Bytes(), resp.StatusCode, tc.wantMember, len(tc.want))
			}
			if left := dirEntries(t, tmp); len(left) != 0 {
				t.Errorf("temporary files left after Close: %q", left)
			}
		})
	}
}

func TestUnsupportedEncoding(t *testing.T) {
	t.Parallel()
	s := newServer(t, serveBytes([]byte("xx"), "br"))
	c, _ := newClient(t, s, nil)
	if _, _, err := fetchAll(t, c, &Request{Feed: "x", URL: s.URL}); !errors.Is(err, ErrEncoding) {
		t.Errorf("err = %v, want ErrEncoding", err)
	}
}

func TestTooLarge(t *testing.T) {
	t.Parallel()
	const limit = 1000
	big := bytes.Repeat([]byte("0123456789"), 500) // 5000 bytes
	cases := []struct {
		name      string
		h         http.HandlerFunc
		wantFetch bool // the error comes from Fetch rather than Read
		wantRead  int64
	}{
		{"plain", serveBytes(big, ""), false, limit},
		{"gzip bomb-ish", serveBytes(gzipBytes(t, big), "gzip"), false, limit},
		// The member declares more than the limit: refused before a byte is read.
		{"zip member", serveBytes(zipBytes(t, zipEntry{"a.csv", big}), ""), true, 0},
		{"zip download", serveBytes(zipBytes(t, zipEntry{"a.bin", func() []byte {
			b := make([]byte, 3*limit)
			(&pattern{}).Read(b)
			return b
		}()}), ""), true, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, tc.h)
			tmp := t.TempDir()
			c, _ := newClient(t, s, &Options{MaxBytes: limit, TempDir: tmp})
			resp, err := c.Fetch(t.Context(), &Request{Feed: "urlhaus", URL: s.URL})
			if tc.wantFetch {
				if !errors.Is(err, ErrTooLarge) {
					t.Fatalf("Fetch err = %v, want ErrTooLarge", err)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				n, err := io.Copy(io.Discard, resp.Body)
				if !errors.Is(err, ErrTooLarge) || !strings.HasPrefix(err.Error(), "urlhaus: ") {
					t.Errorf("Read err = %v, want ErrTooLarge naming the feed", err)
				}
				if n != tc.wantRead || resp.Bytes() != tc.wantRead {
					t.Errorf("read %d bytes, Bytes() %d, want %d", n, resp.Bytes(), tc.wantRead)
				}
				if _, err := resp.Body.Read(make([]byte, 10)); !errors.Is(err, ErrTooLarge) {
					t.Errorf("second Read err = %v, want sticky ErrTooLarge", err)
				}
				resp.Body.Close()
			}
			if left := dirEntries(t, tmp); len(left) != 0 {
				t.Errorf("temporary files left: %q", left)
			}
		})
	}
	// Exactly at the limit is fine.
	s := newServer(t, serveBytes(big[:limit], ""))
	c, _ := newClient(t, s, &Options{MaxBytes: limit})
	if got, _, err := fetchAll(t, c, &Request{Feed: "x", URL: s.URL}); err != nil || len(got) != limit {
		t.Errorf("at the limit: %d bytes, %v", len(got), err)
	}
}

// TestRequestMaxBytes is the regression test for one fixed size limit for
// every feed (a full dump larger than it was refused): a request's own
// MaxBytes replaces Options.MaxBytes, up or down, and ErrTooLarge names the
// setting that holds it.
func TestRequestMaxBytes(t *testing.T) {
	t.Parallel()
	const setting = "FEED_URLHAUS_MAX_BYTES"
	payload := bytes.Repeat([]byte("0123456789"), 400) // 4000 bytes
	noisy := make([]byte, 4000)
	(&pattern{x: 7}).Read(noisy)
	cases := []struct {
		name      string
		h         http.HandlerFunc
		max       int64
		wantErr   string // what was too large; "" for success
		wantFetch bool   // the error comes from Fetch rather than Read
	}{
		{"plain above the client's limit", serveBytes(payload, ""), 5000, "", false},
		{"gzip above the client's limit", serveBytes(gzipBytes(t, payload), "gzip"), 5000, "", false},
		{"zip above the client's limit", serveBytes(zipBytes(t, zipEntry{"full.csv", payload}), ""), 5000, "", false},
		{"at the request's limit", serveBytes(payload, ""), 4000, "", false},
		{"plain over", serveBytes(payload, ""), 3999, "payload from", false},
		{"gzip over", serveBytes(gzipBytes(t, payload), "gzip"), 3999, "payload from", false},
		{"zip member over", serveBytes(zipBytes(t, zipEntry{"full.csv", payload}), ""), 3999, "zip member from", true},
		{"zip download over", serveBytes(zipBytes(t, zipEntry{"full.bin", noisy}), ""), 2000, "zip from", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, tc.h)
			c, _ := newClient(t, s, &Options{MaxBytes: 1000, TempDir: t.TempDir()})
			req := &Request{Feed: "urlhaus", URL: s.URL, MaxBytes: tc.max, MaxBytesSetting: setting}
			resp, err := c.Fetch(t.Context(), req)
			if err == nil {
				defer resp.Body.Close()
				var n int64
				n, err = io.Copy(io.Discard, resp.Body)
				if err == nil && n != int64(len(payload)) {
					t.Fatalf("read %d bytes, want %d", n, len(payload))
				}
				if err != nil && tc.wantFetch {
					t.Fatalf("Fetch succeeded, Read failed: %v", err)
				}
			}
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), setting) || !strings.HasPrefix(err.Error(), "urlhaus: "+tc.wantErr) {
				t.Fatalf("err = %v, want ErrTooLarge naming the feed, %q and %s", err, tc.wantErr, setting)
			}
		})
	}
	s := newServer(t, serveBytes(payload, ""))
	c, _ := newClient(t, s, nil)
	if _, err := c.Fetch(t.Context(), &Request{Feed: "x", URL: s.URL, MaxBytes: -1}); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("negative MaxBytes: err = %v, want ErrInvalidRequest", err)
	}
}

func TestZipLimits(t *testing.T) {
	t.Parallel()
	csv := readFixture(t)
	many := make([]zipEntry, 20)
	for i := range many {
		many[i] = zipEntry{name: strings.Repeat("f", i+1) + ".csv", data: csv}
	}
	cases := []struct {
		name string
		zip  []byte
		lim  ZipLimits
		want error
	}{
		{"ratio", zipBytes(t, zipEntry{"zeros.csv", make([]byte, 4<<20)}), ZipLimits{}, ErrZipBomb},
		{"entries", zipBytes(t, many...), ZipLimits{}, ErrZipBomb},
		{"total", zipBytes(t, zipEntry{"a.csv", csv}, zipEntry{"b.csv", csv}), ZipLimits{MaxTotal: uint64(len(csv)) + 1}, ErrZipBomb},
		{"only directories", zipBytes(t, zipEntry{"d/", nil}), ZipLimits{}, ErrArchive},
		{"truncated", zipBytes(t, zipEntry{"a.csv", csv})[:40], ZipLimits{}, ErrArchive},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, serveBytes(tc.zip, ""))
			tmp := t.TempDir()
			c, _ := newClient(t, s, &Options{Zip: tc.lim, TempDir: tmp})
			_, _, err := fetchAll(t, c, &Request{Feed: "threatfox", URL: s.URL})
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if left := dirEntries(t, tmp); len(left) != 0 {
				t.Errorf("temporary files left: %q", left)
			}
		})
	}
}

// TestStreamingMemory checks that memory stays flat in payload size: 64 MiB
// go through (plain, gzip-encoded, zipped and spooled to disk) while the whole process allocates a
// small fraction of that. Not parallel: it reads process-wide counters.
func TestStreamingMemory(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("moves 192 MiB: too slow with -short or under the race detector")
	}
	const size = 64 << 20
	for _, enc := range []string{"", "gzip", "zip"} {
		var sent countingWriter
		s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
			sent = countingWriter{w: w}
			var dst io.Writer = &sent
			switch enc {
			case "gzip":
				w.Header().Set("Content-Encoding", "gzip")
				zw, _ := gzip.NewWriterLevel(&sent, gzip.BestSpeed)
				defer zw.Close()
				dst = zw
			case "zip":
				zw := zip.NewWriter(&sent)
				defer zw.Close()
				dst, _ = zw.Create("full.csv")
			}
			io.CopyN(dst, &pattern{x: 7}, size)
		})
		c, _ := newClient(t, s, nil)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		resp, err := c.Fetch(t.Context(), &Request{Feed: "big", URL: s.URL})
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		runtime.ReadMemStats(&after)
		if err != nil || n != size || resp.Bytes() != size {
			t.Fatalf("%q: read %d (Bytes %d), %v; want %d", enc, n, resp.Bytes(), err, size)
		}
		alloc := after.TotalAlloc - before.TotalAlloc
		t.Logf("%q: %d payload bytes (%d on the wire), %d bytes allocated", enc, n, sent.n, alloc)
		if alloc > size/8 {
			t.Errorf("%q: allocated %d bytes for a %d-byte payload: not streaming", enc, alloc, size)
		}
	}
}
