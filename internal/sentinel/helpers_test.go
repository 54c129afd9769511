package sentinel_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/feeds2sentinel/feeds2sentinel/internal/sentinel"
	"github.com/feeds2sentinel/feeds2sentinel/internal/sentinel/sentineltest"
)

const (
	testWorkspace = "0a1b2c3d-1234-4abc-8def-0123456789ab"
	testSource    = "feeds2sentinel-test"
)

var testStart = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// indicator returns a valid STIX 2.1 indicator with a deterministic id.
func indicator(i int) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"type":"indicator","spec_version":"2.1","id":"indicator--%08x-0000-4000-8000-000000000000",`+
		`"created":"2026-05-01T00:00:00.000Z","modified":"2026-05-01T00:00:00.000Z","pattern":"[ipv4-addr:value = '192.0.2.%d']",`+
		`"pattern_type":"stix","valid_from":"2026-05-01T00:00:00.000Z","valid_until":"2026-06-01T00:00:00.000Z","confidence":80}`, i, i%256))
}

// indicatorID is indicator(i)'s id.
func indicatorID(i int) string { return fmt.Sprintf("indicator--%08x-0000-4000-8000-000000000000", i) }

// indicators returns indicator(from) … indicator(from+n-1).
func indicators(from, n int) []json.RawMessage {
	out := make([]json.RawMessage, n)
	for k := range out {
		out[k] = indicator(from + k)
	}
	return out
}

// identity is a valid STIX identity object.
const identity = `{"type":"identity","spec_version":"2.1","id":"identity--733c5838-34d9-4fbf-949c-62aba761184c",` +
	`"created":"2026-05-01T00:00:00.000Z","modified":"2026-05-01T00:00:00.000Z","name":"feeds2sentinel","identity_class":"system"}`

// fixture is a fake and a client on one virtual clock.
type fixture struct {
	srv    *sentineltest.Server
	client *sentinel.Client
	clock  *sentineltest.VirtualClock
}

// newFixture starts a fake with so and a client with co; endpoint,
// workspace, source, clock and a 1ms retry delay are filled in when unset.
func newFixture(t *testing.T, so sentineltest.ServerOptions, co sentinel.Options) *fixture {
	t.Helper()
	clock := sentineltest.NewVirtualClock(testStart)
	if so.Clock == nil {
		so.Clock = clock.Now
	}
	srv := sentineltest.NewServer(so)
	t.Cleanup(srv.Close)
	if co.Endpoint == "" {
		co.Endpoint = srv.URL
	}
	if co.WorkspaceID == "" {
		co.WorkspaceID = testWorkspace
	}
	if co.SourceSystem == "" {
		co.SourceSystem = testSource
	}
	if co.Now == nil {
		co.Now, co.Sleep = clock.Now, clock.Sleep
	}
	if co.RetryDelay == 0 {
		co.RetryDelay = time.Millisecond
	}
	if so.TLS && co.Transport == nil {
		co.Transport = srv.Client()
	}
	c, err := sentinel.New(co)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{srv: srv, client: c, clock: clock}
}

// fakeCredential hands out tokens[0], tokens[1], … (repeating the last).
type fakeCredential struct {
	mu     sync.Mutex
	tokens []string
	calls  int
	scopes []string
}

func (f *fakeCredential) GetToken(_ context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	tok := f.tokens[min(f.calls, len(f.tokens)-1)]
	f.calls++
	f.scopes = o.Scopes
	return azcore.AccessToken{Token: tok, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

func (f *fakeCredential) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}
