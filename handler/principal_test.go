package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/feeds2sentinel/feeds2sentinel/internal/ingest"
)

// TestPrincipalHeaderTrustedOnlyBehindAuth: a submission's source names the
// caller from X-MS-CLIENT-PRINCIPAL-NAME only when
// TRUST_CLIENT_PRINCIPAL_HEADER says App Service authentication sets it;
// otherwise any client could claim any name.
func TestPrincipalHeaderTrustedOnlyBehindAuth(t *testing.T) {
	for _, tc := range []struct{ trust, want string }{
		{"", "manual"},
		{"false", "manual"},
		{"true", "manual:alice@example.org"},
	} {
		srv := testServer(t, testDeps(t, map[string]string{"TRUST_CLIENT_PRINCIPAL_HEADER": tc.trust}))
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/indicators?dry_run=true", strings.NewReader(`["bad-invoices.top"]`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(principalHeader, "alice@example.org")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var got ingest.SubmitResponse
		err = json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusAccepted || got.Source != tc.want {
			t.Errorf("TRUST_CLIENT_PRINCIPAL_HEADER=%q: status %d, source %q (%v), want %q", tc.trust, resp.StatusCode, got.Source, err, tc.want)
		}
	}
}
