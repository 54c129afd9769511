package fetch

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzUnzip feeds arbitrary archives to openMember: it must never panic,
// and whatever member it opens yields at most MaxTotal bytes.
func FuzzUnzip(f *testing.F) {
	csv := readFixture(f)
	seeds := [][]byte{
		zipBytes(f, zipEntry{"full.csv", csv}),
		zipBytes(f, zipEntry{"d/", nil}, zipEntry{"README", []byte("x")}, zipEntry{"d/full.csv", csv}),
		zipBytes(f, zipEntry{"zeros", make([]byte, 2<<20)}),
		zipBytes(f, zipEntry{"a", csv}, zipEntry{"b", csv}, zipEntry{"c", csv}, zipEntry{"d", csv}, zipEntry{"e", csv}),
		[]byte("PK\x03\x04"),
		[]byte("PK\x05\x06\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"),
	}
	lim := ZipLimits{MaxEntries: 4, MaxTotal: 1 << 20, MaxRatio: 50}
	check := func(t testing.TB, data []byte) {
		rc, name, err := openMember(bytes.NewReader(data), int64(len(data)), lim, int64(lim.MaxTotal))
		if err != nil {
			if rc != nil || name != "" {
				t.Fatalf("error %v with a member %q", err, name)
			}
			return
		}
		defer rc.Close()
		n, _ := io.Copy(io.Discard, io.LimitReader(rc, int64(lim.MaxTotal)+1))
		if n > int64(lim.MaxTotal) {
			t.Fatalf("member %q yielded more than MaxTotal (%d)", name, lim.MaxTotal)
		}
	}
	for _, s := range seeds {
		// Warm up once-initialised paths in archive/zip and compress/flate
		// so coverage is stable from the first fuzzed input on.
		check(f, s)
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) { check(t, data) })
}

// FuzzSnippet checks the error-body snippet: bounded, valid UTF-8, one
// line, and never containing an (alphanumeric) key.
func FuzzSnippet(f *testing.F) {
	f.Add([]byte(`{"query_status":"auth_key_required","data":null}`), testKey)
	f.Add(readFixture(f), "0123456789")
	f.Add([]byte("key="+testKey+"\n\x00\xff"+strings.Repeat("é", 300)), testKey)
	f.Fuzz(func(t *testing.T, body []byte, key string) {
		s := snippet(body, NewRedactor(key))
		if len(s) > snippetMax {
			t.Fatalf("snippet of %d bytes", len(s))
		}
		if !utf8.ValidString(s) || strings.ContainsAny(s, "\r\n\t\x00") {
			t.Fatalf("snippet %q not clean one-line text", s)
		}
		if len(key) >= 8 && isAlnum(key) && strings.Contains(s, key) {
			t.Fatalf("key %q leaked in %q", key, s)
		}
	})
}

func isAlnum(s string) bool {
	for _, r := range s {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9') {
			return false
		}
	}
	return true
}
