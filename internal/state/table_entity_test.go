package state

import (
	"bytes"
	"os"
	"reflect"
	"strings"
	"testing"
)

// readBatchResponse splits testdata/batch_response.txt into its
// Content-Type and body.
func readBatchResponse(tb testing.TB) (string, []byte) {
	tb.Helper()
	return readResponseFile(tb, "testdata/batch_response.txt")
}

// readResponseFile splits a recorded transaction response into its
// Content-Type and body.
func readResponseFile(tb testing.TB, name string) (string, []byte) {
	tb.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		tb.Fatal(err)
	}
	head, body, _ := bytes.Cut(b, []byte("\n\n"))
	return strings.TrimPrefix(string(head), "Content-Type: "), body
}

func TestBatchETags(t *testing.T) {
	t.Parallel()
	ct, body := readBatchResponse(t)
	res, err := batchETags(ct, body)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 3 {
		t.Fatalf("got %d results, want 3", len(res))
	}
	for _, r := range res {
		if !strings.HasPrefix(r.etag, `W/"datetime'`) || len(r.rowKey) != 64 {
			t.Errorf("result %+v: want a datetime ETag and a 64-hex row key", r)
		}
	}
	bad := []struct {
		name, ct string
		body     []byte
	}{
		{"no content type", "", body},
		{"not multipart", "application/json", []byte(`{"odata.error":{}}`)},
		{"wrong boundary", "multipart/mixed; boundary=nope", body},
		{"failed operation", ct, bytes.Replace(body, []byte("204 No Content"), []byte("409 Conflict"), 1)},
		{"no etag", ct, bytes.ReplaceAll(body, []byte("ETag:"), []byte("X-Tag:"))},
	}
	for _, tc := range bad {
		if _, err := batchETags(tc.ct, tc.body); err == nil {
			t.Errorf("%s: batchETags succeeded", tc.name)
		}
	}
}

func TestLocationRowKey(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, want string }{
		{"http://h/t(PartitionKey='i02',RowKey='0a98')", "0a98"},
		{"http://h/t(PartitionKey='i02')", ""},
		{"RowKey='unterminated", ""},
		{"", ""},
	}
	for _, tc := range cases {
		if got := locationRowKey(tc.in); got != tc.want {
			t.Errorf("locationRowKey(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestIndicatorEntityRoundTrip(t *testing.T) {
	t.Parallel()
	full := sample("domain:a.example")
	empty := &Indicator{Key: "sha256:" + strings.Repeat("ab", 32)}
	for _, in := range []*Indicator{full, empty} {
		b, err := encodeIndicator(in)
		if err != nil {
			t.Fatal(err)
		}
		out, err := decodeIndicator(b, `W/"x"`)
		if err != nil {
			t.Fatal(err)
		}
		if out.ETag != `W/"x"` {
			t.Errorf("ETag = %q", out.ETag)
		}
		sameRecord(t, in, out)
	}
}

func TestLocation(t *testing.T) {
	t.Parallel()
	seen := make(map[string]bool)
	for _, k := range keysIn("loc", "", 5000) {
		pk, rk := location(k)
		if len(pk) != 3 || pk[0] != 'i' || pk > "i3f" || len(rk) != 64 {
			t.Fatalf("location(%q) = %q, %q", k, pk, rk)
		}
		seen[pk] = true
	}
	if len(seen) != partitionCount {
		t.Errorf("5000 keys fell in %d partitions, want %d", len(seen), partitionCount)
	}
}

func FuzzDecodeIndicator(f *testing.F) {
	if b, err := encodeIndicator(sample("domain:a.example")); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"PartitionKey":"i00","RowKey":"x","Key":"k","Sources":"[{}]","Created":"2025-01-01T00:00:00Z","Object":"{}"}`))
	f.Add([]byte(`{"Key":"k","Labels":"[1]"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ind, err := decodeIndicator(data, "")
		if err != nil || ind.Key == "" || validate([]*Indicator{ind}) != nil {
			return
		}
		b, err := encodeIndicator(ind)
		if err != nil {
			return // e.g. sources too long once re-encoded
		}
		again, err := decodeIndicator(b, "")
		if err != nil {
			t.Fatalf("decoding an encoded indicator: %v", err)
		}
		ind.ETag = ""
		// Empty slices do not survive the round trip; nil them first.
		for _, x := range []*Indicator{ind, again} {
			if len(x.Sources) == 0 {
				x.Sources = nil
			}
			if len(x.Labels) == 0 {
				x.Labels = nil
			}
		}
		if !reflect.DeepEqual(ind, again) {
			t.Fatalf("round trip mismatch:\n%+v\n%+v", ind, again)
		}
	})
}

func FuzzBatchETags(f *testing.F) {
	ct, body := readBatchResponse(f)
	f.Add(ct, body)
	f.Add("multipart/mixed; boundary=b", []byte("--b\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n--c\r\n\r\nHTTP/1.1 204 No Content\r\nETag: x\r\n\r\n--c--\r\n--b--\r\n"))
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		res, err := batchETags(ct, body)
		if err != nil {
			return
		}
		for _, r := range res {
			if r.etag == "" {
				t.Fatalf("result without ETag: %+v", res)
			}
		}
	})
}

func TestBatchFailure(t *testing.T) {
	t.Parallel()
	ct, body := readResponseFile(t, "testdata/batch_conflict_response.txt")
	i, status, err := batchFailure(ct, body)
	if err != nil || i != 1 || status != 409 {
		t.Fatalf("batchFailure = %d, %d, %v; want 1, 409", i, status, err)
	}
	okCT, okBody := readBatchResponse(t)
	msg := []byte(`"value":"1:The specified`)
	bad := []struct {
		name, ct string
		body     []byte
	}{
		{"success response", okCT, okBody},
		{"not multipart", "application/json", []byte(`{"odata.error":{"message":{"value":"1:x"}}}`)},
		{"no index", ct, bytes.Replace(body, msg, []byte(`"value":"The specified`), 1)},
		{"index not a number", ct, bytes.Replace(body, msg, []byte(`"value":"x1:The specified`), 1)},
		{"index too long", ct, bytes.Replace(body, msg, []byte(`"value":"1000:The specified`), 1)},
		{"not JSON", ct, bytes.Replace(body, []byte(`{"odata.error"`), []byte(`<"odata.error"`), 1)},
		{"status not an error", ct, bytes.Replace(body, []byte("409 Conflict"), []byte("204 No Content"), 1)},
		{"truncated", ct, body[:len(body)/2]},
	}
	for _, tc := range bad {
		if i, st, err := batchFailure(tc.ct, tc.body); err == nil {
			t.Errorf("%s: batchFailure = %d, %d, nil; want an error", tc.name, i, st)
		}
	}
}

func FuzzBatchFailure(f *testing.F) {
	ct, body := readResponseFile(f, "testdata/batch_conflict_response.txt")
	f.Add(ct, body)
	f.Add("multipart/mixed; boundary=b", []byte("--b\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n--c\r\n\r\nHTTP/1.1 412 Precondition Failed\r\n\r\n{\"odata.error\":{\"message\":{\"value\":\"99:x\"}}}\r\n--c--\r\n--b--\r\n"))
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		i, status, err := batchFailure(ct, body)
		if err != nil {
			return
		}
		if i < 0 || i > 999 || status < 400 {
			t.Fatalf("batchFailure = %d, %d: want an index in [0, 999] and an error status", i, status)
		}
	})
}
