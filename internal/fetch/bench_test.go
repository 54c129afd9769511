package fetch

import (
	"io"
	"testing"
)

// BenchmarkFetch measures a 4 MiB download through the whole client
// (loopback server, pipeline, decoding, counting) per payload shape.
func BenchmarkFetch(b *testing.B) {
	const size = 4 << 20
	payload := make([]byte, size)
	(&pattern{x: 3}).Read(payload)
	cases := []struct {
		name string
		body []byte
		enc  string
	}{
		{"plain", payload, ""},
		{"gzip", gzipBytes(b, payload), "gzip"},
		{"zip", zipBytes(b, zipEntry{"full.csv", payload}), ""},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			s := newServer(b, serveBytes(tc.body, tc.enc))
			c, err := New(&Options{Transport: s.Client(), TempDir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			req := &Request{Feed: "bench", URL: s.URL}
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				resp, err := c.Fetch(b.Context(), req)
				if err != nil {
					b.Fatal(err)
				}
				if n, err := io.Copy(io.Discard, resp.Body); err != nil || n != size {
					b.Fatalf("read %d, %v", n, err)
				}
				resp.Body.Close()
			}
		})
	}
}
