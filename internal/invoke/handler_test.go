package invoke

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for concurrent writes, for logs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

const timerBody = `{"Data":{"timer":{"ScheduleStatus":null,"IsPastDue":false}},"Metadata":{}}`

func TestHandler(t *testing.T) {
	t.Parallel()
	ok := func(ctx context.Context, inv *Invocation) (*Response, error) { return nil, nil }
	cases := []struct {
		name       string
		method     string
		body       string
		fn         Func
		opts       *HandlerOptions
		wantStatus int
		wantErr    string // substring of the error body
	}{
		{name: "nil response", method: "POST", body: timerBody, fn: ok, wantStatus: 200},
		{name: "empty object", method: "POST", body: `{}`, fn: ok, wantStatus: 200},
		{name: "GET refused", method: "GET", body: "", fn: ok, wantStatus: 405},
		{name: "not JSON", method: "POST", body: `Data=1`, fn: ok, wantStatus: 500, wantErr: "malformed invocation request"},
		{name: "trailing data", method: "POST", body: `{} {}`, fn: ok, wantStatus: 500, wantErr: "data after"},
		{name: "array", method: "POST", body: `[]`, fn: ok, wantStatus: 500, wantErr: "malformed"},
		{name: "too large", method: "POST", body: `{"Data":{"x":"` + strings.Repeat("a", 100) + `"}}`, fn: ok,
			opts: &HandlerOptions{MaxBody: 50}, wantStatus: 500, wantErr: "too large"},
		{name: "fn error", method: "POST", body: timerBody, wantStatus: 500, wantErr: "sentinel said no",
			fn: func(ctx context.Context, inv *Invocation) (*Response, error) {
				return &Response{Logs: []string{"partial"}}, errors.New("sentinel said no")
			}},
		{name: "fn panic", method: "POST", body: timerBody, wantStatus: 500, wantErr: "function panicked: boom",
			fn: func(ctx context.Context, inv *Invocation) (*Response, error) { panic("boom") }},
		{name: "unencodable response", method: "POST", body: timerBody, wantStatus: 500, wantErr: "encode response",
			fn: func(ctx context.Context, inv *Invocation) (*Response, error) {
				return &Response{ReturnValue: func() {}}, nil
			}},
		{name: "bad timer", method: "POST", body: `{"Data":{"timer":[]}}`, wantStatus: 500, wantErr: "want an object",
			fn: func(ctx context.Context, inv *Invocation) (*Response, error) {
				_, err := DecodeTimer(inv.Request)
				return nil, err
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(tc.method, "/FeedX", strings.NewReader(tc.body))
			w := httptest.NewRecorder()
			Handler("FeedX", tc.fn, tc.opts).ServeHTTP(w, r)
			if w.Code != tc.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", w.Code, tc.wantStatus, w.Body)
			}
			switch tc.wantStatus {
			case http.StatusOK:
				checkResponseShape(t, w.Body.Bytes())
			case http.StatusInternalServerError:
				checkErrorBody(t, w.Body.Bytes(), tc.wantErr)
			}
		})
	}
}

func TestHandlerInvocationAndLogs(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	var got *Invocation
	var deadline time.Time
	fn := func(ctx context.Context, inv *Invocation) (*Response, error) {
		got = inv
		deadline, _ = ctx.Deadline()
		inv.Logger.Info("working")
		return nil, errors.New("upload failed")
	}
	h := Handler("UploadIndicators", fn, &HandlerOptions{Logger: logger, Timeout: time.Minute})
	r := httptest.NewRequest(http.MethodPost, "/UploadIndicators", strings.NewReader(timerBody))
	r.Header.Set(InvocationIDHeader, "abc-123")
	start := time.Now()
	h.ServeHTTP(httptest.NewRecorder(), r)

	if got == nil || got.ID != "abc-123" || got.FunctionName != "UploadIndicators" || got.Request == nil {
		t.Fatalf("invocation = %+v", got)
	}
	if d := deadline.Sub(start); d <= 0 || d > time.Minute+time.Second {
		t.Errorf("deadline in %v, want about 1m", d)
	}
	var sawError bool
	for line := range strings.Lines(logs.String()) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec["function"] != "UploadIndicators" || rec["invocation_id"] != "abc-123" {
			t.Errorf("log record lacks function/invocation_id: %s", line)
		}
		if rec["level"] == "ERROR" && rec["msg"] == "invocation failed" && rec["error"] == "upload failed" {
			sawError = true
		}
	}
	if !sawError {
		t.Errorf("no error record in logs:\n%s", logs.String())
	}
}

func TestHandlerGeneratesInvocationID(t *testing.T) {
	t.Parallel()
	ids := make(chan string, 2)
	h := Handler("F", func(ctx context.Context, inv *Invocation) (*Response, error) {
		ids <- inv.ID
		return nil, nil
	}, nil)
	for range 2 {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/F", strings.NewReader(`{}`)))
	}
	a, b := <-ids, <-ids
	if len(a) != 36 || a == b {
		t.Errorf("generated ids %q, %q: want two distinct UUIDs", a, b)
	}
}

func TestHandlerDeadline(t *testing.T) {
	t.Parallel()
	fn := func(ctx context.Context, inv *Invocation) (*Response, error) {
		if _, ok := ctx.Deadline(); !ok {
			return nil, errors.New("no deadline")
		}
		<-ctx.Done()
		return nil, ctx.Err()
	}
	h := Handler("Slow", fn, &HandlerOptions{Timeout: 20 * time.Millisecond})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/Slow", strings.NewReader(`{}`)))
	if w.Code != http.StatusInternalServerError {
		t.Fatalf("status = %d, want 500", w.Code)
	}
	checkErrorBody(t, w.Body.Bytes(), "deadline exceeded")
}

func TestHandlerDefaultDeadline(t *testing.T) {
	t.Parallel()
	var left time.Duration
	h := Handler("F", func(ctx context.Context, inv *Invocation) (*Response, error) {
		d, _ := ctx.Deadline()
		left = time.Until(d)
		return nil, nil
	}, &HandlerOptions{})
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/F", strings.NewReader(`{}`)))
	if left <= DefaultTimeout-time.Minute || left > DefaultTimeout {
		t.Errorf("time left = %v, want about %v", left, DefaultTimeout)
	}
}

// TestHandlerPanicKeepsServing checks that a panicking function answers 500
// and that the server keeps answering afterwards.
func TestHandlerPanicKeepsServing(t *testing.T) {
	t.Parallel()
	var calls int
	var mu sync.Mutex
	h := Handler("P", func(ctx context.Context, inv *Invocation) (*Response, error) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if n == 1 {
			var s []int
			_ = s[n] // index out of range: a runtime panic
		}
		return &Response{ReturnValue: "fine"}, nil
	}, nil)
	srv := httptest.NewServer(h)
	defer srv.Close()
	for i, want := range []int{500, 200} {
		resp, err := srv.Client().Post(srv.URL+"/P", "application/json", strings.NewReader(`{}`))
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("call %d: status %d, want %d; body %s", i, resp.StatusCode, want, b)
		}
		if want == 500 {
			checkErrorBody(t, b, "index out of range")
		}
	}
}

func TestResponseMarshal(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		resp Response
		want string
	}{
		{name: "zero", want: `{"Outputs":{},"Logs":[],"ReturnValue":null}`},
		{name: "filled", resp: Response{Outputs: map[string]any{"res": map[string]any{"statusCode": "200"}}, Logs: []string{"a"}, ReturnValue: "r"},
			want: `{"Outputs":{"res":{"statusCode":"200"}},"Logs":["a"],"ReturnValue":"r"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, v := range []any{tc.resp, &tc.resp} {
				b, err := json.Marshal(v)
				if err != nil || string(b) != tc.want {
					t.Errorf("Marshal(%T) = %s, %v; want %s", v, b, err, tc.want)
				}
			}
		})
	}
	var r Response
	r.Logf("fetched %d records from %s", 3, "urlhaus")
	if len(r.Logs) != 1 || r.Logs[0] != "fetched 3 records from urlhaus" {
		t.Errorf("Logf: Logs = %q", r.Logs)
	}
}
