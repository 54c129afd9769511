package sentinel

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
)

// objectHead is what Upload reads from each object.
type objectHead struct {
	ID   string `json:"id"`
	Type string `json:"type"`
}

// batch is one Upload in progress.
type batch struct {
	objects       []json.RawMessage
	ids           []string
	res           *Result
	throttleWaits int  // 429s waited out so far, across split requests
	refreshed     bool // a 401 has been retried with a fresh token
}

// Upload sends at most MaxObjectsPerRequest STIX objects (each a JSON
// object, copied into the request body verbatim) in one request and reports
// what the service did with each. It waits for the client's rate limiter
// first.
//
// A nil error means every object has an answer: Result.Accepted were taken;
// Result.Rejected were refused per record (or were not valid JSON objects
// and never sent) and should not be retried; Result.Dropped were not sent
// because the legacy API takes indicators only. Indexes refer to objects.
//
// Errors: ErrTooManyObjects (wrapped) for more than MaxObjectsPerRequest
// objects; *ThrottledError for a 429 whose delay does not fit before ctx's
// deadline (429s that fit are waited out, at most three times per Upload);
// *ResponseError otherwise. Both match ErrTransient or ErrPermanent with
// errors.Is. 5xx, 408 and network errors have already been retried by the
// azcore pipeline. A 2xx whose body is neither empty nor a JSON object (an
// HTML page from a proxy or a wrong endpoint) is a transient *ResponseError:
// the service's answer is unknown, so nothing is counted as accepted. A 401
// is retried once: azcore's bearer token policy drops its cached token on a
// 401, so the retry carries a freshly acquired one; a second 401 is
// permanent. A 400 that names records is answered by resending the other
// objects once. A 413 (request too large) is answered by sending each half
// of the request separately, recursively; an object refused with 413 on its
// own is reported in Result.Rejected. Upload is safe for concurrent use.
func (c *Client) Upload(ctx context.Context, objects []json.RawMessage) (*Result, error) {
	if len(objects) > MaxObjectsPerRequest {
		return nil, fmt.Errorf("sentinel upload: %d objects, limit %d: %w", len(objects), MaxObjectsPerRequest, ErrTooManyObjects)
	}
	b := &batch{objects: objects, ids: make([]string, len(objects)), res: &Result{}}
	sent := make([]int, 0, len(objects))
	for i, raw := range objects {
		var h objectHead
		if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' {
			b.res.Rejected = append(b.res.Rejected, RecordError{Index: i, Messages: []string{"not a JSON object; not sent"}})
			continue
		}
		if err := json.Unmarshal(raw, &h); err != nil {
			b.res.Rejected = append(b.res.Rejected, RecordError{Index: i, Messages: []string{"invalid JSON object, not sent: " + err.Error()}})
			continue
		}
		b.ids[i] = h.ID
		if c.api == APILegacy && h.Type != "indicator" {
			b.res.Dropped = append(b.res.Dropped, RecordError{Index: i, ID: h.ID,
				Messages: []string{fmt.Sprintf("the legacy upload-indicators API takes indicators only; %q not sent", h.Type)}})
			continue
		}
		sent = append(sent, i)
	}
	c.stats.dropped.Add(int64(len(b.res.Dropped)))
	c.stats.rejected.Add(int64(len(b.res.Rejected)))
	if len(b.res.Dropped) > 0 {
		c.log.InfoContext(ctx, "sentinel legacy API: objects dropped", "dropped", len(b.res.Dropped))
	}
	if len(sent) == 0 {
		return b.res, nil
	}
	c.stats.batches.Add(1)
	if err := c.send(ctx, b, sent, true); err != nil {
		return nil, err
	}
	level := slog.LevelDebug
	if len(b.res.Rejected) > 0 {
		level = slog.LevelInfo
	}
	c.log.Log(ctx, level, "sentinel upload", "api", string(c.api), "sent", len(sent),
		"accepted", b.res.Accepted, "rejected", len(b.res.Rejected), "dropped", len(b.res.Dropped))
	for _, r := range b.res.Rejected {
		// Messages may quote IOC values: Debug only.
		c.log.DebugContext(ctx, "sentinel record rejected", "index", r.Index, "stix_id", r.ID, "messages", r.Messages)
	}
	return b.res, nil
}

// send posts the objects at indexes sent and records the outcome in b.res.
// resendOn400 allows answering a 400 that names records by resending the
// other objects (once per Upload).
func (c *Client) send(ctx context.Context, b *batch, sent []int, resendOn400 bool) error {
	body := c.body(b.objects, sent)
	for {
		resp, payload, err := c.post(ctx, body)
		if err != nil {
			return &ResponseError{Err: err}
		}
		status := resp.StatusCode
		switch {
		case status >= 200 && status < 300:
			p := parseBody(payload)
			if !p.ok {
				// Not the service's answer (a proxy's page, a wrong
				// SENTINEL_ENDPOINT): nothing is known to be accepted.
				c.log.WarnContext(ctx, "sentinel upload: unreadable success body; failing the upload", "status", status)
				return &ResponseError{StatusCode: status, Message: p.message, Hint: hintUnreadable}
			}
			c.applyRecords(b, sent, p.records)
			c.stats.lastSuccess.Store(c.now().UnixNano())
			return nil

		case status == http.StatusTooManyRequests:
			c.stats.throttled.Add(1)
			p := parseBody(payload)
			d := retryAfter(resp.Header, p.message, c.now())
			c.limiter.backOff(c.now().Add(d))
			if b.throttleWaits < maxThrottleWaits && c.canWait(ctx, d) {
				b.throttleWaits++
				c.log.WarnContext(ctx, "sentinel upload throttled; waiting", "retry_after", d.String())
				continue // the limiter holds the next try until the pause ends
			}
			c.log.WarnContext(ctx, "sentinel upload throttled; giving up", "retry_after", d.String())
			return &ThrottledError{RetryAfter: d, Message: p.message}

		case status == http.StatusUnauthorized && c.authenticated && !b.refreshed:
			// The bearer policy expired its cached token on this 401.
			b.refreshed = true
			c.log.WarnContext(ctx, "sentinel upload unauthorized; retrying with a fresh token")
			continue

		case status == http.StatusBadRequest && resendOn400:
			p := parseBody(payload)
			if len(p.records) == 0 {
				return c.responseError(resp, p)
			}
			rest := c.applyRejections(b, sent, p.records)
			if len(rest) == 0 {
				return nil
			}
			c.log.WarnContext(ctx, "sentinel upload: 400 naming records; resending the others", "rejected", len(sent)-len(rest))
			return c.send(ctx, b, rest, false)

		case status == http.StatusRequestEntityTooLarge:
			if len(sent) == 1 {
				// This object alone is too large: refuse it, keep the rest.
				i := sent[0]
				e := c.responseError(resp, parseBody(payload))
				b.res.Rejected = append(b.res.Rejected, RecordError{Index: i, ID: b.ids[i],
					Messages: []string{e.Error() + " (the object alone exceeds the service's request size limit)"}})
				c.stats.rejected.Add(1)
				c.log.WarnContext(ctx, "sentinel upload: 413 for a single object; rejected", "index", i)
				return nil
			}
			half := len(sent) / 2
			c.log.WarnContext(ctx, "sentinel upload: 413 request too large; sending each half", "objects", len(sent))
			if err := c.send(ctx, b, sent[:half], resendOn400); err != nil {
				return err
			}
			return c.send(ctx, b, sent[half:], resendOn400)

		default:
			return c.responseError(resp, parseBody(payload))
		}
	}
}

// post sends one request through the pipeline and reads the whole response.
func (c *Client) post(ctx context.Context, body []byte) (*http.Response, []byte, error) {
	req, err := runtime.NewRequest(ctx, http.MethodPost, c.url)
	if err != nil {
		return nil, nil, err
	}
	req.Raw().Header.Set("Accept", "application/json")
	if err := req.SetBody(streaming.NopCloser(bytes.NewReader(body)), "application/json"); err != nil {
		return nil, nil, err
	}
	resp, err := c.pipeline.Do(req)
	if err != nil {
		return nil, nil, err
	}
	payload, err := runtime.Payload(resp)
	if err != nil {
		return nil, nil, err
	}
	return resp, payload, nil
}

// body builds the request body by appending the raw objects.
func (c *Client) body(objects []json.RawMessage, sent []int) []byte {
	n := len(c.prefix) + 2
	for _, i := range sent {
		n += len(objects[i]) + 1
	}
	out := make([]byte, 0, n)
	out = append(out, c.prefix...)
	for k, i := range sent {
		if k > 0 {
			out = append(out, ',')
		}
		out = append(out, objects[i]...)
	}
	return append(out, ']', '}')
}

// applyRecords records a 2xx answer: the named records are rejected, the
// other sent objects accepted.
func (c *Client) applyRecords(b *batch, sent []int, records []recordError) {
	rest := c.applyRejections(b, sent, records)
	b.res.Accepted += len(rest)
	c.stats.accepted.Add(int64(len(rest)))
}

// applyRejections adds the records named in errors[] to b.res.Rejected and
// returns the sent indexes they do not name. A recordIndex outside the
// request is reported with Index -1.
func (c *Client) applyRejections(b *batch, sent []int, records []recordError) []int {
	byIndex := make(map[int]int, len(records)) // request index -> position in Rejected
	for _, r := range records {
		k := r.index()
		if k < 0 || k >= len(sent) {
			msgs := append([]string{fmt.Sprintf("recordIndex %s outside the request of %d objects", r.RecordIndex, len(sent))}, r.messages()...)
			b.res.Rejected = append(b.res.Rejected, RecordError{Index: -1, Messages: msgs})
			c.stats.rejected.Add(1)
			continue
		}
		if pos, ok := byIndex[k]; ok {
			b.res.Rejected[pos].Messages = append(b.res.Rejected[pos].Messages, r.messages()...)
			continue
		}
		byIndex[k] = len(b.res.Rejected)
		i := sent[k]
		b.res.Rejected = append(b.res.Rejected, RecordError{Index: i, ID: b.ids[i], Messages: r.messages()})
		c.stats.rejected.Add(1)
	}
	rest := make([]int, 0, len(sent)-len(byIndex))
	for k, i := range sent {
		if _, ok := byIndex[k]; !ok {
			rest = append(rest, i)
		}
	}
	return rest
}

// responseError builds the error for a final non-2xx status.
func (c *Client) responseError(resp *http.Response, p parsedBody) *ResponseError {
	code := p.code
	if code == "" {
		code = resp.Header.Get("x-ms-error-code")
	}
	h := hint(resp.StatusCode, c.workspaceID, c.api)
	if resp.StatusCode == http.StatusUnauthorized && !c.authenticated {
		h = hintUnauthorizedLoopback
	}
	return &ResponseError{StatusCode: resp.StatusCode, Code: code, Message: p.message, Hint: h}
}

// canWait reports whether a 429 delay d may be waited out inside ctx.
func (c *Client) canWait(ctx context.Context, d time.Duration) bool {
	if c.maxThrottleWait < 0 || d > c.maxThrottleWait {
		return false
	}
	if deadline, ok := ctx.Deadline(); ok {
		return time.Until(deadline)-throttleMargin >= d
	}
	return true
}
