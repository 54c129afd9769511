package sentinel

import (
	"context"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"
)

func TestParseBody(t *testing.T) {
	t.Parallel()
	cases := []struct {
		file    string
		index   []int
		msgs    int
		code    string
		message string
	}{
		{file: "200_errorMessages.json", index: []int{3}, msgs: 1},
		{file: "200_validationErrorMessages.json", index: []int{1}, msgs: 1},
		{file: "200_legacy_body_wrapper.json", index: []int{1}, msgs: 1},
		{file: "400_invalid_json.json", code: "InvalidRequestBodyProperty(RequestBody)", message: "Body of the request is not in valid JSON format."},
		{file: "401.json", message: "Unauthorized. Access token is missing or invalid."},
		{file: "429.json", message: "Rate limit is exceeded. Try again in 45 seconds."},
		{file: "500.json", message: "Internal server error"},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(filepath.Join("testdata", "responses", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			p := parseBody(data)
			if !p.ok {
				t.Fatal("not ok")
			}
			var idx []int
			for _, r := range p.records {
				idx = append(idx, r.index())
				if len(r.messages()) != tc.msgs {
					t.Errorf("messages = %q, want %d", r.messages(), tc.msgs)
				}
			}
			if !reflect.DeepEqual(idx, tc.index) {
				t.Errorf("indexes = %v, want %v", idx, tc.index)
			}
			if p.code != tc.code || p.message != tc.message {
				t.Errorf("code, message = %q, %q; want %q, %q", p.code, p.message, tc.code, tc.message)
			}
		})
	}
}

func TestRecordIndex(t *testing.T) {
	t.Parallel()
	cases := map[string]int{`{"recordIndex":7}`: 7, `{"recordIndex":2.0}`: 2, `{"recordIndex":-1}`: -1,
		`{"recordIndex":1.5}`: -1, `{}`: -1, `{"recordIndex":1e40}`: -1, `{"RecordIndex":4}`: 4}
	for in, want := range cases {
		p := parseBody([]byte(`{"errors":[` + in + `]}`))
		if len(p.records) != 1 || p.records[0].index() != want {
			t.Errorf("%s: got %+v, want index %d", in, p.records, want)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	body := "Rate limit is exceeded. Try again in 45 seconds."
	cases := []struct {
		name   string
		header string
		msg    string
		want   time.Duration
	}{
		{"header seconds", "17", body, 17 * time.Second},
		{"header http date", now.Add(30 * time.Second).Format(http.TimeFormat), body, 30 * time.Second},
		{"header date in past", now.Add(-time.Hour).Format(http.TimeFormat), "", time.Second},
		{"header garbage falls back to body", "soon", body, 45 * time.Second},
		{"body text", "", body, 45 * time.Second},
		{"body singular", "", "try again in 1 second", time.Second},
		{"default", "", "Rate limit is exceeded.", 60 * time.Second},
		{"zero becomes one second", "0", "", time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := http.Header{}
			if tc.header != "" {
				h.Set("Retry-After", tc.header)
			}
			if got := retryAfter(h, tc.msg, now); got != tc.want {
				t.Errorf("retryAfter = %v, want %v", got, tc.want)
			}
		})
	}
}

func FuzzParseBody(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "responses", "*.json"))
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"errors":[{"recordIndex":99999999999}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := parseBody(data)
		for _, r := range p.records {
			if i := r.index(); i < -1 {
				t.Fatalf("index %d", i)
			}
			_ = r.messages()
		}
		_ = retryAfter(http.Header{"Retry-After": {string(data)}}, p.message, time.Unix(0, 0))
	})
}

// fakeTime is a clock for limiter unit tests; sleep records and advances.
type fakeTime struct {
	mu     sync.Mutex
	t      time.Time
	slept  []time.Duration
	freeze bool
}

func (f *fakeTime) now() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.t }
func (f *fakeTime) sleep(_ context.Context, d time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.slept = append(f.slept, d)
	if !f.freeze {
		f.t = f.t.Add(d)
	}
	return nil
}

func TestLimiterConcurrentSlotsAreSpaced(t *testing.T) {
	t.Parallel()
	ft := &fakeTime{t: time.Unix(1000, 0), freeze: true}
	const rpm, waiters = 10, 35
	l := newLimiter(rpm, ft.now, ft.sleep)
	var wg sync.WaitGroup
	for range waiters {
		wg.Go(func() {
			if err := l.wait(context.Background()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	// With a frozen clock every waiter reserved its own slot: rpm start at
	// once, the next rpm a span later, and so on.
	count := map[time.Duration]int{}
	for _, d := range ft.slept {
		count[d]++
	}
	want := map[time.Duration]int{span: rpm, 2 * span: rpm, 3 * span: waiters - 3*rpm}
	if !maps.Equal(count, want) {
		t.Fatalf("sleeps %v, want %v", count, want)
	}
}

func TestLimiterPause(t *testing.T) {
	t.Parallel()
	ft := &fakeTime{t: time.Unix(1000, 0)}
	l := newLimiter(60, ft.now, ft.sleep)
	start := ft.now()
	if err := l.wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	l.backOff(start.Add(45 * time.Second))
	if err := l.wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := ft.now().Sub(start); got != 45*time.Second {
		t.Fatalf("second request at +%v, want +45s", got)
	}
	if err := l.wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := ft.now().Sub(start); got != 46*time.Second {
		t.Fatalf("third request at +%v, want +46s", got)
	}
}

func TestLimiterContextCancelled(t *testing.T) {
	t.Parallel()
	l := newLimiter(1, time.Now, sleepContext)
	ctx, cancel := context.WithCancel(context.Background())
	if err := l.wait(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := l.wait(ctx); err == nil {
		t.Fatal("wait after cancel: nil error")
	}
}

func TestLimiterClosedWindow(t *testing.T) {
	t.Parallel()
	for _, rpm := range []int{1, 7, 95, 100} {
		ft := &fakeTime{t: time.Unix(1000, 0)}
		l := newLimiter(rpm, ft.now, ft.sleep)
		var starts []time.Time
		for range 3*rpm + 5 {
			if err := l.wait(context.Background()); err != nil {
				t.Fatal(err)
			}
			starts = append(starts, ft.now())
		}
		for i := range starts {
			if j := i + rpm; j < len(starts) && !starts[j].After(starts[i].Add(time.Minute)) {
				t.Fatalf("rpm %d: starts %d and %d are %v apart: %d requests in a closed minute", rpm, i, j, starts[j].Sub(starts[i]), rpm+1)
			}
		}
		// An exact window: rpm starts per span, the first rpm at once.
		if el, want := starts[len(starts)-1].Sub(starts[0]), time.Duration((len(starts)-1)/rpm)*span; el != want {
			t.Fatalf("rpm %d: %v for %d starts, want %v", rpm, el, len(starts), want)
		}
	}
}
