package invoke

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestAddr(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		env  map[string]string
		want string
	}{
		{name: "custom handler port", env: map[string]string{"FUNCTIONS_CUSTOMHANDLER_PORT": "34567", "FUNCTIONS_HTTPWORKER_PORT": "1"}, want: "127.0.0.1:34567"},
		{name: "legacy http worker port", env: map[string]string{"FUNCTIONS_HTTPWORKER_PORT": "4000"}, want: "127.0.0.1:4000"},
		{name: "not under the host", env: nil, want: ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := Addr(func(k string) string { return tc.env[k] }); got != tc.want {
				t.Errorf("Addr = %q, want %q", got, tc.want)
			}
		})
	}
}

// client returns an HTTP client that opens a new connection per request,
// so that refused connections are observed.
func client() *http.Client {
	return &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
}

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestServeReadiness(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	addr := freeAddr(t)
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "next "+r.Method+" "+r.URL.Path, http.StatusTeapot)
	})
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ServeOptions{Addr: addr, Handler: next}) }()

	c := client()
	var resp *http.Response
	var err error
	for time.Since(start) < 2*time.Second {
		if resp, err = c.Get("http://" + addr + "/"); err == nil {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("GET / never answered: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	t.Logf("ready after %v", time.Since(start))
	if resp.StatusCode != 200 || string(b) != "ok\n" {
		t.Errorf("GET / = %d %q, want 200 ok", resp.StatusCode, b)
	}

	cases := []struct {
		method, path string
		want         int
	}{
		{"HEAD", "/", 200},
		{"POST", "/", http.StatusTeapot},
		{"GET", "/FeedThreatFox", http.StatusTeapot},
		{"GET", "/api/status", http.StatusTeapot},
	}
	for _, tc := range cases {
		req, _ := http.NewRequestWithContext(ctx, tc.method, "http://"+addr+tc.path, nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.method, tc.path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s = %d, want %d", tc.method, tc.path, resp.StatusCode, tc.want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve = %v, want nil", err)
	}
}

func TestServeDrains(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	started, release := make(chan struct{}), make(chan struct{})
	slow := Handler("Slow", func(ctx context.Context, inv *Invocation) (*Response, error) {
		close(started)
		select {
		case <-release:
			return &Response{ReturnValue: "done"}, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}, nil)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ServeOptions{Listener: ln, Handler: slow, DrainTimeout: 10 * time.Second}) }()

	c := client()
	type result struct {
		status int
		body   string
		err    error
	}
	inflight := make(chan result, 1)
	go func() {
		resp, err := c.Post(url+"/Slow", "application/json", strings.NewReader(`{}`))
		if err != nil {
			inflight <- result{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		inflight <- result{status: resp.StatusCode, body: string(b)}
	}()
	<-started
	cancel()

	// New connections are refused once the drain has begun.
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := c.Get(url + "/")
		if err != nil {
			break
		}
		resp.Body.Close()
		if time.Now().After(deadline) {
			t.Fatal("server still accepts connections after cancel")
		}
		time.Sleep(2 * time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("Serve returned %v before the in-flight invocation finished", err)
	default:
	}

	close(release)
	r := <-inflight
	if r.err != nil || r.status != 200 || !strings.Contains(r.body, `"ReturnValue":"done"`) {
		t.Errorf("in-flight invocation = %+v, want 200 done", r)
	}
	if err := <-done; err != nil {
		t.Errorf("Serve = %v, want nil after a clean drain", err)
	}
}

func TestServeDrainTimeout(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	stuck := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
	})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, ServeOptions{Listener: ln, Handler: stuck, DrainTimeout: 50 * time.Millisecond})
	}()
	go func() {
		resp, err := client().Get("http://" + ln.Addr().String() + "/Stuck")
		if err == nil {
			resp.Body.Close()
		}
	}()
	<-started
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Serve = %v, want a drain deadline error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after the drain bound")
	}
}

func TestServeErrors(t *testing.T) {
	t.Parallel()
	if err := Serve(t.Context(), ServeOptions{}); !errors.Is(err, ErrNoAddr) {
		t.Errorf("Serve without address = %v, want ErrNoAddr", err)
	}
	if err := Serve(t.Context(), ServeOptions{Addr: "256.0.0.1:1"}); err == nil || !strings.Contains(err.Error(), "listen") {
		t.Errorf("Serve on a bad address = %v, want a listen error", err)
	}
}
