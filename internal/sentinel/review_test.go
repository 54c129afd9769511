package sentinel_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/feeds2sentinel/feeds2sentinel/internal/sentinel"
	"github.com/feeds2sentinel/feeds2sentinel/internal/sentinel/sentineltest"
)

// TestThrottleWaitOutsideTryTimeout is the regression test for a 429 pause
// longer than TryTimeout: the limiter's wait must run on the caller's
// context, not under the per-try timeout (which used to fail the wait with
// DeadlineExceeded, burn azcore's retries and end as "no response").
func TestThrottleWaitOutsideTryTimeout(t *testing.T) {
	t.Parallel()
	clock := sentineltest.NewVirtualClock(testStart)
	srv := sentineltest.NewServer(sentineltest.ServerOptions{Clock: clock.Now})
	t.Cleanup(srv.Close)
	var deadlineHits int
	// Like a real timer: a sleep that would outlast ctx's (real) deadline
	// fails with the deadline; otherwise it advances the virtual clock.
	sleep := func(ctx context.Context, d time.Duration) error {
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
			deadlineHits++
			return context.DeadlineExceeded
		}
		return clock.Sleep(ctx, d)
	}
	c, err := sentinel.New(sentinel.Options{Endpoint: srv.URL, WorkspaceID: testWorkspace, SourceSystem: testSource,
		Now: clock.Now, Sleep: sleep, TryTimeout: time.Second, MaxRetries: 1, RetryDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	srv.Inject(sentineltest.Fault{Status: http.StatusTooManyRequests, RetryAfter: 3 * time.Second})
	res, err := c.Upload(context.Background(), indicators(0, 5))
	if err != nil || res.Accepted != 5 {
		t.Fatalf("Upload: %+v, %v", res, err)
	}
	if deadlineHits != 0 {
		t.Errorf("%d limiter sleeps ran under a deadline shorter than the wait", deadlineHits)
	}
	if waited := clock.Now().Sub(testStart); waited < 3*time.Second {
		t.Errorf("retried after %v of fake time, want >= 3s", waited)
	}
	if st := c.Stats(); st.Requests != 2 || st.Throttled != 1 {
		t.Errorf("stats = %+v, want 2 requests, 1 throttled", st)
	}
}

// TestTryTimeoutStillBoundsEachTry checks that moving the per-try timeout
// out of azcore keeps it: a stalled try times out and is retried, and a
// response body is still readable after the try's context is gone.
func TestTryTimeoutStillBoundsEachTry(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sentineltest.ServerOptions{}, sentinel.Options{TryTimeout: 100 * time.Millisecond, MaxRetries: 1})
	f.srv.Inject(sentineltest.Fault{Delay: 5 * time.Second, Times: 2})
	start := time.Now()
	_, err := f.client.Upload(context.Background(), indicators(0, 1))
	var re *sentinel.ResponseError
	if !errors.As(err, &re) || re.StatusCode != 0 || !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, sentinel.ErrTransient) {
		t.Fatalf("err = %v", err)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Fatalf("took %v: the try timeout did not apply", el)
	}
	if st := f.client.Stats(); st.Requests != 2 {
		t.Fatalf("stats = %+v, want 2 requests", st)
	}
	// Per-record errors (a body) arrive intact through the timeout policy.
	objs := indicators(10, 2)
	objs[1] = json.RawMessage(strings.Replace(string(objs[1]), `"id":`, `"xid":`, 1))
	res, err := f.client.Upload(context.Background(), objs)
	if err != nil || res.Accepted != 1 || len(res.Rejected) != 1 || res.Rejected[0].Index != 1 {
		t.Fatalf("%+v, %v", res, err)
	}
}

// TestUnreadableSuccessBody: a 2xx whose body is not JSON is not the
// service's answer; the batch must fail as transient, not count as accepted.
func TestUnreadableSuccessBody(t *testing.T) {
	t.Parallel()
	for _, body := range []string{"<html><body>Welcome to nginx!</body></html>", "OK", "[]", `"ok"`} {
		c, rs := newRawClient(t, sentinel.APISTIXObjects, answer{200, body})
		res, err := c.Upload(context.Background(), indicators(0, 4))
		var re *sentinel.ResponseError
		if res != nil || !errors.As(err, &re) || re.StatusCode != 200 || !re.Transient() ||
			!errors.Is(err, sentinel.ErrTransient) || errors.Is(err, sentinel.ErrPermanent) ||
			!strings.Contains(re.Message, strings.Trim(body, `"[]`)) || !strings.Contains(re.Hint, "SENTINEL_ENDPOINT") {
			t.Errorf("body %q: %+v, %v", body, res, err)
		}
		if st := c.Stats(); st.Accepted != 0 || !st.LastSuccess.IsZero() || len(rs.bodies) != 1 {
			t.Errorf("body %q: stats %+v, %d requests", body, st, len(rs.bodies))
		}
	}
	// What the service may send for "all accepted" stays accepted.
	for _, body := range []string{"", " \n", "{}", `{"errors":[]}`, "null"} {
		c, _ := newRawClient(t, sentinel.APISTIXObjects, answer{200, body})
		if res, err := c.Upload(context.Background(), indicators(0, 4)); err != nil || res.Accepted != 4 {
			t.Errorf("body %q: %+v, %v", body, res, err)
		}
	}
}

// TestLimiterAtServiceLimit runs the client at 100 requests/minute against
// the fake at its 100/minute limit: no 429 and never more than 100 requests
// in any 60-second window, ends included.
func TestLimiterAtServiceLimit(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sentineltest.ServerOptions{}, sentinel.Options{RequestsPerMinute: 100})
	const uploads = 1000
	for i := range uploads {
		if _, err := f.client.Upload(context.Background(), indicators(i, 1)); err != nil {
			t.Fatalf("upload %d: %v", i, err)
		}
	}
	if st := f.client.Stats(); st.Throttled != 0 || st.Requests != uploads {
		t.Fatalf("stats = %+v, want %d requests and no 429", st, uploads)
	}
	reqs := f.srv.Requests()
	if w := worstWindow(reqs); w > 100 {
		t.Fatalf("%d requests in a closed 60-second window, want <= 100", w)
	}
	// Still close to full speed: 999 intervals of 600ms plus a small margin per minute.
	if el, want := reqs[len(reqs)-1].Time.Sub(reqs[0].Time), 999*600*time.Millisecond; el > want+time.Second {
		t.Fatalf("took %v of fake time, want about %v", el, want)
	}
}

// TestDefaultRateIsServiceCeiling is the regression test for a default
// limit below the service's (96 of 100 requests per minute): with default
// options the client starts exactly 100 requests in every minute, without
// a 429.
func TestDefaultRateIsServiceCeiling(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sentineltest.ServerOptions{}, sentinel.Options{})
	const minutes, perMinute = 5, 100
	for i := range minutes*perMinute + 1 {
		if _, err := f.client.Upload(context.Background(), indicators(i, 1)); err != nil {
			t.Fatalf("upload %d: %v", i, err)
		}
	}
	if st := f.client.Stats(); st.Throttled != 0 {
		t.Fatalf("stats = %+v, want no 429", st)
	}
	n := 0
	for _, r := range f.srv.Requests() {
		if r.Time.Before(testStart.Add(minutes * time.Minute)) {
			n++
		}
	}
	if n != minutes*perMinute {
		t.Fatalf("%d requests in the first %d minutes, want %d", n, minutes, minutes*perMinute)
	}
}

// TestThrottleBacksOffWindow: when another client of the same identity
// has filled the service's window, the 429's Retry-After is only when its
// oldest request expires. The client then treats its window as full and
// resumes at one request per 600ms, as the service's window frees, instead
// of a burst that would be throttled again.
func TestThrottleBacksOffWindow(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sentineltest.ServerOptions{}, sentinel.Options{})
	other, err := sentinel.New(sentinel.Options{Endpoint: f.srv.URL, WorkspaceID: testWorkspace, SourceSystem: "other",
		Now: f.clock.Now, Sleep: f.clock.Sleep})
	if err != nil {
		t.Fatal(err)
	}
	// The other client: 100 requests at 0, 0.6s, … 59.4s.
	for i := range 100 {
		if _, err := other.Upload(context.Background(), indicators(i, 1)); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(600 * time.Millisecond)
	}
	f.clock.Advance(-500 * time.Millisecond) // 59.5s: the window is full
	for i := range 200 {
		if _, err := f.client.Upload(context.Background(), indicators(i, 1)); err != nil {
			t.Fatalf("upload %d: %v", i, err)
		}
	}
	if st := f.client.Stats(); st.Throttled != 1 || st.Requests != 201 {
		t.Fatalf("stats = %+v, want one 429 and 201 requests", st)
	}
	// The service counted accepted requests only: at most 100 a minute.
	ok := slices.DeleteFunc(f.srv.Requests(), func(r sentineltest.Request) bool { return r.Status != http.StatusOK })
	if w := worstWindow(ok); w > 100 {
		t.Fatalf("%d accepted requests in a closed 60-second window, want <= 100", w)
	}
}

// worstWindow is the most requests whose times fit in one closed minute.
func worstWindow(reqs []sentineltest.Request) int {
	worst := 0
	for i := range reqs {
		n := 0
		for j := i; j < len(reqs) && reqs[j].Time.Sub(reqs[i].Time) <= time.Minute; j++ {
			n++
		}
		worst = max(worst, n)
	}
	return worst
}

// bigIndicator is indicator(i) with a description of n bytes.
func bigIndicator(i, n int) json.RawMessage {
	s := string(indicator(i))
	return json.RawMessage(s[:len(s)-1] + fmt.Sprintf(`,"description":%q}`, strings.Repeat("d", n)))
}

// TestRequestTooLargeSplits: a 413 is answered by sending each half; an
// object too large on its own is rejected, and per-record errors in the
// halves map back to the caller's indexes.
func TestRequestTooLargeSplits(t *testing.T) {
	t.Parallel()
	for _, key := range []string{"", "validationErrorMessages"} {
		t.Run("key="+key, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, sentineltest.ServerOptions{MaxBodyBytes: 12_000, ValidationKey: key}, sentinel.Options{})
			objs := indicators(0, 100) // ~35 kB
			objs[70] = bigIndicator(70, 15_000)
			objs[33] = json.RawMessage(strings.Replace(string(objs[33]), `"pattern_type":"stix"`, `"pattern_type":""`, 1))
			res, err := f.client.Upload(context.Background(), objs)
			if err != nil {
				t.Fatal(err)
			}
			if res.Accepted != 98 || len(res.Rejected) != 2 {
				t.Fatalf("accepted %d, rejected %+v", res.Accepted, res.Rejected)
			}
			rej := map[int]sentinel.RecordError{}
			for _, r := range res.Rejected {
				rej[r.Index] = r
			}
			if r := rej[33]; r.ID != indicatorID(33) || !strings.Contains(strings.Join(r.Messages, ";"), "Property=pattern_type") {
				t.Errorf("record 33 = %+v", r)
			}
			if r := rej[70]; r.ID != indicatorID(70) || !strings.Contains(strings.Join(r.Messages, ";"), "HTTP 413") {
				t.Errorf("record 70 = %+v", r)
			}
			for i := range 100 {
				if want := i != 33 && i != 70; f.srv.Uploads(indicatorID(i)) == 1 != want {
					t.Errorf("indicator %d stored %d times", i, f.srv.Uploads(indicatorID(i)))
				}
			}
			var statuses []int
			for _, r := range f.srv.Requests() {
				statuses = append(statuses, r.Status)
			}
			if statuses[0] != 413 || slices.Contains(statuses, 429) {
				t.Errorf("statuses %v", statuses)
			}
			if st := f.client.Stats(); st.Accepted != 98 || st.Rejected != 2 || st.Requests != int64(len(statuses)) {
				t.Errorf("stats = %+v", st)
			}
		})
	}
}
