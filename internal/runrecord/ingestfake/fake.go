// Package ingestfake is an in-process fake of the Azure Monitor Logs
// Ingestion API, built from its documented contract (Microsoft Learn,
// "Logs Ingestion API in Azure Monitor" and the custom logs limits):
//
//   - POST {endpoint}/dataCollectionRules/{dcrImmutableId}/streams/{stream}?api-version=2023-01-01
//   - Authorization: Bearer …; Content-Type: application/json; optional
//     Content-Encoding: gzip
//   - the body is a JSON array of objects matching the stream declaration
//   - at most 1 MB per call, compressed or not, and 64 KB per field
//   - 204 No Content on success; 429 with Retry-After when throttled
//
// It refuses what the service refuses (unknown rule or stream, a missing
// token, a body over 1 MB, anything but a JSON array), and is stricter
// where a silent service behaviour would hide a bug: a column the stream
// does not declare, or a value of the wrong type, is a 400 here, where the
// service would drop or null it.
package ingestfake

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Limits of the service.
const (
	MaxCallBytes  = 1_000_000
	MaxFieldBytes = 64 << 10
	APIVersion    = "2023-01-01"
)

// Column is one column of a stream declaration.
type Column struct {
	Name string
	Type string // string, int, long, real, boolean, datetime, dynamic
}

// Request is what the fake saw of one call.
type Request struct {
	Status  int
	Gzip    bool
	Bytes   int // on the wire
	Rows    int
	Message string // why it was refused ("" when accepted)
}

// Server is the fake endpoint. Its methods are safe for concurrent use.
type Server struct {
	*httptest.Server
	ruleID, stream string
	columns        map[string]string

	mu       sync.Mutex
	rows     []map[string]any
	requests []Request
	throttle []string // Retry-After values of the next calls to refuse with 429
	fail     []int    // statuses of the next calls to refuse
}

// New starts a plain-http fake on a loopback address accepting ruleID and
// stream with the given columns. Close it when done.
func New(ruleID, stream string, columns []Column) *Server {
	s := &Server{ruleID: ruleID, stream: stream, columns: map[string]string{}}
	for _, c := range columns {
		s.columns[c.Name] = c.Type
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Throttle makes the next len(retryAfter) calls answer 429 with these
// Retry-After values ("" = no header).
func (s *Server) Throttle(retryAfter ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttle = append(s.throttle, retryAfter...)
}

// Fail makes the next len(status) calls answer these statuses.
func (s *Server) Fail(status ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = append(s.fail, status...)
}

// Rows returns the rows accepted so far.
func (s *Server) Rows() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]any(nil), s.rows...)
}

// Requests returns every call so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

var pathRE = regexp.MustCompile(`^/dataCollectionRules/([^/]+)/streams/([^/]+)$`)

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	req := Request{Bytes: -1, Gzip: strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip")}
	status, retryAfter, msg := s.check(r, &req)
	req.Status, req.Message = status, msg
	s.mu.Lock()
	s.requests = append(s.requests, req)
	s.mu.Unlock()
	if retryAfter != "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	if status == http.StatusNoContent {
		w.WriteHeader(status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]any{"error": map[string]string{"code": http.StatusText(status), "message": msg}})
	w.Write(b)
}

// check validates one call and, when it is good, keeps its rows.
func (s *Server) check(r *http.Request, req *Request) (status int, retryAfter, msg string) {
	if r.Method != http.MethodPost {
		return http.StatusMethodNotAllowed, "", "use POST"
	}
	if v := r.URL.Query().Get("api-version"); v != APIVersion {
		return http.StatusBadRequest, "", fmt.Sprintf("api-version %q is not supported; use %s", v, APIVersion)
	}
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); !ok || strings.TrimSpace(tok) == "" {
		return http.StatusUnauthorized, "", "no bearer token"
	}
	m := pathRE.FindStringSubmatch(r.URL.EscapedPath())
	if m == nil {
		return http.StatusNotFound, "", "the path is not /dataCollectionRules/{id}/streams/{stream}"
	}
	if m[1] != s.ruleID {
		return http.StatusNotFound, "", fmt.Sprintf("data collection rule %q not found", m[1])
	}
	if m[2] != s.stream {
		return http.StatusBadRequest, "", fmt.Sprintf("stream %q is not declared by the data collection rule", m[2])
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return http.StatusUnsupportedMediaType, "", fmt.Sprintf("Content-Type %q; want application/json", ct)
	}
	s.mu.Lock()
	if len(s.throttle) > 0 {
		ra := s.throttle[0]
		s.throttle = s.throttle[1:]
		s.mu.Unlock()
		return http.StatusTooManyRequests, ra, "throttled"
	}
	if len(s.fail) > 0 {
		st := s.fail[0]
		s.fail = s.fail[1:]
		s.mu.Unlock()
		return st, "", "failure injected by the test"
	}
	s.mu.Unlock()
	wire, err := io.ReadAll(io.LimitReader(r.Body, MaxCallBytes+1))
	req.Bytes = len(wire)
	if err != nil {
		return http.StatusBadRequest, "", "reading the body: " + err.Error()
	}
	if len(wire) > MaxCallBytes {
		return http.StatusRequestEntityTooLarge, "", "the body is over 1 MB"
	}
	body := wire
	if req.Gzip {
		zr, err := gzip.NewReader(bytes.NewReader(wire))
		if err != nil {
			return http.StatusBadRequest, "", "Content-Encoding gzip, but the body is not gzip: " + err.Error()
		}
		body, err = io.ReadAll(io.LimitReader(zr, MaxCallBytes+1))
		if err != nil {
			return http.StatusBadRequest, "", "the gzip body is corrupt: " + err.Error()
		}
		if len(body) > MaxCallBytes {
			return http.StatusRequestEntityTooLarge, "", "the body is over 1 MB uncompressed"
		}
	}
	var rows []map[string]json.RawMessage
	if t := bytes.TrimSpace(body); len(t) == 0 || t[0] != '[' {
		return http.StatusBadRequest, "", "the body is not a JSON array"
	}
	if err := json.Unmarshal(body, &rows); err != nil {
		return http.StatusBadRequest, "", "the body is not a JSON array of objects: " + err.Error()
	}
	out := make([]map[string]any, 0, len(rows))
	for i, row := range rows {
		if row == nil {
			return http.StatusBadRequest, "", fmt.Sprintf("element %d is not an object", i)
		}
		o := map[string]any{}
		for name, raw := range row {
			typ, ok := s.columns[name]
			if !ok {
				return http.StatusBadRequest, "", fmt.Sprintf("element %d: column %q is not declared by stream %s", i, name, s.stream)
			}
			if len(raw) > MaxFieldBytes {
				return http.StatusBadRequest, "", fmt.Sprintf("element %d: column %q is over 64 KB", i, name)
			}
			v, err := value(typ, raw)
			if err != nil {
				return http.StatusBadRequest, "", fmt.Sprintf("element %d: column %q (%s): %v", i, name, typ, err)
			}
			o[name] = v
		}
		out = append(out, o)
	}
	req.Rows = len(out)
	s.mu.Lock()
	s.rows = append(s.rows, out...)
	s.mu.Unlock()
	return http.StatusNoContent, "", ""
}

// value decodes raw as a value of a column of type typ (null is allowed).
func value(typ string, raw json.RawMessage) (any, error) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if v == nil {
		return nil, nil
	}
	switch typ {
	case "string":
		if _, ok := v.(string); !ok {
			return nil, fmt.Errorf("not a string: %s", raw)
		}
	case "int", "long":
		n, ok := v.(json.Number)
		if !ok {
			return nil, fmt.Errorf("not a number: %s", raw)
		}
		i, err := n.Int64()
		if err != nil {
			return nil, fmt.Errorf("not a whole number: %s", raw)
		}
		return i, nil
	case "real":
		if _, ok := v.(json.Number); !ok {
			return nil, fmt.Errorf("not a number: %s", raw)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return nil, fmt.Errorf("not a boolean: %s", raw)
		}
	case "datetime":
		str, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("not an ISO 8601 string: %s", raw)
		}
		t, err := time.Parse(time.RFC3339Nano, str)
		if err != nil {
			return nil, fmt.Errorf("not an ISO 8601 time: %s", raw)
		}
		return t, nil
	case "dynamic":
	default:
		return nil, fmt.Errorf("unknown column type %q", typ)
	}
	return v, nil
}

var (
	streamRE = regexp.MustCompile(`streamDeclarations:\s*\{\s*'([^']+)':\s*\{\s*columns:\s*(\[|\w+)`)
	columnRE = regexp.MustCompile(`\{\s*name:\s*'([^']+)'\s*type:\s*'([^']+)'\s*\}`)
)

// StreamFromBicep returns the first stream declared in the
// streamDeclarations of a data collection rule in Bicep source, with its
// columns in order. The columns are an array literal or the name of a
// `var <name> = [` … `]` (closing bracket at column 0) in the same source,
// each column written as `{ name: '…' type: '…' }` on one line or several.
func StreamFromBicep(src string) (stream string, columns []Column, err error) {
	m := streamRE.FindStringSubmatchIndex(src)
	if m == nil {
		return "", nil, fmt.Errorf("no streamDeclarations: { '<stream>': { columns: … } } in the Bicep source")
	}
	stream = src[m[2]:m[3]]
	var list string
	if ref := src[m[4]:m[5]]; ref == "[" {
		rest := src[m[4]:]
		end := strings.Index(rest, "]")
		if end < 0 {
			return "", nil, fmt.Errorf("stream %s: unterminated columns array", stream)
		}
		list = rest[:end]
	} else {
		start := strings.Index(src, "\nvar "+ref+" = [\n")
		if start < 0 {
			return "", nil, fmt.Errorf("stream %s: columns refer to %s, which is not a var = [ … ] in the source", stream, ref)
		}
		rest := src[start+1:]
		end := strings.Index(rest, "\n]")
		if end < 0 {
			return "", nil, fmt.Errorf("stream %s: var %s has no closing ] at column 0", stream, ref)
		}
		list = rest[:end]
	}
	for _, c := range columnRE.FindAllStringSubmatch(list, -1) {
		columns = append(columns, Column{Name: c[1], Type: c[2]})
	}
	if len(columns) == 0 {
		return "", nil, fmt.Errorf("stream %s declares no column", stream)
	}
	return stream, columns, nil
}
