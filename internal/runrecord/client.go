package runrecord

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/monitor/ingestion/azlogs"
)

// MaxCallBytes is the most one Logs Ingestion call carries: the API takes
// 1 MB per call, compressed or not, so a call's JSON array stays under it
// before compression.
const MaxCallBytes = 1_000_000

// ErrRowTooLarge is returned (wrapped) for a row whose JSON alone exceeds
// MaxCallBytes.
var ErrRowTooLarge = errors.New("run record larger than one Logs Ingestion call")

// SendError is a Send that wrote some rows but not all: Failed rows were
// dropped. Err says why.
type SendError struct {
	Failed int
	Err    error
}

// Error implements error.
func (e *SendError) Error() string { return fmt.Sprintf("%d rows not written: %v", e.Failed, e.Err) }

// Unwrap returns Err.
func (e *SendError) Unwrap() error { return e.Err }

// ClientOptions configure a Client. A zero field means its default.
type ClientOptions struct {
	// Endpoint is the data collection endpoint, or the DCR's own
	// logsIngestion endpoint (DCR kind Direct). Required.
	Endpoint string
	// RuleID is the DCR's immutable id (dcr-…). Required.
	RuleID string
	// Stream is the DCR stream (default Stream).
	Stream string
	// Credential gets tokens for Azure Monitor (audience
	// https://monitor.azure.com, or the US Gov / China one the endpoint's
	// host names). Nil only for a plain-http loopback endpoint (a local
	// fake), which then gets a placeholder token.
	Credential azcore.TokenCredential
	// Transport sends the requests (default: azcore's HTTP client).
	Transport policy.Transporter
	// MaxBytes is the most one call carries before compression (default
	// and maximum MaxCallBytes).
	MaxBytes int
	// MaxThrottleRetries is how often one call is sent again after a 429
	// (default 3).
	MaxThrottleRetries int
	// MaxRetryAfter is the longest Retry-After waited out; a longer one
	// fails the call at once, as writing run records must not hold the
	// pipeline (default 60s).
	MaxRetryAfter time.Duration
	// Sleep waits d or until ctx is done (tests replace it).
	Sleep func(ctx context.Context, d time.Duration) error
}

// Client is a Sender writing rows to the Logs Ingestion API: JSON arrays
// of at most MaxBytes, gzip-compressed, one call per array, a 429 waited
// out as its Retry-After says.
type Client struct {
	opts ClientOptions
	logs *azlogs.Client
	gz   sync.Pool // *gzip.Writer: each holds about 800 KB of tables
}

// NewClient returns a Client for opts.
func NewClient(opts ClientOptions) (*Client, error) {
	u, err := url.Parse(opts.Endpoint)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("runrecord.NewClient: endpoint %q is not an absolute http(s) URL", opts.Endpoint)
	}
	loopback := isLoopback(u)
	if u.Scheme == "http" && !loopback {
		return nil, fmt.Errorf("runrecord.NewClient: endpoint %q: use https (plain http only to a loopback address)", opts.Endpoint)
	}
	if opts.RuleID == "" {
		return nil, errors.New("runrecord.NewClient: no data collection rule id")
	}
	if opts.Stream == "" {
		opts.Stream = Stream
	}
	if opts.MaxBytes <= 0 || opts.MaxBytes > MaxCallBytes {
		opts.MaxBytes = MaxCallBytes
	}
	if opts.MaxThrottleRetries <= 0 {
		opts.MaxThrottleRetries = 3
	}
	if opts.MaxRetryAfter <= 0 {
		opts.MaxRetryAfter = time.Minute
	}
	if opts.Sleep == nil {
		opts.Sleep = sleep
	}
	cred := opts.Credential
	co := &azlogs.ClientOptions{}
	co.Cloud = cloudFor(u.Hostname())
	co.Transport = opts.Transport
	co.Retry = policy.RetryOptions{
		MaxRetries: 2,
		TryTimeout: 30 * time.Second,
		// 429 is handled here, with Retry-After bounded by MaxRetryAfter.
		StatusCodes: []int{http.StatusRequestTimeout, http.StatusInternalServerError, http.StatusBadGateway,
			http.StatusServiceUnavailable, http.StatusGatewayTimeout},
	}
	endpoint := strings.TrimRight(opts.Endpoint, "/")
	if u.Scheme == "http" {
		// A local fake: azlogs' token policy sends tokens over https
		// only, so the client is given the https URL and the transport
		// sends it as plain http to the loopback address.
		endpoint = "https" + strings.TrimPrefix(endpoint, "http")
		co.Transport = loopbackTransport{inner: opts.Transport}
		if cred == nil {
			cred = placeholder{}
		}
	}
	if cred == nil {
		return nil, errors.New("runrecord.NewClient: no credential")
	}
	c, err := azlogs.NewClient(endpoint, cred, co)
	if err != nil {
		return nil, fmt.Errorf("azlogs.NewClient: %w", err)
	}
	return &Client{opts: opts, logs: c}, nil
}

// Send writes rows in calls of at most MaxBytes. It goes on after a
// failed call; the error is a *SendError counting the rows not written.
func (c *Client) Send(ctx context.Context, rows []json.RawMessage) error {
	var errs []error
	failed := 0
	chunks, tooLarge := chunk(rows, c.opts.MaxBytes)
	if tooLarge > 0 {
		failed += tooLarge
		errs = append(errs, fmt.Errorf("%d rows: %w", tooLarge, ErrRowTooLarge))
	}
	for _, ch := range chunks {
		if err := c.upload(ctx, ch.body); err != nil {
			failed += ch.rows
			errs = append(errs, err)
		}
	}
	if failed > 0 {
		return &SendError{Failed: failed, Err: errors.Join(errs...)}
	}
	return nil
}

// compress returns body gzip-compressed.
func (c *Client) compress(body []byte) []byte {
	var z bytes.Buffer
	zw, _ := c.gz.Get().(*gzip.Writer)
	if zw == nil {
		zw = gzip.NewWriter(&z)
	} else {
		zw.Reset(&z)
	}
	zw.Write(body) // a bytes.Buffer does not fail
	zw.Close()
	c.gz.Put(zw)
	return z.Bytes()
}

// upload sends one JSON array, gzip-compressed, waiting out 429s.
func (c *Client) upload(ctx context.Context, body []byte) error {
	z := c.compress(body)
	gz := "gzip"
	for attempt := 0; ; attempt++ {
		_, err := c.logs.Upload(ctx, c.opts.RuleID, c.opts.Stream, z, &azlogs.UploadOptions{ContentEncoding: &gz})
		var re *azcore.ResponseError
		if !errors.As(err, &re) || re.StatusCode != http.StatusTooManyRequests {
			if err != nil {
				return fmt.Errorf("logs ingestion upload: %w", err)
			}
			return nil
		}
		wait := retryAfter(re.RawResponse, attempt)
		if attempt >= c.opts.MaxThrottleRetries {
			return fmt.Errorf("logs ingestion throttled %d times: %w", attempt+1, err)
		}
		if wait > c.opts.MaxRetryAfter {
			return fmt.Errorf("logs ingestion throttled, Retry-After %s is longer than %s: %w", wait, c.opts.MaxRetryAfter, err)
		}
		if serr := c.opts.Sleep(ctx, wait); serr != nil {
			return fmt.Errorf("logs ingestion throttled, waiting %s: %w", wait, serr)
		}
	}
}

// chunkBody is one call's JSON array.
type chunkBody struct {
	body []byte
	rows int
}

// chunk packs rows into JSON arrays of at most max bytes; rows larger than
// that alone are counted in tooLarge and left out.
func chunk(rows []json.RawMessage, max int) (chunks []chunkBody, tooLarge int) {
	var cur []byte
	n := 0
	flush := func() {
		if n > 0 {
			chunks = append(chunks, chunkBody{body: append(cur, ']'), rows: n})
		}
		cur, n = nil, 0
	}
	for _, r := range rows {
		if len(r)+2 > max {
			tooLarge++
			continue
		}
		if n > 0 && len(cur)+1+len(r)+1 > max {
			flush()
		}
		if n == 0 {
			cur = append(make([]byte, 0, min(max, 64<<10)), '[')
		} else {
			cur = append(cur, ',')
		}
		cur = append(cur, r...)
		n++
	}
	flush()
	return chunks, tooLarge
}

// retryAfter reads a 429's Retry-After (seconds or an HTTP date; the
// retry-after-ms forms first); without one it backs off 1s, 2s, 4s, ….
func retryAfter(resp *http.Response, attempt int) time.Duration {
	if resp != nil {
		h := resp.Header
		for _, name := range []string{"retry-after-ms", "x-ms-retry-after-ms"} {
			if ms, err := strconv.ParseInt(strings.TrimSpace(h.Get(name)), 10, 64); err == nil && ms >= 0 {
				return time.Duration(ms) * time.Millisecond
			}
		}
		if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
			if s, err := strconv.ParseInt(v, 10, 64); err == nil && s >= 0 {
				return time.Duration(min(s, 1<<20)) * time.Second
			}
			if t, err := http.ParseTime(v); err == nil {
				return max(time.Until(t), 0)
			}
		}
	}
	return time.Second << min(attempt, 6)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// cloudFor picks the token audience by the endpoint's host: Azure US
// Government (*.azure.us), Azure China (*.azure.cn), else public.
func cloudFor(host string) cloud.Configuration {
	switch {
	case strings.HasSuffix(host, ".azure.us"):
		return cloud.AzureGovernment
	case strings.HasSuffix(host, ".azure.cn"):
		return cloud.AzureChina
	default:
		return cloud.AzurePublic
	}
}

func isLoopback(u *url.URL) bool {
	h := u.Hostname()
	if h == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(h)
	return err == nil && ip.IsLoopback()
}

// placeholder is the credential of a plain-http loopback endpoint (a
// local fake): a fixed token that is not a secret.
type placeholder struct{}

func (placeholder) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: "local-placeholder", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// loopbackTransport sends the requests of a plain-http loopback endpoint
// (NewClient only makes one for such an endpoint) as http.
type loopbackTransport struct{ inner policy.Transporter }

func (t loopbackTransport) Do(req *http.Request) (*http.Response, error) {
	if !isLoopback(req.URL) {
		return nil, fmt.Errorf("runrecord: refusing to send plain http to %s, which is not a loopback address", req.URL.Host)
	}
	req.URL.Scheme = "http"
	if t.inner != nil {
		return t.inner.Do(req)
	}
	return http.DefaultTransport.RoundTrip(req)
}
