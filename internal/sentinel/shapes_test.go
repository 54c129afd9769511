package sentinel_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/feeds2sentinel/feeds2sentinel/internal/sentinel"
	"github.com/feeds2sentinel/feeds2sentinel/internal/sentinel/sentineltest"
)

var update = flag.Bool("update", false, "update golden files")

// rawServer answers every request with the next of answers (repeating the
// last) and records the request bodies.
type rawServer struct {
	mu      sync.Mutex
	answers []answer
	bodies  [][]byte
}

type answer struct {
	status int
	body   string
}

func (s *rawServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	a := s.answers[min(len(s.bodies), len(s.answers)-1)]
	s.bodies = append(s.bodies, body)
	s.mu.Unlock()
	w.WriteHeader(a.status)
	_, _ = io.WriteString(w, a.body)
}

func newRawClient(t testing.TB, api sentinel.API, answers ...answer) (*sentinel.Client, *rawServer) {
	t.Helper()
	rs := &rawServer{answers: answers}
	srv := httptest.NewServer(rs)
	clock := sentineltest.NewVirtualClock(testStart)
	t.Cleanup(srv.Close)
	c, err := sentinel.New(sentinel.Options{API: api, Endpoint: srv.URL, WorkspaceID: testWorkspace, SourceSystem: testSource,
		RequestsPerMinute: 100, RetryDelay: 1, Now: clock.Now, Sleep: clock.Sleep})
	if err != nil {
		t.Fatal(err)
	}
	return c, rs
}

func TestResponseShapes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		answers  []answer
		accepted int
		rejected []int // indexes, -1 for out of range
		requests int
	}{
		{"empty", []answer{{200, ""}}, 4, nil, 1},
		{"empty object", []answer{{200, "{}"}}, 4, nil, 1},
		{"empty errors", []answer{{200, `{"errors":[]}`}}, 4, nil, 1},
		{"204", []answer{{204, ""}}, 4, nil, 1},
		{"errorMessages", []answer{{200, `{"errors":[{"recordIndex":3,"errorMessages":["a"]}]}`}}, 3, []int{3}, 1},
		{"validationErrorMessages", []answer{{200, `{"errors":[{"recordIndex":0,"validationErrorMessages":["a"]}]}`}}, 3, []int{0}, 1},
		{"legacy wrapper", []answer{{200, `{"body":{"errors":[{"recordIndex":1,"errorMessages":["a"]}]}}`}}, 3, []int{1}, 1},
		{"duplicate index merged", []answer{{200, `{"errors":[{"recordIndex":2,"errorMessages":["a"]},{"recordIndex":2,"errorMessages":["b"]}]}`}}, 3, []int{2}, 1},
		{"out of range", []answer{{200, `{"errors":[{"recordIndex":9,"errorMessages":["a"]},{"errorMessages":["no index"]}]}`}}, 4, []int{-1, -1}, 1},
		{"all rejected", []answer{{200, `{"errors":[{"recordIndex":0},{"recordIndex":1},{"recordIndex":2},{"recordIndex":3}]}`}}, 0, []int{0, 1, 2, 3}, 1},
		{"400 naming records resends the rest", []answer{{400, `{"errors":[{"recordIndex":1,"errorMessages":["bad"]}]}`}, {200, ""}}, 3, []int{1}, 2},
		{"400 naming every record", []answer{{400, `{"errors":[{"recordIndex":0},{"recordIndex":1},{"recordIndex":2},{"recordIndex":3}]}`}}, 0, []int{0, 1, 2, 3}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, rs := newRawClient(t, sentinel.APISTIXObjects, tc.answers...)
			res, err := c.Upload(context.Background(), indicators(0, 4))
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			for _, r := range res.Rejected {
				got = append(got, r.Index)
				if r.Index >= 0 && r.ID != indicatorID(r.Index) {
					t.Errorf("record %d has id %q", r.Index, r.ID)
				}
			}
			if res.Accepted != tc.accepted || !equalInts(got, tc.rejected) || len(rs.bodies) != tc.requests {
				t.Fatalf("accepted %d rejected %v requests %d; want %d %v %d", res.Accepted, got, len(rs.bodies), tc.accepted, tc.rejected, tc.requests)
			}
			if tc.requests == 2 {
				var second struct{ Stixobjects []json.RawMessage }
				if err := json.Unmarshal(rs.bodies[1], &second); err != nil || len(second.Stixobjects) != 3 {
					t.Fatalf("resent body: %s", rs.bodies[1])
				}
			}
		})
	}
}

func TestARMErrorCode(t *testing.T) {
	t.Parallel()
	c, _ := newRawClient(t, sentinel.APISTIXObjects, answer{400, `{"error":{"code":"InvalidRequestBodyProperty(RequestBody)","message":"Body of the request is not in valid JSON format."}}`})
	_, err := c.Upload(context.Background(), indicators(0, 1))
	var re *sentinel.ResponseError
	if !errors.As(err, &re) || re.Code != "InvalidRequestBodyProperty(RequestBody)" || re.Message != "Body of the request is not in valid JSON format." {
		t.Fatalf("err = %v", err)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestRequestBodyGolden pins the exact bytes sent for each API.
func TestRequestBodyGolden(t *testing.T) {
	t.Parallel()
	for _, api := range sentinel.PossibleAPIValues() {
		t.Run(string(api), func(t *testing.T) {
			t.Parallel()
			c, rs := newRawClient(t, api, answer{200, ""})
			objs := append([]json.RawMessage{json.RawMessage(identity)}, indicators(0, 2)...)
			if _, err := c.Upload(context.Background(), objs); err != nil {
				t.Fatal(err)
			}
			got := rs.bodies[0]
			if !json.Valid(got) {
				t.Fatalf("invalid JSON body: %s", got)
			}
			golden := filepath.Join("testdata", "request_"+string(api)+".golden.json")
			if *update {
				if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(append(got, '\n'), want) {
				t.Fatalf("body mismatch\n got: %s\nwant: %s", got, want)
			}
		})
	}
}
