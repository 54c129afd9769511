package sentinel_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/feeds2sentinel/feeds2sentinel/internal/sentinel"
	"github.com/feeds2sentinel/feeds2sentinel/internal/sentinel/sentineltest"
)

func TestThrottledWaitsWhenItFits(t *testing.T) {
	t.Parallel()
	for _, header := range []bool{false, true} {
		f := newFixture(t, sentineltest.ServerOptions{RetryAfterHeader: header}, sentinel.Options{})
		f.srv.Inject(sentineltest.Fault{Status: http.StatusTooManyRequests, RetryAfter: 45 * time.Second})
		res, err := f.client.Upload(context.Background(), indicators(0, 10))
		if err != nil || res.Accepted != 10 {
			t.Fatalf("header=%v: %+v, %v", header, res, err)
		}
		if waited := f.clock.Now().Sub(testStart); waited < 45*time.Second {
			t.Errorf("header=%v: retried after %v of fake time, want >= 45s", header, waited)
		}
		if st := f.client.Stats(); st.Throttled != 1 || st.Requests != 2 || st.Retries != 1 {
			t.Errorf("header=%v: stats = %+v", header, st)
		}
	}
}

func TestThrottledErrorWhenDeadlineTooShort(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sentineltest.ServerOptions{}, sentinel.Options{})
	f.srv.Inject(sentineltest.Fault{Status: http.StatusTooManyRequests, RetryAfter: 45 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := f.client.Upload(ctx, indicators(0, 1))
	var te *sentinel.ThrottledError
	if !errors.As(err, &te) || te.RetryAfter != 45*time.Second || !errors.Is(err, sentinel.ErrTransient) || errors.Is(err, sentinel.ErrPermanent) {
		t.Fatalf("err = %v", err)
	}
	// The 429 paused the limiter: the next request waits until +45s of fake time.
	if _, err := f.client.Upload(context.Background(), indicators(1, 1)); err != nil {
		t.Fatal(err)
	}
	if got := f.clock.Now().Sub(testStart); got < 45*time.Second {
		t.Fatalf("next request after %v, want >= 45s", got)
	}
}

func TestThrottledNeverWait(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sentineltest.ServerOptions{}, sentinel.Options{MaxThrottleWait: -1})
	f.srv.Inject(sentineltest.Fault{Status: http.StatusTooManyRequests, RetryAfter: 2 * time.Second})
	var te *sentinel.ThrottledError
	if _, err := f.client.Upload(context.Background(), indicators(0, 1)); !errors.As(err, &te) || te.RetryAfter != 2*time.Second {
		t.Fatalf("err = %v", err)
	}
}

func TestServerErrorsRetried(t *testing.T) {
	t.Parallel()
	t.Run("then success", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, sentineltest.ServerOptions{}, sentinel.Options{})
		f.srv.Inject(sentineltest.Fault{Status: 500}, sentineltest.Fault{Status: 503})
		res, err := f.client.Upload(context.Background(), indicators(0, 5))
		if err != nil || res.Accepted != 5 {
			t.Fatalf("%+v, %v", res, err)
		}
		if st := f.client.Stats(); st.Requests != 3 || st.Retries != 2 {
			t.Fatalf("stats = %+v", st)
		}
	})
	t.Run("exhausted", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, sentineltest.ServerOptions{}, sentinel.Options{MaxRetries: 2})
		f.srv.Inject(sentineltest.Fault{Status: 500, Times: -1})
		_, err := f.client.Upload(context.Background(), indicators(0, 5))
		var re *sentinel.ResponseError
		if !errors.As(err, &re) || re.StatusCode != 500 || re.Message != "Internal server error" || !re.Transient() ||
			!errors.Is(err, sentinel.ErrTransient) || errors.Is(err, sentinel.ErrPermanent) {
			t.Fatalf("err = %v", err)
		}
		if n := len(f.srv.Requests()); n != 3 {
			t.Fatalf("%d requests, want 3", n)
		}
	})
}

func TestTimeouts(t *testing.T) {
	t.Parallel()
	t.Run("retried", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, sentineltest.ServerOptions{}, sentinel.Options{TryTimeout: 50 * time.Millisecond})
		f.srv.Inject(sentineltest.Fault{Delay: 5 * time.Second})
		if res, err := f.client.Upload(context.Background(), indicators(0, 1)); err != nil || res.Accepted != 1 {
			t.Fatalf("%+v, %v", res, err)
		}
	})
	t.Run("caller deadline", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, sentineltest.ServerOptions{}, sentinel.Options{})
		f.srv.Inject(sentineltest.Fault{Delay: 5 * time.Second, Times: -1})
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, err := f.client.Upload(ctx, indicators(0, 1))
		var re *sentinel.ResponseError
		if !errors.As(err, &re) || re.StatusCode != 0 || !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, sentinel.ErrTransient) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestPermanentErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		status int
		hint   string
	}{
		{"bad request", 400, "malformed"},
		// No token is sent to a loopback http endpoint: a 401 can't
		// be about a refused token (it said "even after a refresh").
		{"unauthorized", 401, "no access token is sent to a plain-http loopback"},
		{"forbidden", 403, "lacks the Microsoft Sentinel Contributor role"},
		{"not found", 404, "SENTINEL_WORKSPACE_ID=" + testWorkspace + " not found: use the workspace ID (GUID)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, sentineltest.ServerOptions{}, sentinel.Options{})
			f.srv.Inject(sentineltest.Fault{Status: tc.status, Times: -1})
			_, err := f.client.Upload(context.Background(), indicators(0, 3))
			var re *sentinel.ResponseError
			if !errors.As(err, &re) || re.StatusCode != tc.status || !re.Permanent() ||
				!errors.Is(err, sentinel.ErrPermanent) || errors.Is(err, sentinel.ErrTransient) {
				t.Fatalf("err = %v", err)
			}
			if !strings.Contains(err.Error(), tc.hint) {
				t.Errorf("error %q lacks %q", err, tc.hint)
			}
			if n := len(f.srv.Requests()); n != 1 {
				t.Errorf("%d requests, want 1 (no retries for %d without a credential)", n, tc.status)
			}
		})
	}
}

func TestWrongWorkspaceIs404(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sentineltest.ServerOptions{Workspaces: []string{"ffffffff-1234-4abc-8def-0123456789ab"}}, sentinel.Options{})
	_, err := f.client.Upload(context.Background(), indicators(0, 1))
	var re *sentinel.ResponseError
	if !errors.As(err, &re) || re.StatusCode != 404 || !strings.Contains(re.Hint, "not the resource ID") {
		t.Fatalf("err = %v", err)
	}
}

func TestBearerToken(t *testing.T) {
	t.Parallel()
	t.Run("sent over https", func(t *testing.T) {
		t.Parallel()
		cred := &fakeCredential{tokens: []string{"tok-1"}}
		f := newFixture(t, sentineltest.ServerOptions{TLS: true, RequireToken: true}, sentinel.Options{Credential: cred})
		for i := range 3 {
			if _, err := f.client.Upload(context.Background(), indicators(i, 1)); err != nil {
				t.Fatal(err)
			}
		}
		for _, r := range f.srv.Requests() {
			if r.Token != "tok-1" {
				t.Fatalf("request token %q", r.Token)
			}
		}
		if cred.count() != 1 || len(cred.scopes) != 1 || cred.scopes[0] != sentinel.Scope {
			t.Fatalf("GetToken calls = %d, scopes %v (want one cached token for %s)", cred.count(), cred.scopes, sentinel.Scope)
		}
	})
	t.Run("401 refreshes once", func(t *testing.T) {
		t.Parallel()
		cred := &fakeCredential{tokens: []string{"stale", "fresh"}}
		f := newFixture(t, sentineltest.ServerOptions{TLS: true, RequireToken: true, ValidToken: func(s string) bool { return s == "fresh" }},
			sentinel.Options{Credential: cred})
		if res, err := f.client.Upload(context.Background(), indicators(0, 1)); err != nil || res.Accepted != 1 {
			t.Fatalf("%+v, %v", res, err)
		}
		if cred.count() != 2 || len(f.srv.Requests()) != 2 {
			t.Fatalf("GetToken calls %d, requests %d; want 2, 2", cred.count(), len(f.srv.Requests()))
		}
	})
	t.Run("401 twice is permanent", func(t *testing.T) {
		t.Parallel()
		cred := &fakeCredential{tokens: []string{"graph-token"}}
		f := newFixture(t, sentineltest.ServerOptions{TLS: true, RequireToken: true, ValidToken: func(string) bool { return false }},
			sentinel.Options{Credential: cred})
		_, err := f.client.Upload(context.Background(), indicators(0, 1))
		var re *sentinel.ResponseError
		if !errors.As(err, &re) || re.StatusCode != 401 || !errors.Is(err, sentinel.ErrPermanent) {
			t.Fatalf("err = %v", err)
		}
		if len(f.srv.Requests()) != 2 {
			t.Fatalf("%d requests, want 2", len(f.srv.Requests()))
		}
		if !strings.Contains(re.Hint, "even after a refresh") || !strings.Contains(re.Hint, "https://management.azure.com") {
			t.Errorf("hint %q", re.Hint)
		}
	})
	t.Run("none to loopback http", func(t *testing.T) {
		t.Parallel()
		cred := &fakeCredential{tokens: []string{"secret"}}
		f := newFixture(t, sentineltest.ServerOptions{}, sentinel.Options{Credential: cred})
		if _, err := f.client.Upload(context.Background(), indicators(0, 1)); err != nil {
			t.Fatal(err)
		}
		if r := f.srv.Requests(); r[0].Token != "" || cred.count() != 0 {
			t.Fatalf("token %q sent, GetToken called %d times", r[0].Token, cred.count())
		}
	})
	t.Run("fake rejects a missing token", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, sentineltest.ServerOptions{RequireToken: true}, sentinel.Options{})
		var re *sentinel.ResponseError
		if _, err := f.client.Upload(context.Background(), indicators(0, 1)); !errors.As(err, &re) || re.StatusCode != 401 ||
			re.Message != "Unauthorized. Access token is missing or invalid." {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestLimiterNeverExceedsRateAgainstFake(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sentineltest.ServerOptions{}, sentinel.Options{})
	const uploads = 300
	for i := range uploads {
		if _, err := f.client.Upload(context.Background(), indicators(i, 1)); err != nil {
			t.Fatalf("upload %d: %v", i, err)
		}
	}
	reqs := f.srv.Requests()
	if len(reqs) != uploads {
		t.Fatalf("%d requests (throttled: %d), want %d", len(reqs), f.client.Stats().Throttled, uploads)
	}
	if worst := worstWindow(reqs); worst > sentinel.DefaultRequestsPerMinute {
		t.Fatalf("%d requests in one closed minute, want <= %d", worst, sentinel.DefaultRequestsPerMinute)
	}
	elapsed := reqs[len(reqs)-1].Time.Sub(reqs[0].Time)
	if want := time.Duration(uploads-1) * time.Minute / sentinel.DefaultRequestsPerMinute; elapsed > want+time.Second {
		t.Fatalf("took %v of fake time, want about %v", elapsed, want)
	}
}

func TestConcurrentUploads(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sentineltest.ServerOptions{}, sentinel.Options{})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for k := range 25 {
				if _, err := f.client.Upload(context.Background(), indicators(g*1000+k*10, 10)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	st := f.client.Stats()
	if st.Requests != 100 || st.Accepted != 1000 || st.Throttled != 0 || st.Retries != 0 {
		t.Fatalf("stats = %+v", st)
	}
	if n := len(f.srv.Objects()); n != 1000 {
		t.Fatalf("%d objects stored", n)
	}
}

// TestThrottleLogReadable: retry_after was logged as an integer of
// nanoseconds (45000000000); it is a duration string.
func TestThrottleLogReadable(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, nil))
	f := newFixture(t, sentineltest.ServerOptions{}, sentinel.Options{Logger: logger})
	f.srv.Inject(sentineltest.Fault{Status: http.StatusTooManyRequests, RetryAfter: 90 * time.Second})
	if _, err := f.client.Upload(context.Background(), indicators(0, 1)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"retry_after":"1m30s"`) {
		t.Fatalf("log lacks retry_after 1m30s:\n%s", buf.String())
	}
}
