package fetch

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestValidatorsRoundTrip(t *testing.T) {
	t.Parallel()
	const etag, lastMod = `"v1"`, "Mon, 02 Jan 2006 15:04:05 GMT"
	cases := []struct {
		name string
		v    func(Validators) Validators // what the second request sends
	}{
		{"etag", func(v Validators) Validators { return Validators{ETag: v.ETag} }},
		{"last-modified", func(v Validators) Validators { return Validators{LastModified: v.LastModified} }},
		{"both", func(v Validators) Validators { return v }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("If-None-Match") == etag || r.Header.Get("If-Modified-Since") == lastMod {
					w.WriteHeader(http.StatusNotModified)
					return
				}
				w.Header().Set("ETag", etag)
				w.Header().Set("Last-Modified", lastMod)
				io.WriteString(w, "payload")
			})
			c, _ := newClient(t, s, nil)
			req := &Request{Feed: "urlhaus", URL: s.URL + "/csv"}
			got, resp, err := fetchAll(t, c, req)
			if err != nil || string(got) != "payload" {
				t.Fatalf("first fetch = %q, %v", got, err)
			}
			if v := resp.Validators(); v != (Validators{ETag: etag, LastModified: lastMod}) {
				t.Fatalf("Validators() = %+v", v)
			}
			req.SetValidators(tc.v(resp.Validators()))
			resp2, err := c.Fetch(context.Background(), req)
			if !errors.Is(err, ErrNotModified) || resp2 != nil {
				t.Fatalf("second fetch = %v, %v; want nil, ErrNotModified", resp2, err)
			}
			if !strings.HasPrefix(err.Error(), "urlhaus: ") {
				t.Errorf("error %q does not name the feed", err)
			}
		})
	}
}

func TestAuthErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		status  int
		req     Request
		wantMsg string
	}{
		{
			name:    "key refused",
			status:  http.StatusForbidden,
			req:     Request{AuthKey: testKey, AuthKeySetting: "ABUSECH_AUTH_KEY", AuthKeyURL: "https://auth.abuse.ch/"},
			wantMsg: "threatfox: the server refused the Auth-Key (HTTP 403); set ABUSECH_AUTH_KEY to a valid key from https://auth.abuse.ch/",
		},
		{
			name:    "key missing",
			status:  http.StatusUnauthorized,
			req:     Request{AuthKeySetting: "ABUSECH_AUTH_KEY"},
			wantMsg: "threatfox: the server requires an Auth-Key (HTTP 401); set ABUSECH_AUTH_KEY",
		},
		{
			name:    "no key setting",
			status:  http.StatusForbidden,
			wantMsg: "threatfox: the server refused the request (HTTP 403); check the feed URL and whether the source needs a key",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				// Echo the key, as a careless server might.
				io.WriteString(w, `{"query_status":"auth_key_required","key":"`+r.Header.Get("Auth-Key")+`"}`)
			})
			c, logs := newClient(t, s, nil)
			req := tc.req
			req.Feed, req.URL = "threatfox", s.URL+"/api/v1/"
			_, _, err := fetchAll(t, c, &req)
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v (%T), want *ConfigError", err, err)
			}
			if got := err.Error(); got != tc.wantMsg {
				t.Errorf("message mismatch\n got %s\nwant %s", got, tc.wantMsg)
			}
			if ce.StatusCode != tc.status || ce.Setting != tc.req.AuthKeySetting {
				t.Errorf("ConfigError = %+v", ce)
			}
			if n := s.hits.Load(); n != 1 {
				t.Errorf("%d requests, want exactly 1 (no retry on %d)", n, tc.status)
			}
			if strings.Contains(logs.String(), testKey) {
				t.Error("the Auth-Key appears in the logs")
			}
		})
	}
}

func TestKeyNeverInErrors(t *testing.T) {
	t.Parallel()
	for _, status := range []int{http.StatusBadRequest, http.StatusNotFound, http.StatusInternalServerError} {
		s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(status)
			io.WriteString(w, "bad key: "+r.Header.Get("Auth-Key")+"\n"+r.URL.RawQuery)
		})
		c, logs := newClient(t, s, &Options{MaxRetries: 1})
		_, _, err := fetchAll(t, c, &Request{Feed: "mb", URL: s.URL + "/?k=" + testKey, AuthKey: testKey})
		var se *StatusError
		if !errors.As(err, &se) || se.StatusCode != status {
			t.Fatalf("status %d: err = %v, want *StatusError", status, err)
		}
		if strings.Contains(err.Error(), testKey) || strings.Contains(logs.String(), testKey) {
			t.Errorf("status %d: key leaked: %v", status, err)
		}
		if !strings.Contains(se.Snippet, "bad key: [REDACTED]") {
			t.Errorf("status %d: snippet %q lacks the redacted echo", status, se.Snippet)
		}
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	t.Parallel()
	s := newServerN(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		io.WriteString(w, "ok")
	})
	c, _ := newClient(t, s, nil)
	got, _, err := fetchAll(t, c, &Request{Feed: "tf", URL: s.URL})
	if err != nil || string(got) != "ok" {
		t.Fatalf("Fetch = %q, %v", got, err)
	}
	if n := s.hits.Load(); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

// A Retry-After beyond MaxRetryDelay is read and obeyed: no early retry,
// the hint is handed to the caller.
func TestRetryAfterTooLong(t *testing.T) {
	t.Parallel()
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "120")
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, "slow down")
	})
	c, _ := newClient(t, s, &Options{MaxRetryDelay: time.Second})
	_, _, err := fetchAll(t, c, &Request{Feed: "tf", URL: s.URL})
	var se *StatusError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v, want *StatusError", err)
	}
	if se.StatusCode != http.StatusTooManyRequests || se.RetryAfter != 120*time.Second || se.Snippet != "slow down" {
		t.Errorf("StatusError = %+v", se)
	}
	if n := s.hits.Load(); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestServerErrorsExhaustRetries(t *testing.T) {
	t.Parallel()
	for _, retries := range []int{-1, 1, 3} {
		s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "<html>boom</html>", http.StatusBadGateway)
		})
		c, logs := newClient(t, s, &Options{MaxRetries: retries})
		_, _, err := fetchAll(t, c, &Request{Feed: "feodo", URL: s.URL})
		var se *StatusError
		if !errors.As(err, &se) || se.StatusCode != http.StatusBadGateway {
			t.Fatalf("retries %d: err = %v, want *StatusError 502", retries, err)
		}
		want := int64(max(retries, 0) + 1)
		if n := s.hits.Load(); n != want {
			t.Errorf("retries %d: %d requests, want %d", retries, n, want)
		}
		if want > 1 && !strings.Contains(logs.String(), "fetch retry") {
			t.Errorf("retries %d: no retry logged", retries)
		}
	}
}

func TestPostBodyResentOnRetry(t *testing.T) {
	t.Parallel()
	var bodies []string
	s := newServerN(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		b, _ := io.ReadAll(r.Body)
		bodies = append(bodies, r.Method+" "+r.Header.Get("Content-Type")+" "+string(b))
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, `{"query_status":"ok"}`)
	})
	c, _ := newClient(t, s, nil)
	body := []byte(`{"query":"get_iocs","days":1}`)
	got, _, err := fetchAll(t, c, &Request{Feed: "threatfox", URL: s.URL, Body: body, ContentType: "application/json"})
	if err != nil || string(got) != `{"query_status":"ok"}` {
		t.Fatalf("Fetch = %q, %v", got, err)
	}
	want := "POST application/json " + string(body)
	if len(bodies) != 2 || bodies[0] != want || bodies[1] != want {
		t.Errorf("bodies = %q, want twice %q", bodies, want)
	}
}

func TestHeadersSent(t *testing.T) {
	t.Parallel()
	var got http.Header
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) { got = r.Header.Clone() })
	for _, ua := range []string{"", "feeds2sentinel/test (+https://example.test)"} {
		c, _ := newClient(t, s, &Options{UserAgent: ua})
		if _, _, err := fetchAll(t, c, &Request{Feed: "x", URL: s.URL, AuthKey: testKey}); err != nil {
			t.Fatal(err)
		}
		want := ua
		if want == "" {
			want = DefaultUserAgent()
		}
		if got.Get("User-Agent") != want {
			t.Errorf("User-Agent = %q, want %q", got.Get("User-Agent"), want)
		}
		if got.Get("Auth-Key") != testKey || got.Get("Accept-Encoding") != "gzip" {
			t.Errorf("headers = %v", got)
		}
	}
	if !strings.HasPrefix(DefaultUserAgent(), "feeds2sentinel/") {
		t.Errorf("DefaultUserAgent() = %q", DefaultUserAgent())
	}
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		h    http.HandlerFunc
	}{
		{"headers", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }},
		{"body", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "partial")
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, tc.h)
			c, _ := newClient(t, s, &Options{Timeout: 200 * time.Millisecond})
			_, _, err := fetchAll(t, c, &Request{Feed: "slow", URL: s.URL})
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err = %v, want context.DeadlineExceeded", err)
			}
			if !strings.HasPrefix(err.Error(), "slow: ") {
				t.Errorf("error %q does not name the feed", err)
			}
		})
	}
}

func TestInvalidRequest(t *testing.T) {
	t.Parallel()
	c, _ := newClient(t, nil, nil)
	for _, u := range []string{"", "ftp://example.test/x", "/relative", "https:///nohost", "http://bad host/?k=" + testKey} {
		_, err := c.Fetch(context.Background(), &Request{Feed: "x", URL: u})
		if !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("URL %q: err = %v, want ErrInvalidRequest", u, err)
		}
		if err != nil && strings.Contains(err.Error(), testKey) {
			t.Errorf("URL %q: error leaks the query: %v", u, err)
		}
	}
	if _, err := c.Fetch(context.Background(), nil); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("nil request: err = %v", err)
	}
}

func TestNetworkErrorNamesHostOnly(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	c, _ := newClient(t, nil, &Options{MaxRetries: -1})
	_, err = c.Fetch(context.Background(), &Request{Feed: "spamhaus", URL: "http://" + addr + "/drop.txt?token=" + testKey, AuthKey: testKey})
	if err == nil {
		t.Fatal("Fetch succeeded against a closed port")
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "spamhaus: GET "+addr+": ") || strings.Contains(msg, "token") || strings.Contains(msg, "drop.txt") {
		t.Errorf("error = %q", msg)
	}
	var ne net.Error
	if !errors.As(err, &ne) {
		t.Errorf("error does not unwrap to net.Error: %v", err)
	}
}

func TestUntrustedCertificateNotRetried(t *testing.T) {
	t.Parallel()
	var conns atomic.Int64
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.StartTLS()
	t.Cleanup(s.Close)
	c, _ := newClient(t, nil, &Options{}) // the default client does not trust the test CA
	_, err := c.Fetch(t.Context(), &Request{Feed: "x", URL: s.URL})
	var cv *tls.CertificateVerificationError
	if !errors.As(err, &cv) {
		t.Fatalf("err = %v, want a certificate verification error", err)
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}

func TestNewRejectsNegative(t *testing.T) {
	t.Parallel()
	if _, err := New(&Options{Timeout: -1}); err == nil {
		t.Error("New accepted a negative Timeout")
	}
	if c, err := New(nil); err != nil || c.timeout != DefaultTimeout || c.defaultMaxBytes != DefaultMaxBytes {
		t.Errorf("New(nil) = %+v, %v", c, err)
	}
}
