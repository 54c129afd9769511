package invoke

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Binding names of the HTTP functions' trigger and output, as
// function.json declares them.
const (
	HTTPTriggerBinding = "req"
	HTTPOutputBinding  = "res"
)

// ErrHTTPRequest is wrapped by the errors of [DecodeHTTPRequest].
var ErrHTTPRequest = errors.New("invoke: malformed HTTP trigger payload")

// ErrBodyDropped is the error reading the body of a request rebuilt by
// [DecodeHTTPRequest] when the client sent the body chunked: the host puts
// a body in the payload only when the request has a Content-Length, so
// that body is lost.
var ErrBodyDropped = errors.New("the Functions host passed on no body: in its payload mode it drops a body sent " +
	"without Content-Length (chunked); send the request with a Content-Length")

// DecodeHTTPRequest rebuilds the client's request from the payload the host
// sends for an HTTP trigger when it neither proxies nor forwards the
// request: Data.<binding> = {"Url", "Method", "Query", "Headers", "Params",
// "Identities", "Body"} (HttpRequestExtensions.GetRequestAsJObject in the
// host). binding is usually [HTTPTriggerBinding]; when it is missing and
// Data has a single entry, that entry is used.
//
// The URL's path and query become the request's; Query is used only when
// Url carries no query. Headers may map a name to a string or a list of
// strings. Body is the text of the body, or its base64 when the
// Content-Type is application/octet-stream or multipart/* (the host sends
// byte arrays so); absent means an empty body, except that a chunked
// request without Body gets a body whose reads fail with [ErrBodyDropped].
// Content-Length and Transfer-Encoding headers are dropped: the body is
// complete. Params and Identities are ignored: the routes are fixed, and
// App Service authentication also names the caller in
// X-MS-CLIENT-PRINCIPAL-NAME, which is among Headers. Errors wrap
// [ErrHTTPRequest] (and [ErrNoBinding] when the binding is missing).
func DecodeHTTPRequest(ctx context.Context, req *Request, binding string) (*http.Request, error) {
	if binding == "" {
		binding = HTTPTriggerBinding
	}
	raw, err := triggerValue(req, binding)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrHTTPRequest, err)
	}
	obj, err := decodeObject(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: binding %q: %w", ErrHTTPRequest, binding, err)
	}
	if obj == nil {
		return nil, fmt.Errorf("%w: binding %q is null; want the request object", ErrHTTPRequest, binding)
	}
	method, err := DecodeString(lookup(obj, "Method"))
	if err != nil || method == "" || strings.ContainsAny(method, " \t\r\n") {
		return nil, fmt.Errorf("%w: want a method name in Method, got %q", ErrHTTPRequest, truncate(lookup(obj, "Method")))
	}
	rawURL, err := DecodeString(lookup(obj, "Url"))
	if err != nil {
		return nil, fmt.Errorf("%w: Url: %w", ErrHTTPRequest, err)
	}
	u, err := url.Parse(rawURL)
	if err != nil || u.Path == "" {
		return nil, fmt.Errorf("%w: want an absolute URL with a path in Url, got %q", ErrHTTPRequest, truncate([]byte(rawURL)))
	}
	if u.RawQuery == "" {
		u.RawQuery = queryValues(lookup(obj, "Query")).Encode()
	}
	header, chunked, err := decodeHeaders(lookup(obj, "Headers"))
	if err != nil {
		return nil, err
	}
	body, err := decodeHTTPBody(lookup(obj, "Body"), header.Get("Content-Type"))
	if err != nil {
		return nil, err
	}
	r, err := http.NewRequestWithContext(ctx, strings.ToUpper(method), u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrHTTPRequest, err)
	}
	r.Header = header
	r.Host = u.Host
	if chunked && len(body) == 0 {
		r.Body, r.ContentLength = io.NopCloser(errReader{ErrBodyDropped}), -1
	}
	r.RequestURI = u.RequestURI()
	return r, nil
}

// queryValues decodes the payload's Query object ({"name":"value"} or
// {"name":["v1","v2"]}, possibly as a JSON string); anything else yields no
// values, as the query already travels in Url.
func queryValues(raw json.RawMessage) url.Values {
	m, _ := decodeObject(raw)
	q := url.Values{}
	for k, v := range m {
		for _, s := range stringList(v) {
			q.Add(k, s)
		}
	}
	return q
}

// decodeHeaders decodes the payload's Headers object. Hop-by-hop and
// length headers are dropped; chunked says whether Transfer-Encoding
// named chunked.
func decodeHeaders(raw json.RawMessage) (h http.Header, chunked bool, err error) {
	m, err := decodeObject(raw)
	if err != nil {
		return nil, false, fmt.Errorf("%w: Headers: %w", ErrHTTPRequest, err)
	}
	h = http.Header{}
	for k, v := range m {
		switch http.CanonicalHeaderKey(k) {
		case "Transfer-Encoding":
			for _, s := range stringList(v) {
				chunked = chunked || strings.Contains(strings.ToLower(s), "chunked")
			}
			continue
		case "Content-Length", "Connection", "Keep-Alive", "Upgrade", "Te", "Trailer":
			continue
		}
		for _, s := range stringList(v) {
			h.Add(k, s)
		}
	}
	return h, chunked, nil
}

// stringList decodes a string or a list of strings; other values yield
// their JSON text.
func stringList(raw json.RawMessage) []string {
	b := bytes.TrimSpace(raw)
	if len(b) > 0 && b[0] == '[' {
		var items []json.RawMessage
		if json.Unmarshal(b, &items) == nil {
			out := make([]string, 0, len(items))
			for _, it := range items {
				out = append(out, propertyText(it))
			}
			return out
		}
	}
	if isNull(b) {
		return nil
	}
	return []string{propertyText(b)}
}

// decodeHTTPBody returns the body bytes: the text of a JSON string, or its
// base64 decoding for the media types the host sends as bytes.
func decodeHTTPBody(raw json.RawMessage, contentType string) ([]byte, error) {
	b := bytes.TrimSpace(raw)
	if isNull(b) {
		return nil, nil
	}
	if b[0] != '"' {
		// Not what the host sends, but unambiguous: a JSON document.
		if !json.Valid(b) {
			return nil, fmt.Errorf("%w: Body is not valid JSON", ErrHTTPRequest)
		}
		return b, nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%w: Body: %w", ErrHTTPRequest, err)
	}
	if !bodyIsBytes(contentType) {
		return []byte(s), nil
	}
	d, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: Body of a %s request must be base64: %w", ErrHTTPRequest, contentType, err)
	}
	return d, nil
}

// bodyIsBytes reports whether the host sends a body of this Content-Type
// as a byte array (base64): application/octet-stream and multipart/*, as
// the host's Utility.IsMediaTypeOctetOrMultipart decides.
func bodyIsBytes(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mt == "application/octet-stream" || strings.Contains(mt, "multipart/")
}

// HTTPResponse is the value of an http output binding in a [Response]:
// the host answers the client with StatusCode, Headers and Body. The host
// reads Headers and StatusCode only when Body is present, so Body is
// always written.
type HTTPResponse struct {
	StatusCode string            `json:"statusCode"`
	Body       string            `json:"body"`
	Headers    map[string]string `json:"headers"`
}

// HTTPHandler serves an HTTP function in the host's payload mode: the host
// POSTs /<FunctionName> with a [Request] whose Data.req describes the
// client's request ([DecodeHTTPRequest]); next serves the rebuilt request
// as it would serve the proxied or forwarded one, and its answer goes back
// as Outputs.res ([HTTPResponse]) with status 200, so that the client
// receives next's status, headers and body, error statuses included. (A
// non-2xx answer to the host would fail the invocation and give the client
// a bare 500.)
//
// A payload larger than opts.MaxBody is not decoded: next receives a
// request whose body fails with an *http.MaxBytesError. A payload that
// cannot be decoded fails the invocation (500), as in [Handler].
func HTTPHandler(name string, next http.Handler, opts *HandlerOptions) http.Handler {
	var o HandlerOptions
	if opts != nil {
		o = *opts
	}
	if o.MaxBody <= 0 {
		o.MaxBody = DefaultMaxBody
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	fn := func(ctx context.Context, inv *Invocation) (*Response, error) {
		r, err := DecodeHTTPRequest(ctx, inv.Request, HTTPTriggerBinding)
		if err != nil {
			return nil, err
		}
		r.Header.Set(InvocationIDHeader, inv.ID)
		return serveRecorded(next, r), nil
	}
	inner := Handler(name, fn, &o)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			inner.ServeHTTP(w, r)
			return
		}
		payload, err := io.ReadAll(http.MaxBytesReader(w, r.Body, o.MaxBody))
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			o.Logger.Warn("invocation payload too large; answering as an oversized body", "function", name,
				"invocation_id", r.Header.Get(InvocationIDHeader), "max_bytes", o.MaxBody)
			tooLarge, _ := http.NewRequestWithContext(r.Context(), http.MethodPost, "/", errReader{mbe})
			tooLarge.Header.Set(InvocationIDHeader, r.Header.Get(InvocationIDHeader))
			writeInvocation(w, serveRecorded(next, tooLarge))
			return
		}
		if err != nil {
			payload = nil // the decode below fails and says so
		}
		r.Body = io.NopCloser(bytes.NewReader(payload))
		inner.ServeHTTP(w, r)
	})
}

// errReader is a body whose every read fails with err.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// writeInvocation answers the host with 200 and resp.
func writeInvocation(w http.ResponseWriter, resp *Response) {
	b, err := json.Marshal(resp)
	if err != nil {
		http.Error(w, "invoke: encode response", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write(append(b, '\n'))
}

// serveRecorded runs next on r and returns its answer as Outputs.res.
func serveRecorded(next http.Handler, r *http.Request) *Response {
	rec := &recorder{header: http.Header{}}
	next.ServeHTTP(rec, r)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	res := HTTPResponse{StatusCode: strconv.Itoa(rec.status), Body: rec.body.String(), Headers: map[string]string{}}
	for k, v := range rec.header {
		res.Headers[k] = strings.Join(v, ", ")
	}
	resp := &Response{Outputs: map[string]any{HTTPOutputBinding: res}}
	resp.Logf("HTTP %s %s: %d", r.Method, r.URL.Path, rec.status)
	return resp
}

// recorder is the http.ResponseWriter given to next in payload mode.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(b)
}
