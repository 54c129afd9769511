package sentinel

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// defaultRetryAfter is the delay assumed for a 429 that names none.
const defaultRetryAfter = 60 * time.Second

// recordError is one element of errors[] as sent by either API: docs use
// errorMessages, the swagger validationErrorMessages; both are read.
// encoding/json matches the keys case-insensitively.
type recordError struct {
	RecordIndex             json.Number `json:"recordIndex"`
	ErrorMessages           []string    `json:"errorMessages"`
	ValidationErrorMessages []string    `json:"validationErrorMessages"`
}

// responseBody is the union of every body shape the service is known to
// send: per-record errors (bare or in the legacy {"body":{...}} wrapper),
// APIM-style {statusCode, message} and ARM-style {error:{code, message}}.
type responseBody struct {
	Errors []recordError `json:"errors"`
	Body   *struct {
		Errors []recordError `json:"errors"`
	} `json:"body"`
	Message string `json:"message"`
	Error   *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// parsedBody is what parseBody extracts.
type parsedBody struct {
	records []recordError
	code    string
	message string
	ok      bool // the body was empty or a JSON object
}

// parseBody decodes a response body of any known shape. It never fails: an
// unreadable body yields ok == false and, for short text, the text as message.
func parseBody(body []byte) parsedBody {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return parsedBody{ok: true}
	}
	var rb responseBody
	if err := json.Unmarshal(trimmed, &rb); err != nil {
		msg := string(trimmed)
		if len(msg) > 200 {
			msg = msg[:200] + "…"
		}
		return parsedBody{message: strings.ToValidUTF8(msg, "?")}
	}
	p := parsedBody{ok: true, records: rb.Errors, message: rb.Message}
	if rb.Body != nil && len(p.records) == 0 {
		p.records = rb.Body.Errors
	}
	if rb.Error != nil {
		p.code = rb.Error.Code
		if rb.Error.Message != "" {
			p.message = rb.Error.Message
		}
	}
	return p
}

// index returns the record's 0-based index, or -1 when it is missing or not
// a non-negative integer (1.0 is accepted as 1).
func (r recordError) index() int {
	s := r.RecordIndex.String()
	if s == "" {
		return -1
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 || n > math.MaxInt32 {
			return -1
		}
		return int(n)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f > math.MaxInt32 || f != math.Trunc(f) {
		return -1
	}
	return int(f)
}

// messages returns both message lists, concatenated.
func (r recordError) messages() []string {
	out := make([]string, 0, len(r.ErrorMessages)+len(r.ValidationErrorMessages))
	out = append(out, r.ErrorMessages...)
	return append(out, r.ValidationErrorMessages...)
}

// tryAgainRE finds the delay in "Rate limit is exceeded. Try again in 45 seconds."
var tryAgainRE = regexp.MustCompile(`(?i)try again in (\d+) seconds?`)

// retryAfter computes a 429's delay: the Retry-After header (delta-seconds
// or HTTP date, relative to now), else "Try again in N seconds" in message,
// else defaultRetryAfter. The result is at least one second.
func retryAfter(h http.Header, message string, now time.Time) time.Duration {
	d := time.Duration(-1)
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 && n < 1<<31 {
			d = time.Duration(n) * time.Second
		} else if t, err := http.ParseTime(v); err == nil {
			d = max(0, t.Sub(now)) // a date in the past means "now"
		}
	}
	if d < 0 {
		if m := tryAgainRE.FindStringSubmatch(message); m != nil {
			if n, err := strconv.ParseInt(m[1], 10, 64); err == nil && n < 1<<31 {
				d = time.Duration(n) * time.Second
			}
		}
	}
	if d < 0 {
		d = defaultRetryAfter
	}
	if d < time.Second {
		d = time.Second
	}
	return d
}

// hintUnreadable is the operator advice for a 2xx whose body is not the
// service's JSON.
const hintUnreadable = "the success response is not the service's JSON (a proxy's page or a wrong SENTINEL_ENDPOINT?); nothing is counted as accepted and the upload may be retried"

// hintUnauthorizedLoopback is the advice for a 401 from a plain-http
// loopback endpoint, to which no token is sent.
const hintUnauthorizedLoopback = "the endpoint requires authentication, but no access token is sent to a plain-http loopback SENTINEL_ENDPOINT (a local fake or proxy): configure it to accept requests without a token, or use an https endpoint"

// hint returns the operator advice for a permanent status.
func hint(status int, workspaceID string, api API) string {
	switch status {
	case http.StatusBadRequest:
		return "the service rejected the request as malformed; the objects are not retried"
	case http.StatusUnauthorized:
		return "the access token was refused even after a refresh: the identity must get a token for https://management.azure.com (not Graph); check the managed identity (AZURE_CLIENT_ID for a user-assigned one)"
	case http.StatusForbidden:
		return "the identity lacks the Microsoft Sentinel Contributor role on the workspace (Log Analytics workspace > Access control (IAM))"
	case http.StatusNotFound:
		return "workspace SENTINEL_WORKSPACE_ID=" + workspaceID + " not found: use the workspace ID (GUID) from Log Analytics workspace Overview, not the resource ID; check SENTINEL_ENDPOINT and SENTINEL_API=" + string(api)
	case http.StatusRequestEntityTooLarge:
		return "the request body is too large for the service; make the object smaller"
	}
	return ""
}
