package fetch

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"testing/iotest"
)

// otherSecret is a second credential, with characters that URL and JSON
// encodings change.
const otherSecret = `tok/en+"42"=&x`

func TestRedactor(t *testing.T) {
	t.Parallel()
	red := NewRedactor(testKey, "", otherSecret)
	cases := []struct{ in, want string }{
		{"plain text", "plain text"},
		{"illegal_auth_key: " + testKey, "illegal_auth_key: [REDACTED]"},
		{testKey + testKey, "[REDACTED][REDACTED]"},
		{"q=" + url.QueryEscape(otherSecret) + "&p=/" + url.PathEscape(otherSecret), "q=[REDACTED]&p=/[REDACTED]"},
		{`{"k":"tok/en+\"42\"=\u0026x"}`, `{"k":"[REDACTED]"}`},
		{`{"k":"tok/en+\"42\"=&x"}`, `{"k":"[REDACTED]"}`},
		{otherSecret, "[REDACTED]"},
		{testKey[:len(testKey)-1], testKey[:len(testKey)-1]}, // not the key
	}
	for _, tc := range cases {
		if got := red.Redact(tc.in); got != tc.want {
			t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
		got, err := io.ReadAll(red.Reader(iotest.OneByteReader(strings.NewReader(tc.in))))
		if err != nil || string(got) != tc.want {
			t.Errorf("Reader(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	var none *Redactor
	if NewRedactor("", "") != nil || none.Redact(testKey) != testKey || none.Reader(nil) != nil || none.Err(io.EOF) != io.EOF {
		t.Error("a Redactor without secrets must change nothing")
	}
}

func TestRedactorErr(t *testing.T) {
	t.Parallel()
	red := NewRedactor(testKey)
	err := fmt.Errorf("parse: %w: query_status %q", io.ErrUnexpectedEOF, "illegal_auth_key: "+testKey)
	got := red.Err(err)
	if strings.Contains(got.Error(), testKey) || !strings.Contains(got.Error(), Redacted) {
		t.Errorf("Err() = %q, want the key redacted", got)
	}
	if !errors.Is(got, io.ErrUnexpectedEOF) {
		t.Error("Err() lost the error chain")
	}
	if clean := errors.New("no secret"); red.Err(clean) != clean || red.Err(nil) != nil {
		t.Error("Err() must return an error without secret unchanged")
	}
}

// TestRedactorReaderSplits: a secret split across reads of every size is
// still redacted, and the stream equals Redact of the whole text.
func TestRedactorReaderSplits(t *testing.T) {
	t.Parallel()
	red := NewRedactor(testKey, otherSecret)
	text := strings.Repeat("x", 100) + testKey + "," + url.QueryEscape(otherSecret) + testKey + strings.Repeat("y", 70000) + testKey
	want := red.Redact(text)
	for _, chunk := range []int{1, 2, 7, len(testKey) - 1, len(testKey), 4096, 1 << 20} {
		got, err := io.ReadAll(red.Reader(&chunkReader{r: strings.NewReader(text), n: chunk}))
		if err != nil || string(got) != want {
			t.Errorf("chunks of %d: %d bytes, %v; want %d bytes", chunk, len(got), err, len(want))
		}
	}
	// A read error is passed on after the data.
	_, err := io.ReadAll(red.Reader(iotest.DataErrReader(iotest.ErrReader(io.ErrUnexpectedEOF))))
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("err = %v, want the source's error", err)
	}
}

// chunkReader returns at most n bytes per Read.
type chunkReader struct {
	r io.Reader
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) { return c.r.Read(p[:min(len(p), c.n)]) }

// FuzzRedactorReader: the streaming redaction equals Redact of the whole
// text, whatever the text, secrets and read sizes.
func FuzzRedactorReader(f *testing.F) {
	f.Add([]byte("a"+testKey+"b"), testKey, "x", 3)
	f.Add([]byte("aaaaaa"), "aa", "a", 1)
	f.Add([]byte(`"tok\/en"`), "tok/en", "", 2)
	f.Fuzz(func(t *testing.T, data []byte, s1, s2 string, chunk int) {
		red := NewRedactor(s1, s2)
		got, err := io.ReadAll(red.Reader(&chunkReader{r: bytes.NewReader(data), n: max(chunk%64, 1)}))
		if err != nil {
			t.Fatal(err)
		}
		if want := red.Redact(string(data)); string(got) != want {
			t.Fatalf("Reader = %q, Redact = %q", got, want)
		}
	})
}

// TestSecretsNeverEchoed feeds the Auth-Key and another secret back through
// every error path of Fetch and through the payload: a 200 whose body is an
// "illegal_auth_key: <key>" status (gzip, zip and plain), error statuses
// quoting the key and its encodings, and a broken gzip stream.
func TestSecretsNeverEchoed(t *testing.T) {
	t.Parallel()
	echo := func(r *http.Request) string {
		return `{"query_status": "illegal_auth_key: ` + r.Header.Get("Auth-Key") + `", "q": "` +
			url.QueryEscape(otherSecret) + `", "raw": "` + otherSecret + `"}`
	}
	cases := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"200 plain", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, echo(r)) }},
		{"200 gzip file", func(w http.ResponseWriter, r *http.Request) { w.Write(gzipBytes(t, []byte(echo(r)))) }},
		{"200 zip", func(w http.ResponseWriter, r *http.Request) {
			w.Write(zipBytes(t, zipEntry{name: "x-" + r.Header.Get("Auth-Key") + ".json", data: []byte(echo(r))}))
		}},
		{"200 long", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, strings.Repeat(echo(r)+"\n", 5000))
		}},
		{"400", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(400); io.WriteString(w, echo(r)) }},
		{"500 json-escaped", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(500)
			io.WriteString(w, `{"k":"tok\/en+\"42\"=\u0026x","a":"`+r.Header.Get("Auth-Key")+`"}`)
		}},
		{"broken gzip", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", "gzip")
			gz := gzipBytes(t, []byte(echo(r)))
			w.Write(gz[:len(gz)/2])
		}},
		{"401", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(401); io.WriteString(w, echo(r)) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, tc.handler)
			c, logs := newClient(t, s, &Options{MaxRetries: -1})
			payload, resp, err := fetchAll(t, c, &Request{Feed: "tf", URL: s.URL + "/?t=" + url.QueryEscape(otherSecret),
				AuthKey: testKey, Secrets: []string{otherSecret}})
			var seen []string
			if err != nil {
				seen = append(seen, err.Error())
				var se *StatusError
				if errors.As(err, &se) {
					seen = append(seen, se.Snippet)
				}
			}
			if resp != nil {
				seen = append(seen, resp.Member)
			}
			seen = append(seen, string(payload), logs.String())
			for _, text := range seen {
				for _, secret := range []string{testKey, otherSecret, url.QueryEscape(otherSecret), `tok\/en+\"42\"=\u0026x`} {
					if strings.Contains(text, secret) {
						t.Errorf("secret %q echoed in %.300q", secret, text)
					}
				}
			}
			if err == nil && !strings.Contains(string(payload), "illegal_auth_key: "+Redacted) {
				t.Errorf("payload %.200q: want the echoed key redacted", payload)
			}
		})
	}
}

// BenchmarkRedactorReader measures the payload redaction on a feed-like
// payload, and on a hostile one full of near-misses (the key's prefix).
func BenchmarkRedactorReader(b *testing.B) {
	red := NewRedactor(testKey)
	for name, line := range map[string]string{
		"feed":      "https://example.com/path,1.2.3.4,botnet_cc,2026-04-24 07:29:26\n",
		"near-miss": "https://example.com/path,1.2.3.4,botnet_cc," + testKey[:20] + "\n",
	} {
		data := bytes.Repeat([]byte(line), 20000)
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := io.Copy(io.Discard, red.Reader(bytes.NewReader(data))); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestCredentialsNeverOverPlainHTTP: a request with a key to a plain-http
// URL is refused before anything is sent, unless the host is loopback.
func TestCredentialsNeverOverPlainHTTP(t *testing.T) {
	t.Parallel()
	c, _ := newClient(t, nil, &Options{MaxRetries: -1, Transport: failTransport{t}})
	for _, req := range []*Request{
		{Feed: "tf", URL: "http://threatfox-api.abuse.ch/api/v1/", AuthKey: testKey},
		{Feed: "x", URL: "HTTP://mirror.example/list", Secrets: []string{otherSecret}},
	} {
		_, err := c.Fetch(t.Context(), req)
		if !errors.Is(err, ErrInvalidRequest) || !strings.Contains(err.Error(), "https") {
			t.Errorf("%s: err = %v, want ErrInvalidRequest asking for https", req.URL, err)
		}
	}
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	c, _ = newClient(t, s, nil)
	local := strings.Replace(s.URL, "127.0.0.1", "localhost", 1)
	for _, u := range []string{s.URL, local} {
		if _, _, err := fetchAll(t, c, &Request{Feed: "tf", URL: u, AuthKey: testKey}); err != nil {
			t.Errorf("%s: %v, want loopback http allowed", u, err)
		}
	}
}

// failTransport fails the test if a request is sent.
type failTransport struct{ t *testing.T }

func (f failTransport) Do(r *http.Request) (*http.Response, error) {
	f.t.Errorf("request sent to %s", r.URL.Host)
	return nil, errors.New("no network in tests")
}
