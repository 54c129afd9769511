package fetch

import (
	"archive/zip"
	"bufio"
	"compress/flate"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"testing"
)

// bigMember is the uncompressed size of the generated full dump: larger
// than the old fixed 512 MiB limit, like the 596 MiB ThreatFox full dump
// that limit refused.
const bigMember = 600 << 20

// writeBigZip writes, in dir, a zip archive whose one member, full.csv, is
// size bytes of ThreatFox-like CSV rows (they compress about 5:1, well
// under DefaultZipMaxRatio), and returns its path.
func writeBigZip(tb testing.TB, dir string, size int64) string {
	tb.Helper()
	path := filepath.Join(dir, "full.zip")
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	zw := zip.NewWriter(bw)
	zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(w, flate.BestSpeed)
	})
	w, err := zw.CreateHeader(&zip.FileHeader{Name: "full.csv", Method: zip.Deflate})
	if err != nil {
		tb.Fatal(err)
	}
	// One MiB of varied rows, written over and over: deflate's 32 KiB
	// window never sees the repetition.
	var block []byte
	p := &pattern{x: 11}
	word := make([]byte, 12)
	for i := 0; len(block) < 1<<20; i++ {
		p.Read(word)
		block = fmt.Appendf(block, "\"2024-07-%02d %02d:%02d:%02d\", \"%d\", \"http://%s.example/%s\", \"url\", \"botnet_cc\", "+
			"\"win.%s\", \"None\", \"Unknown malware\", \"\", \"75\", \"None\", \"%s\", \"0\", \"abuse_ch\"\n",
			1+i%28, i%24, i%60, (i*7)%60, 1300000+i, word[:8], word[4:], word[:5], word[2:9])
	}
	for left := size; left > 0; left -= int64(len(block)) {
		if _, err := w.Write(block[:min(int64(len(block)), left)]); err != nil {
			tb.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	if err := bw.Flush(); err != nil {
		tb.Fatal(err)
	}
	return path
}

// heapUse is what reading a payload cost in heap: bytes allocated, and the
// peak of live heap objects above the level before the fetch.
type heapUse struct{ allocated, peak uint64 }

// fetchMeasured fetches req, reads the whole body and measures the heap
// while doing so (sampling live heap every 8 MiB read).
func fetchMeasured(tb testing.TB, c *Client, req *Request) (int64, heapUse) {
	tb.Helper()
	samples := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}, {Name: "/memory/classes/heap/objects:bytes"}}
	runtime.GC()
	metrics.Read(samples)
	allocs0, live0 := samples[0].Value.Uint64(), samples[1].Value.Uint64()
	var use heapUse
	sample := func() {
		metrics.Read(samples)
		if live := samples[1].Value.Uint64(); live > live0 {
			use.peak = max(use.peak, live-live0)
		}
	}
	resp, err := c.Fetch(tb.Context(), req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 64<<10)
	var n, next int64
	for {
		k, err := resp.Body.Read(buf)
		n += int64(k)
		if n >= next {
			sample()
			next += 8 << 20
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			tb.Fatalf("after %d bytes: %v", n, err)
		}
	}
	sample()
	use.allocated = samples[0].Value.Uint64() - allocs0
	return n, use
}

// bigZipFetch serves a generated full dump of bigMember bytes in a zip and
// returns a client whose default limit (512 MiB) it exceeds, and a request
// whose own limit allows it.
func bigZipFetch(tb testing.TB) (*Client, *Request) {
	tb.Helper()
	path := writeBigZip(tb, tb.TempDir(), bigMember)
	s := newServer(tb, func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, path) })
	c, err := New(&Options{Transport: s.Client(), TempDir: tb.TempDir()})
	if err != nil {
		tb.Fatal(err)
	}
	return c, &Request{Feed: "threatfox-csv", URL: s.URL, MaxBytes: 1 << 30, MaxBytesSetting: "FEED_THREATFOX_CSV_MAX_BYTES"}
}

// TestZipMemberStreams proves that a large zip payload is never held in
// memory: the archive is spooled to a file and its member streamed from it,
// so fetching a 600 MiB member allocates a few MiB in all.
func TestZipMemberStreams(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("generates and reads a 600 MiB member")
	}
	c, req := bigZipFetch(t)
	n, use := fetchMeasured(t, c, req)
	if n != bigMember {
		t.Fatalf("read %d bytes, want %d", n, bigMember)
	}
	t.Logf("%d MiB member: %.1f MiB allocated, peak live heap +%.1f MiB", n>>20, float64(use.allocated)/(1<<20), float64(use.peak)/(1<<20))
	if use.allocated > 32<<20 || use.peak > 32<<20 {
		t.Fatalf("reading a %d MiB member allocated %d bytes (peak live heap +%d): want at most 32 MiB each", n>>20, use.allocated, use.peak)
	}
}

// BenchmarkZipMember fetches a generated 600 MiB full dump in a zip
// (spooled to disk, member streamed) and reports the heap it cost.
func BenchmarkZipMember(b *testing.B) {
	c, req := bigZipFetch(b)
	b.SetBytes(bigMember)
	var use heapUse
	for b.Loop() {
		if n, u := fetchMeasured(b, c, req); n != bigMember {
			b.Fatalf("read %d bytes", n)
		} else {
			use = u
		}
	}
	b.ReportMetric(float64(use.peak)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(use.allocated)/(1<<20), "alloc-MiB")
}
