package feed

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/feeds2sentinel/feeds2sentinel/internal/fetch"
	"github.com/feeds2sentinel/feeds2sentinel/internal/ioc"
)

// testSecret looks like a base64 key, so that its URL and JSON encodings
// differ from it.
const testSecret = "Zm9vYmFy+c2VjcmV0/a2V5=="

// echoPayloads are payloads that quote the Auth-Key (KEY) where a parser's
// error messages quote the payload: an auth status with the key as its
// detail (the real incident), a status that is the key, a value cut short,
// an HTML page, a CSV header, and the key URL- and JSON-encoded.
var echoPayloads = []string{
	`{"query_status": "illegal_auth_key: KEY"}`,
	`{"query_status": "illegal_auth_key: KEY", "data": null, "urls": null}`,
	`{"query_status": "KEY"}`,
	`{"query_status": "ok", "data": [{"ioc": "KEY`,
	`{"query_status": "ok", "data": "KEY"}`,
	`{"KEY": 1}`,
	"<html><body>invalid key KEY</body></html>",
	"KEY,first_seen\n1,2\n",
	"# KEY\n\"broken,\"csv\n",
	`{"query_status": "bad key QKEY"}`,
	`{"query_status": "bad key JKEY"}`,
}

// expand replaces the placeholders of an echo payload.
func expand(p string) string {
	p = strings.ReplaceAll(p, "QKEY", url.QueryEscape(testSecret))
	p = strings.ReplaceAll(p, "JKEY", strings.ReplaceAll(testSecret, "/", `\/`))
	return strings.ReplaceAll(p, "KEY", testSecret)
}

// leaks returns the forms of testSecret found in s.
func leaks(s string) []string {
	var found []string
	for _, f := range []string{testSecret, url.QueryEscape(testSecret), url.PathEscape(testSecret),
		strings.ReplaceAll(testSecret, "/", `\/`), testSecret[:12]} {
		if strings.Contains(s, f) {
			found = append(found, f)
		}
	}
	return found
}

// TestSecretNeverInParserErrors feeds the Auth-Key back through every
// parser error path reachable from a payload, as the pipeline runs them:
// fetched with the key (fetch redacts the payload), then parsed.
func TestSecretNeverInParserErrors(t *testing.T) {
	t.Parallel()
	parsers := map[string]Parser{}
	for _, src := range Builtin() {
		parsers[src.Name] = src.Parse
	}
	var payload string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, payload)
	}))
	defer srv.Close()
	client, err := fetch.New(&fetch.Options{Transport: srv.Client(), MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	// Sequential: payload is shared with the handler.
	for _, p := range echoPayloads {
		payload = expand(p)
		for name, parse := range parsers {
			resp, err := client.Fetch(context.Background(), &fetch.Request{Feed: name, URL: srv.URL, AuthKey: testSecret})
			if err != nil {
				t.Fatalf("%s: fetch: %v", name, err)
			}
			_, perr := parse(context.Background(), resp.Body, func(r *ioc.Record) error {
				if l := leaks(r.Value + strings.Join(r.Tags, ",")); len(l) > 0 {
					t.Errorf("%s %q: record carries %q", name, p, l)
				}
				return nil
			})
			resp.Body.Close()
			if perr != nil {
				if l := leaks(perr.Error()); len(l) > 0 {
					t.Errorf("%s %q: error %q echoes %q", name, p, perr, l)
				}
			}
		}
	}
}

// TestUnknownStatusIsNotAuth: a status that only resembles an auth word is
// a bad payload, quoted (shortened).
func TestUnknownStatusIsNotAuth(t *testing.T) {
	t.Parallel()
	_, _, err := collect(ParseURLhausAPI, []byte(`{"query_status": "author_unknown", "urls": null}`))
	if !errors.Is(err, ErrBadPayload) || errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), "author_unknown") {
		t.Errorf("err = %v, want ErrBadPayload quoting the status", err)
	}
}

// TestAuthStatusDetailWithheld: parsing the payload directly (no fetch, so
// nothing redacted), an auth status never quotes its detail, and it is an
// auth failure (a configuration error), not a bad payload to retry.
func TestAuthStatusDetailWithheld(t *testing.T) {
	t.Parallel()
	for name, parse := range map[string]Parser{"threatfox": ParseThreatFoxJSON, "urlhaus-api": ParseURLhausAPI,
		"malwarebazaar": ParseMalwareBazaar} {
		for _, status := range []string{"illegal_auth_key: KEY", "Invalid_Auth_Key:KEY", "wrong_api_key: KEY", "Authentication failed: KEY"} {
			_, _, err := collect(parse, []byte(`{"query_status": "`+expand(status)+`", "data": null, "urls": null}`))
			if !errors.Is(err, ErrAuth) {
				t.Errorf("%s %q: err = %v, want ErrAuth", name, status, err)
				continue
			}
			if l := leaks(err.Error()); len(l) > 0 || !strings.Contains(err.Error(), "detail withheld") {
				t.Errorf("%s %q: error %q (echoes %q)", name, status, err, l)
			}
		}
	}
}
