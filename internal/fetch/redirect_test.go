package fetch

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// keyRecorder records the Auth-Key header each request carried.
type keyRecorder struct {
	mu   sync.Mutex
	keys []string
}

func (k *keyRecorder) add(r *http.Request) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.keys = append(k.keys, r.Header.Get("Auth-Key"))
}

func (k *keyRecorder) get() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]string(nil), k.keys...)
}

func TestRedirectAuthKey(t *testing.T) {
	t.Parallel()
	var seenB keyRecorder
	b := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		seenB.add(r)
		io.WriteString(w, "from b")
	})
	var seenA keyRecorder
	a := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		seenA.add(r)
		switch r.URL.Path {
		case "/same":
			http.Redirect(w, r, "/final", http.StatusFound)
		case "/other":
			http.Redirect(w, r, b.URL+"/final", http.StatusMovedPermanently)
		default:
			io.WriteString(w, "from a")
		}
	})
	c, _ := newClient(t, a, nil)

	got, _, err := fetchAll(t, c, &Request{Feed: "x", URL: a.URL + "/same", AuthKey: testKey})
	if err != nil || string(got) != "from a" {
		t.Fatalf("same-host redirect: %q, %v", got, err)
	}
	if keys := seenA.get(); len(keys) != 2 || keys[0] != testKey || keys[1] != testKey {
		t.Errorf("same-host redirect: keys seen %q, want the key twice", keys)
	}

	got, _, err = fetchAll(t, c, &Request{Feed: "x", URL: a.URL + "/other", AuthKey: testKey})
	if err != nil || string(got) != "from b" {
		t.Fatalf("cross-host redirect: %q, %v", got, err)
	}
	if keys := seenB.get(); len(keys) != 1 || keys[0] != "" {
		t.Errorf("cross-host redirect: the other host saw Auth-Key %q", keys)
	}
}

func TestRedirectRefused(t *testing.T) {
	t.Parallel()
	plain := newServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "plain") })

	var tlsHits int
	var mu sync.Mutex
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		tlsHits++
		mu.Unlock()
		http.Redirect(w, r, plain.URL+"/x", http.StatusFound)
	}))
	t.Cleanup(tlsSrv.Close)

	loop := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/again", http.StatusFound)
	})
	elsewhere := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "file:///etc/passwd", http.StatusFound)
	})

	cases := []struct {
		name     string
		client   *http.Client
		url      string
		hits     func() int64
		wantHits int64
	}{
		{"downgrade", tlsSrv.Client(), tlsSrv.URL, func() int64 { mu.Lock(); defer mu.Unlock(); return int64(tlsHits) }, 1},
		{"too many", loop.Client(), loop.URL, loop.hits.Load, 1 + maxRedirects},
		{"scheme", elsewhere.Client(), elsewhere.URL, elsewhere.hits.Load, 1},
	}
	for _, tc := range cases {
		c, _ := newClient(t, nil, &Options{Transport: tc.client})
		_, _, err := fetchAll(t, c, &Request{Feed: "x", URL: tc.url, AuthKey: testKey})
		if !errors.Is(err, ErrRedirect) {
			t.Errorf("%s: err = %v, want ErrRedirect", tc.name, err)
			continue
		}
		if n := tc.hits(); n != tc.wantHits {
			t.Errorf("%s: %d requests, want %d (refused redirects are not retried)", tc.name, n, tc.wantHits)
		}
		if strings.Contains(err.Error(), testKey) {
			t.Errorf("%s: key in error", tc.name)
		}
	}
	if n := plain.hits.Load(); n != 0 {
		t.Errorf("the http server was reached %d times after a downgrade", n)
	}
}

// The caller's *http.Client keeps its own CheckRedirect (run after ours)
// and is not modified.
func TestRedirectPolicyChainsCallerPolicy(t *testing.T) {
	t.Parallel()
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" {
			http.Redirect(w, r, "/next", http.StatusFound)
			return
		}
		io.WriteString(w, "next")
	})
	hc := s.Client()
	called := 0
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { called++; return nil }
	c, _ := newClient(t, nil, &Options{Transport: hc})
	if _, _, err := fetchAll(t, c, &Request{Feed: "x", URL: s.URL}); err != nil {
		t.Fatal(err)
	}
	if called != 1 {
		t.Errorf("caller CheckRedirect called %d times, want 1", called)
	}
}
