package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/feeds2sentinel/feeds2sentinel/internal/app"
	"github.com/feeds2sentinel/feeds2sentinel/internal/ingest"
	"github.com/feeds2sentinel/feeds2sentinel/internal/invoke"
)

// TestHostJSONHTTPMode: host.json asks for request proxying, the mode the
// custom-handler documentation describes, and keeps forwarding for hosts
// that predate proxying (the host checks proxying first).
func TestHostJSONHTTPMode(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "host.json"))
	if err != nil {
		t.Fatal(err)
	}
	var hj struct {
		CustomHandler struct {
			EnableProxyingHttpRequest   *bool `json:"enableProxyingHttpRequest"`
			EnableForwardingHttpRequest *bool `json:"enableForwardingHttpRequest"`
		} `json:"customHandler"`
	}
	if err := json.Unmarshal(b, &hj); err != nil {
		t.Fatal(err)
	}
	if p := hj.CustomHandler.EnableProxyingHttpRequest; p == nil || !*p {
		t.Error("host.json: customHandler.enableProxyingHttpRequest must be true")
	}
	if f := hj.CustomHandler.EnableForwardingHttpRequest; f == nil || !*f {
		t.Error("host.json: customHandler.enableForwardingHttpRequest must stay true for hosts without proxying")
	}
}

// clientRequest is what a client sends to the function app.
type clientRequest struct {
	method, path, query string
	header              http.Header
	body                []byte
}

// answer is what the client receives.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// hostMode sends a client request to the handler the way one host mode
// delivers it, and returns what the client receives.
type hostMode func(t *testing.T, backend string, cr clientRequest) answer

// proxied mimics enableProxyingHttpRequest: a reverse proxy (YARP in the
// host) streams the client's request, chunked, to the original path with
// the host's headers set over the client's, and streams the answer back.
func proxied(t *testing.T, backend string, cr clientRequest) answer {
	t.Helper()
	target, _ := url.Parse(backend)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.FlushInterval = -1
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Set(invoke.InvocationIDHeader, "11111111-2222-3333-4444-555555555555")
		r.Header.Set("X-Azure-Functions-HostVersion", "4.1040.0.0")
		r.Header.Set("x-ms-invocation-id", "11111111-2222-3333-4444-555555555555")
		rp.ServeHTTP(w, r)
	}))
	defer front.Close()
	// The client streams the body in small writes with no length.
	pr, pw := io.Pipe()
	go func() {
		for b := cr.body; len(b) > 0; {
			n := min(len(b), 1000)
			if _, err := pw.Write(b[:n]); err != nil {
				return
			}
			b = b[n:]
		}
		pw.Close()
	}()
	var body io.Reader = pr
	if cr.body == nil {
		body = nil
		pw.Close()
	}
	req, _ := http.NewRequest(cr.method, front.URL+cr.path+"?"+cr.query, body)
	req.Header = cr.header.Clone()
	return do(t, req)
}

// forwarded mimics enableForwardingHttpRequest: the host rebuilds the
// request, with a length, at the original path and adds its headers.
func forwarded(t *testing.T, backend string, cr clientRequest) answer {
	t.Helper()
	req, _ := http.NewRequest(cr.method, backend+cr.path+"?"+cr.query, bytes.NewReader(cr.body))
	req.Header = cr.header.Clone()
	req.Header.Set(invoke.InvocationIDHeader, "11111111-2222-3333-4444-555555555555")
	req.Header.Set("X-Azure-Functions-HostVersion", "4.1040.0.0")
	req.Header.Set("User-Agent", "Azure-Functions-Host/4.1040.0.0")
	return do(t, req)
}

// payloadMode mimics a host with neither flag: it POSTs /<FunctionName>
// with Data.req (body as text, or base64 for octet-stream and multipart)
// and answers the client from Outputs.res. A failed invocation gives the
// client a bare 500.
func payloadMode(t *testing.T, backend string, cr clientRequest) answer {
	t.Helper()
	name := ""
	for _, fn := range app.Functions() {
		if fn.Trigger == app.TriggerHTTP && fn.Path() == cr.path {
			name = fn.Name
		}
	}
	if name == "" {
		t.Fatalf("no HTTP function at %s", cr.path)
	}
	hreq := map[string]any{
		"Url": "https://f2s.azurewebsites.net" + cr.path + "?" + cr.query, "Method": cr.method,
		"Headers": map[string][]string(cr.header), "Params": map[string]string{}, "Identities": []any{},
	}
	if q, err := url.ParseQuery(cr.query); err == nil {
		hreq["Query"] = q
	}
	// The host copies the body only when the request has a length.
	if len(cr.body) > 0 && cr.header.Get("Transfer-Encoding") != "chunked" {
		hreq["Body"] = string(cr.body)
		if ct := cr.header.Get("Content-Type"); ct == "application/octet-stream" || strings.HasPrefix(ct, "multipart/") {
			hreq["Body"] = cr.body // []byte marshals as base64
		}
	}
	b, _ := json.Marshal(map[string]any{"Data": map[string]any{invoke.HTTPTriggerBinding: hreq}, "Metadata": map[string]any{}})
	req, _ := http.NewRequest(http.MethodPost, backend+"/"+name, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(invoke.InvocationIDHeader, "11111111-2222-3333-4444-555555555555")
	a := do(t, req)
	if a.status != http.StatusOK {
		return answer{status: http.StatusInternalServerError, header: http.Header{}}
	}
	var out struct {
		Outputs map[string]invoke.HTTPResponse
	}
	if err := json.Unmarshal(a.body, &out); err != nil {
		t.Fatalf("invocation response %s: %v", a.body, err)
	}
	res, ok := out.Outputs[invoke.HTTPOutputBinding]
	if !ok {
		t.Fatalf("invocation response lacks Outputs.%s: %s", invoke.HTTPOutputBinding, a.body)
	}
	status, err := strconv.Atoi(res.StatusCode)
	if err != nil {
		t.Fatalf("statusCode %q", res.StatusCode)
	}
	h := http.Header{}
	for k, v := range res.Headers {
		h.Set(k, v)
	}
	return answer{status: status, header: h, body: []byte(res.Body)}
}

func do(t *testing.T, req *http.Request) answer {
	t.Helper()
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: b}
}

// TestHTTPFunctionsInEveryHostMode serves the submission and status
// functions as a proxying, a forwarding and a payload-mode host delivers
// them: the client gets the same status, content type and body, error
// statuses included.
func TestHTTPFunctionsInEveryHostMode(t *testing.T) {
	jsonHeader := func(extra ...string) http.Header {
		h := http.Header{"Content-Type": {"application/json"}}
		for i := 0; i+1 < len(extra); i += 2 {
			h.Set(extra[i], extra[i+1])
		}
		return h
	}
	big := []byte(`["` + strings.Repeat("a", 20000) + `.top"]`)
	huge := []byte(`["` + strings.Repeat("a", 1200<<10) + `.top"]`)
	// Many indicators, so that the streamed body spans many writes.
	var many bytes.Buffer
	many.WriteString(`{"source":"ir-case-7","indicators":[`)
	for i := range 200 {
		if i > 0 {
			many.WriteByte(',')
		}
		many.WriteString(`"45.147.` + strconv.Itoa(i/250) + `.` + strconv.Itoa(i%250+1) + `"`)
	}
	many.WriteString(`]}`)

	type check func(t *testing.T, a answer)
	errorCode := func(status int, code string) check {
		return func(t *testing.T, a answer) {
			var e struct {
				Error struct{ Code, Message string }
			}
			json.Unmarshal(a.body, &e)
			if a.status != status || e.Error.Code != code || e.Error.Message == "" {
				t.Errorf("status %d body %.200s; want %d %s", a.status, a.body, status, code)
			}
		}
	}
	submitted := func(source string, accepted int) check {
		return func(t *testing.T, a answer) {
			var r ingest.SubmitResponse
			if err := json.Unmarshal(a.body, &r); err != nil || a.status != http.StatusAccepted || r.Source != source || r.Accepted != accepted {
				t.Errorf("status %d body %.300s; want 202 from %s with %d accepted", a.status, a.body, source, accepted)
			}
		}
	}
	cases := []struct {
		name  string
		req   clientRequest
		check check
	}{
		{"submission with the caller named by App Service authentication",
			clientRequest{method: "POST", path: "/api/indicators", query: "dry_run=true",
				header: jsonHeader(principalHeader, "alice@example.org"), body: []byte(`["bad-invoices.top","45.147.230.12"]`)},
			submitted("manual:alice@example.org", 2)},
		{"streamed submission of many indicators",
			clientRequest{method: "POST", path: "/api/indicators", query: "dry_run=true", header: jsonHeader(), body: many.Bytes()},
			submitted("ir-case-7", 200)},
		{"unsupported media type",
			clientRequest{method: "POST", path: "/api/indicators", header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, body: []byte("ioc=1.2.3.4")},
			errorCode(http.StatusUnsupportedMediaType, "unsupported_media_type")},
		{"bad dry_run",
			clientRequest{method: "POST", path: "/api/indicators", query: "dry_run=yes", header: jsonHeader(), body: []byte(`["45.147.230.12"]`)},
			errorCode(http.StatusBadRequest, "bad_dry_run")},
		{"body over SUBMIT_MAX_BYTES",
			clientRequest{method: "POST", path: "/api/indicators", query: "dry_run=true", header: jsonHeader(), body: big},
			errorCode(http.StatusRequestEntityTooLarge, "body_too_large")},
		{"body over the invocation payload bound",
			clientRequest{method: "POST", path: "/api/indicators", query: "dry_run=true", header: jsonHeader(), body: huge},
			errorCode(http.StatusRequestEntityTooLarge, "body_too_large")},
		{"status",
			clientRequest{method: "GET", path: "/api/status", header: http.Header{}},
			func(t *testing.T, a answer) {
				var doc statusDocument
				if err := json.Unmarshal(a.body, &doc); err != nil || a.status != http.StatusOK || len(doc.Feeds) < 9 {
					t.Errorf("status %d, %d feeds (%v): %.200s", a.status, len(doc.Feeds), err, a.body)
				}
			}},
		{"status by POST",
			clientRequest{method: "POST", path: "/api/status", header: jsonHeader(), body: []byte(`{}`)},
			errorCode(http.StatusMethodNotAllowed, "method_not_allowed")},
	}
	d := testDeps(t, map[string]string{"TRUST_CLIENT_PRINCIPAL_HEADER": "true", "SUBMIT_MAX_BYTES": "16384", "SUBMIT_MAX_ITEMS": "500"})
	srv := testServer(t, d)
	for _, mode := range []struct {
		name string
		send hostMode
	}{{"proxying", proxied}, {"forwarding", forwarded}, {"payload", payloadMode}} {
		t.Run(mode.name, func(t *testing.T) {
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					a := mode.send(t, srv.URL, tc.req)
					if ct := a.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
						t.Errorf("Content-Type %q, want JSON", ct)
					}
					tc.check(t, a)
				})
			}
		})
	}
	if ready, _, _, _ := d.spool.Counts(); ready != 0 {
		t.Errorf("dry runs and refused requests queued %d batches", ready)
	}
}

// TestPayloadModeChunkedBody: a host in payload mode drops a body sent
// without Content-Length; the client is told so, instead of hearing that
// its submission was empty.
func TestPayloadModeChunkedBody(t *testing.T) {
	d := testDeps(t, nil)
	srv := testServer(t, d)
	a := payloadMode(t, srv.URL, clientRequest{method: "POST", path: "/api/indicators",
		header: http.Header{"Content-Type": {"application/json"}, "Transfer-Encoding": {"chunked"}}, body: []byte(`["45.147.230.12"]`)})
	var e struct {
		Error struct{ Code, Message string }
	}
	json.Unmarshal(a.body, &e)
	if a.status != http.StatusBadRequest || e.Error.Code != "bad_body" || !strings.Contains(e.Error.Message, "Content-Length") {
		t.Errorf("status %d body %s; want 400 bad_body naming Content-Length", a.status, a.body)
	}
}

// TestWaitSlot: a payload-mode invocation runs only while it holds a slot,
// and one that gives up waiting runs nothing.
func TestWaitSlot(t *testing.T) {
	slots := make(chan struct{}, 1)
	ran := 0
	h := waitSlot(slots, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(slots) != 1 {
			t.Errorf("running without holding a slot")
		}
		ran++
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/SubmitIndicators", nil))
	if ran != 1 || len(slots) != 0 {
		t.Fatalf("ran %d, slots held after return %d", ran, len(slots))
	}
	slots <- struct{}{} // all taken
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/SubmitIndicators", nil).WithContext(ctx))
	if ran != 1 {
		t.Errorf("ran without a slot")
	}
}
