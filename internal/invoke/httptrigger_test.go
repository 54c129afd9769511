package invoke

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// echo answers with the request it received, as JSON, and the status and
// header the request asks for in ?status= and X-Want-Header.
func echo() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			io.WriteString(w, `{"error":"too large"}`)
			return
		}
		status := http.StatusOK
		if s := r.URL.Query().Get("status"); s != "" {
			status = atoiOr(s, 200)
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Add("X-Multi", "a")
		w.Header().Add("X-Multi", "b")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]any{
			"method": r.Method, "path": r.URL.Path, "query": r.URL.RawQuery,
			"ctype": r.Header.Get("Content-Type"), "principal": r.Header.Get("X-MS-CLIENT-PRINCIPAL-NAME"),
			"invocation": r.Header.Get(InvocationIDHeader), "body": string(body),
			"length": r.ContentLength,
		})
	})
}

func atoiOr(s string, def int) int {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return def
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// payload builds an invocation payload with Data.req = req.
func payload(t testing.TB, req map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"Data": map[string]any{"req": req}, "Metadata": map[string]any{}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// invokeHTTP POSTs body to an HTTPHandler around echo and returns the
// host-level status and the decoded Outputs.res.
func invokeHTTP(t *testing.T, opts *HandlerOptions, body []byte) (int, HTTPResponse, map[string]any) {
	t.Helper()
	h := HTTPHandler("Echo", echo(), opts)
	r := httptest.NewRequest(http.MethodPost, "/Echo", bytes.NewReader(body))
	r.Header.Set(InvocationIDHeader, "inv-1")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var out struct {
		Outputs struct{ Res HTTPResponse }
	}
	_ = json.Unmarshal(w.Body.Bytes(), &out)
	var got map[string]any
	_ = json.Unmarshal([]byte(out.Outputs.Res.Body), &got)
	return w.Code, out.Outputs.Res, got
}

// TestHTTPHandlerDocSample serves the documentation's payload-mode request
// (Query as the string "{}", Headers as lists, Body as text).
func TestHTTPHandlerDocSample(t *testing.T) {
	t.Parallel()
	status, res, got := invokeHTTP(t, nil, httpSampleBody(t, "ms_doc_http_trigger_request_nonforwarding.http"))
	if status != 200 || res.StatusCode != "200" {
		t.Fatalf("host status %d, res %+v", status, res)
	}
	if got["method"] != "POST" || got["path"] != "/api/order" || got["ctype"] != "application/json" ||
		got["body"] != `{"id":1005,"quantity":2,"color":"black"}` || got["invocation"] != "inv-1" {
		t.Errorf("handler saw %v", got)
	}
	if res.Headers["Content-Type"] != "application/json; charset=utf-8" || res.Headers["X-Multi"] != "a, b" {
		t.Errorf("headers = %v", res.Headers)
	}
}

// TestHTTPHandlerShapes covers the forms of Data.req the host may send.
func TestHTTPHandlerShapes(t *testing.T) {
	t.Parallel()
	octet := []byte("\x00\x01 bin \"q\"")
	for _, tc := range []struct {
		name  string
		req   map[string]any
		check func(t *testing.T, res HTTPResponse, got map[string]any)
	}{
		{"error status reaches the client with its body",
			map[string]any{"Url": "https://app.example/api/indicators?status=415", "Method": "POST",
				"Headers": map[string]any{"Content-Type": []string{"application/x-www-form-urlencoded"}}, "Body": "ioc=1.2.3.4"},
			func(t *testing.T, res HTTPResponse, got map[string]any) {
				if res.StatusCode != "415" || got["body"] != "ioc=1.2.3.4" || got["query"] != "status=415" {
					t.Errorf("res %+v, handler saw %v", res, got)
				}
			}},
		{"octet-stream body is base64",
			map[string]any{"Url": "http://localhost:7071/api/indicators", "Method": "post",
				"Headers": map[string]any{"content-type": "application/octet-stream"}, "Body": base64.StdEncoding.EncodeToString(octet)},
			func(t *testing.T, res HTTPResponse, got map[string]any) {
				if got["body"] != string(octet) || got["method"] != "POST" || got["length"] != float64(len(octet)) {
					t.Errorf("handler saw %v", got)
				}
			}},
		{"query from the Query object when Url has none, principal header kept",
			map[string]any{"Url": "http://localhost:7071/api/status", "Method": "GET",
				"Query":   map[string]any{"dry_run": "true"},
				"Headers": map[string]any{"X-MS-CLIENT-PRINCIPAL-NAME": []string{"alice@example.org"}, "Content-Length": "999"}},
			func(t *testing.T, res HTTPResponse, got map[string]any) {
				if got["query"] != "dry_run=true" || got["principal"] != "alice@example.org" || got["body"] != "" || got["length"] != float64(0) {
					t.Errorf("handler saw %v", got)
				}
			}},
		{"client's invocation id header is replaced by the host's",
			map[string]any{"Url": "http://h/api/status", "Method": "GET", "Headers": map[string]any{InvocationIDHeader: "spoofed"}},
			func(t *testing.T, res HTTPResponse, got map[string]any) {
				if got["invocation"] != "inv-1" {
					t.Errorf("handler saw %v", got)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			status, res, got := invokeHTTP(t, nil, payload(t, tc.req))
			if status != 200 {
				t.Fatalf("host status %d: a client-facing answer must never fail the invocation", status)
			}
			tc.check(t, res, got)
		})
	}
}

// TestHTTPHandlerTooLarge: an oversized payload is answered by next as an
// oversized body (413 to the client), not by failing the invocation.
func TestHTTPHandlerTooLarge(t *testing.T) {
	t.Parallel()
	body := payload(t, map[string]any{"Url": "http://h/api/indicators", "Method": "POST", "Body": strings.Repeat("x", 4096)})
	status, res, _ := invokeHTTP(t, &HandlerOptions{MaxBody: 1024}, body)
	if status != 200 || res.StatusCode != "413" || res.Body != `{"error":"too large"}` {
		t.Errorf("host status %d, res %+v", status, res)
	}
}

// TestHTTPHandlerMalformed: a payload that describes no request fails the
// invocation (the host logs it) and says why.
func TestHTTPHandlerMalformed(t *testing.T) {
	t.Parallel()
	for name, body := range map[string]string{
		"not json":        `{"Data":`,
		"no binding":      `{"Data":{"a":1,"b":2}}`,
		"req not object":  `{"Data":{"req":[1]}}`,
		"no method":       `{"Data":{"req":{"Url":"http://h/api/x"}}}`,
		"bad method":      `{"Data":{"req":{"Url":"http://h/api/x","Method":"GE T"}}}`,
		"no url":          `{"Data":{"req":{"Method":"GET"}}}`,
		"bad base64 body": `{"Data":{"req":{"Url":"http://h/x","Method":"POST","Headers":{"Content-Type":["multipart/form-data; boundary=x"]},"Body":"%%%"}}}`,
		"invalid body":    `{"Data":{"req":{"Url":"http://h/x","Method":"POST","Body":{"a":}}}}`,
	} {
		status, res, _ := invokeHTTP(t, nil, []byte(body))
		if status != http.StatusInternalServerError || res.StatusCode != "" {
			t.Errorf("%s: host status %d, res %+v; want a failed invocation", name, status, res)
		}
	}
	// Not POST: the host always POSTs invocations.
	w := httptest.NewRecorder()
	HTTPHandler("Echo", echo(), nil).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/Echo", nil))
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET = %d", w.Code)
	}
}

func TestDecodeHTTPRequestErrors(t *testing.T) {
	t.Parallel()
	_, err := DecodeHTTPRequest(context.Background(), &Request{Data: map[string]json.RawMessage{}}, "")
	if !errors.Is(err, ErrHTTPRequest) || !errors.Is(err, ErrNoBinding) {
		t.Errorf("missing binding: %v", err)
	}
	// A single input under another name is taken.
	r, err := DecodeHTTPRequest(context.Background(), &Request{Data: map[string]json.RawMessage{
		"request": json.RawMessage(`"{\"Url\":\"http://h/api/status\",\"Method\":\"GET\"}"`)}}, "")
	if err != nil || r.URL.Path != "/api/status" {
		t.Errorf("renamed, string-encoded binding: %v, %v", r, err)
	}
}

func TestDecodeHTTPRequestChunkedBodyDropped(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		req     string
		wantErr error
		want    string
	}{
		{`{"Url":"http://h/api/indicators","Method":"POST","Headers":{"Transfer-Encoding":["chunked"]}}`, ErrBodyDropped, ""},
		{`{"Url":"http://h/api/indicators","Method":"POST","Headers":{"transfer-encoding":"gzip, chunked"},"Body":"abc"}`, nil, "abc"},
		{`{"Url":"http://h/api/status","Method":"GET"}`, nil, ""},
	} {
		r, err := DecodeHTTPRequest(context.Background(), &Request{Data: map[string]json.RawMessage{"req": json.RawMessage(tc.req)}}, "")
		if err != nil {
			t.Fatalf("%s: %v", tc.req, err)
		}
		b, err := io.ReadAll(r.Body)
		if !errors.Is(err, tc.wantErr) || string(b) != tc.want || r.Header.Get("Transfer-Encoding") != "" {
			t.Errorf("%s: body %q, %v; want %q, %v", tc.req, b, err, tc.want, tc.wantErr)
		}
	}
}

func FuzzDecodeHTTPRequest(f *testing.F) {
	f.Add(httpSampleBody(f, "ms_doc_http_trigger_request_nonforwarding.http"))
	f.Add([]byte(`{"Data":{"req":{"Url":"http://h/x?a=1","Method":"POST","Headers":{"Content-Type":"application/octet-stream"},"Body":"AAEC"}}}`))
	f.Add([]byte(`{"Data":{"req":"{\"Url\":\"http://h/x\",\"Method\":\"GET\",\"Query\":\"{\\\"a\\\":[\\\"1\\\",2]}\"}"}}`))
	f.Add([]byte(`{"Data":{"req":{"Url":"::","Method":"\u0000"}}}`))
	f.Add([]byte(`{"Data":{"req":{"Url":"/x","Method":"PUT","Headers":{"Transfer-Encoding":["chunked"],"Content-Length":"-1"}}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := DecodeRequest(bytes.NewReader(b))
		if err != nil {
			return
		}
		r, err := DecodeHTTPRequest(context.Background(), req, "")
		if err != nil {
			if !errors.Is(err, ErrHTTPRequest) {
				t.Fatalf("error %v does not wrap ErrHTTPRequest", err)
			}
			return
		}
		if r.Method == "" || r.URL == nil || r.Body == nil {
			t.Fatalf("incomplete request %+v", r)
		}
		_, _ = io.Copy(io.Discard, r.Body)
	})
}
