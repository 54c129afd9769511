// Package fetch is the one HTTP fetcher every feed goes through: polite
// (an honest User-Agent, conditional GETs, Retry-After honoured), bounded
// (timeouts, retry limits, size caps, zip-bomb checks) and safe with
// credentials (the abuse.ch Auth-Key is sent only to the configured host
// and never appears in errors or logs).
//
// It is built on the azcore HTTP pipeline: azcore's retry policy retries
// 408, 429, 500, 502, 503 and 504 and transport failures with exponential
// backoff, and waits for Retry-After when the server sends one. Bodies are
// streamed, never buffered: gzip is decoded on the fly, and a zip payload
// is spooled to a temporary file from which its data member is streamed.
package fetch

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
)

// Defaults applied by New to zero Options fields.
const (
	DefaultTimeout       = 5 * time.Minute
	DefaultMaxRetries    = 3
	DefaultRetryDelay    = 2 * time.Second
	DefaultMaxRetryDelay = 60 * time.Second
	DefaultMaxBytes      = 512 << 20
	DefaultZipMaxEntries = 16
	DefaultZipMaxRatio   = 200
)

// retryStatusCodes are the statuses azcore retries. 401 and 403 are
// deliberately absent: they are configuration errors.
var retryStatusCodes = [...]int{
	http.StatusRequestTimeout,
	http.StatusTooManyRequests,
	http.StatusInternalServerError,
	http.StatusBadGateway,
	http.StatusServiceUnavailable,
	http.StatusGatewayTimeout,
}

// shouldRetry replaces azcore's status check (ShouldRetry overrides
// StatusCodes): retry the listed statuses and transport failures, except a
// certificate that failed verification, which no retry will fix.
func shouldRetry(resp *http.Response, err error) bool {
	if err != nil {
		var cv *tls.CertificateVerificationError
		return !errors.As(err, &cv)
	}
	return slices.Contains(retryStatusCodes[:], resp.StatusCode)
}

// Options configures a Client. A nil *Options, and every zero field, means
// the default.
type Options struct {
	// UserAgent is sent on every request. Default: DefaultUserAgent().
	UserAgent string
	// Transport sends the requests. Default: a new *http.Client with its
	// own http.Transport (10s dial and TLS handshake, 30s to response
	// headers). When it is an *http.Client, a copy of it is used with
	// this package's redirect rules installed; any other Transporter must
	// enforce redirects itself.
	Transport policy.Transporter
	// Timeout bounds a whole fetch: every attempt, the waits between
	// them, and reading the body until Close. Default 5m.
	Timeout time.Duration
	// MaxRetries is how many times a failed attempt is retried. Default
	// 3; negative means no retries.
	MaxRetries int
	// RetryDelay is the base of the exponential backoff when the server
	// gives no Retry-After. Default 2s.
	RetryDelay time.Duration
	// MaxRetryDelay caps each wait. A Retry-After longer than this is not
	// waited for: the response is returned as a *StatusError carrying the
	// hint. Default 60s.
	MaxRetryDelay time.Duration
	// MaxBytes caps the payload after decompression, and the size of a
	// spooled zip, of requests that set no Request.MaxBytes. Default
	// 512 MiB.
	MaxBytes int64
	// Zip bounds zip payloads.
	Zip ZipLimits
	// TempDir is where zip payloads are spooled. Default os.TempDir().
	TempDir string
	// Logger receives retry and debug records; it never sees URLs' query
	// strings, headers or payloads. Default: discard.
	Logger *slog.Logger
}

// ZipLimits bounds a zip payload. Zero fields mean the defaults.
type ZipLimits struct {
	MaxEntries int // entries in the archive, directories included; default 16
	// MaxTotal caps the declared uncompressed bytes of all entries;
	// default twice the fetch's byte limit (Request.MaxBytes or
	// Options.MaxBytes), which the data member alone may fill. Whatever
	// it is, an entry declaring more than the byte limit is ErrTooLarge.
	MaxTotal uint64
	// MaxRatio is the highest uncompressed/compressed ratio allowed for a
	// member larger than 1 MiB; default 200.
	MaxRatio uint64
}

// DefaultUserAgent returns "feeds2sentinel/<version> (+<project URL>)",
// the version being the main module's build version or "dev".
func DefaultUserAgent() string {
	v := "dev"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v = bi.Main.Version
	}
	return "feeds2sentinel/" + v + " (+https://github.com/feeds2sentinel/feeds2sentinel)"
}

// Client fetches feed payloads. It is immutable after New and safe for
// concurrent use.
type Client struct {
	pl        runtime.Pipeline
	userAgent string
	timeout   time.Duration
	// defaultMaxBytes is Options.MaxBytes, for requests without their own.
	defaultMaxBytes int64
	zip             ZipLimits
	tempDir         string
	logger          *slog.Logger
}

// New returns a Client configured by opts (nil means all defaults). It
// fails only on contradictory options.
func New(opts *Options) (*Client, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Timeout < 0 || o.MaxBytes < 0 || o.RetryDelay < 0 || o.MaxRetryDelay < 0 || o.Zip.MaxEntries < 0 {
		return nil, fmt.Errorf("fetch: negative Timeout, MaxBytes, retry delay or Zip.MaxEntries")
	}
	c := &Client{
		userAgent:       o.UserAgent,
		timeout:         o.Timeout,
		defaultMaxBytes: o.MaxBytes,
		zip:             o.Zip,
		tempDir:         o.TempDir,
		logger:          o.Logger,
	}
	if c.userAgent == "" {
		c.userAgent = DefaultUserAgent()
	}
	if c.timeout == 0 {
		c.timeout = DefaultTimeout
	}
	if c.defaultMaxBytes == 0 {
		c.defaultMaxBytes = DefaultMaxBytes
	}
	if c.zip.MaxEntries == 0 {
		c.zip.MaxEntries = DefaultZipMaxEntries
	}
	if c.zip.MaxRatio == 0 {
		c.zip.MaxRatio = DefaultZipMaxRatio
	}
	if c.tempDir == "" {
		c.tempDir = os.TempDir()
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	retry := policy.RetryOptions{
		MaxRetries:    int32(o.MaxRetries),
		RetryDelay:    o.RetryDelay,
		MaxRetryDelay: o.MaxRetryDelay,
		StatusCodes:   retryStatusCodes[:],
		ShouldRetry:   shouldRetry,
	}
	if o.MaxRetries == 0 {
		retry.MaxRetries = DefaultMaxRetries
	}
	if retry.RetryDelay == 0 {
		retry.RetryDelay = DefaultRetryDelay
	}
	if retry.MaxRetryDelay == 0 {
		retry.MaxRetryDelay = DefaultMaxRetryDelay
	}
	var tr policy.Transporter
	switch t := o.Transport.(type) {
	case nil:
		tr = withRedirectPolicy(newDefaultHTTPClient())
	case *http.Client:
		tr = withRedirectPolicy(t)
	default:
		tr = t
	}
	c.pl = runtime.NewPipeline("fetch", "v1", runtime.PipelineOptions{
		PerRetry: []policy.Policy{attemptPolicy{logger: c.logger}},
	}, &policy.ClientOptions{
		Retry:     retry,
		Transport: capErrorBodies{next: tr},
		// azcore's telemetry would prepend "azsdk-go-fetch/… (go; os)"
		// to the User-Agent; feed operators get exactly UserAgent.
		Telemetry: policy.TelemetryOptions{Disabled: true},
	})
	return c, nil
}

// Request describes one download. URL comes from configuration only.
type Request struct {
	Feed        string // feed name, used in errors and logs
	URL         string // absolute http(s) URL
	Method      string // default GET, or POST when Body is set
	Body        []byte // request body, resent unchanged on retries
	ContentType string // Content-Type of Body
	// AuthKey is sent as the Auth-Key header when non-empty, and only to
	// the host of URL: a redirect to another host drops it. It is
	// redacted from every error.
	AuthKey string
	// AuthKeySetting names the setting that holds AuthKey (for example
	// "ABUSECH_AUTH_KEY"); a 401/403 error tells the operator to set it.
	AuthKeySetting string
	// AuthKeyURL, when set, is where a key can be obtained (for example
	// "https://auth.abuse.ch/"); it is mentioned in 401/403 errors.
	AuthKeyURL string
	// Secrets are the request's other credentials (a token in the URL or
	// in a header a future source sends): like AuthKey, they are redacted
	// from every error and from the payload Response.Body delivers.
	Secrets []string
	// ETag and LastModified are the validators of the previous run, sent
	// as If-None-Match and If-Modified-Since.
	ETag, LastModified string
	// MaxBytes caps this payload after decompression, and the size of a
	// spooled zip; 0 means Options.MaxBytes. Size it for the largest
	// payload the URL may legitimately serve (a full dump).
	MaxBytes int64
	// MaxBytesSetting names the setting that holds MaxBytes (for example
	// "FEED_THREATFOX_CSV_MAX_BYTES"); an ErrTooLarge error tells the
	// operator to raise it.
	MaxBytesSetting string
}

// isLoopback reports whether host is "localhost" or a loopback IP address.
func isLoopback(host string) bool {
	ip, err := netip.ParseAddr(host)
	return strings.EqualFold(host, "localhost") || (err == nil && ip.IsLoopback())
}

// redactor returns the Redactor of the request's secrets (nil when it has
// none).
func (r *Request) redactor() *Redactor {
	if r.AuthKey == "" && len(r.Secrets) == 0 {
		return nil
	}
	return NewRedactor(append([]string{r.AuthKey}, r.Secrets...)...)
}

// Validators are the cache validators of a response, persisted between
// runs to make the next fetch conditional.
type Validators struct {
	ETag, LastModified string
}

// IsZero reports whether v holds no validator.
func (v Validators) IsZero() bool { return v.ETag == "" && v.LastModified == "" }

// SetValidators copies v into the request's conditional headers.
func (r *Request) SetValidators(v Validators) { r.ETag, r.LastModified = v.ETag, v.LastModified }

// Fetch performs req and returns the streamed, decompressed payload of a
// 2xx response; the caller must Close Response.Body. Whatever the status,
// a 200 body is passed through as is (an HTML error page included): the
// parser judges it.
//
// Errors, each naming req.Feed and never containing req.AuthKey,
// req.Secrets or the URL's path and query: ErrNotModified on 304 (nil
// Response); *ConfigError on 401/403 (never retried); *StatusError on any
// other non-2xx status once retries are exhausted; ErrTooLarge (naming
// req.MaxBytesSetting), ErrZipBomb or ErrArchive for a zip payload over the
// limits; ErrRedirect, ErrEncoding; ErrInvalidRequest, also for a request
// that would send AuthKey or Secrets over plain http to a host that is not
// loopback; otherwise a transport error wrapping the cause
// (context.DeadlineExceeded when Options.Timeout expired).
func (c *Client) Fetch(ctx context.Context, req *Request) (*Response, error) {
	if req == nil {
		return nil, fmt.Errorf("fetch: %w: nil request", ErrInvalidRequest)
	}
	feed := req.Feed
	if feed == "" {
		feed = "fetch"
	}
	u, err := url.Parse(req.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%s: %w: the URL must be an absolute http or https URL", feed, ErrInvalidRequest)
	}
	if u.Scheme == "http" && req.redactor() != nil && !isLoopback(u.Hostname()) {
		return nil, fmt.Errorf("%s: %w: refusing to send the Auth-Key or another credential over plain http to %s; use https (plain http only to a loopback address)",
			feed, ErrInvalidRequest, u.Host)
	}
	if req.MaxBytes < 0 {
		return nil, fmt.Errorf("%s: %w: negative MaxBytes %d", feed, ErrInvalidRequest, req.MaxBytes)
	}
	method := req.Method
	if method == "" {
		method = http.MethodGet
		if req.Body != nil {
			method = http.MethodPost
		}
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	resp, err := c.do(ctx, req, feed, method, u)
	if err != nil {
		cancel()
		return nil, err
	}
	out, err := c.response(resp, req, feed, u.Host, cancel)
	if err != nil {
		_ = resp.Body.Close()
		cancel()
		return nil, err
	}
	return out, nil
}

// do sends the request through the pipeline and sorts out the status.
// On success the response body is still open.
func (c *Client) do(ctx context.Context, req *Request, feed, method string, u *url.URL) (*http.Response, error) {
	preq, err := runtime.NewRequest(ctx, method, u.String())
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %s", feed, ErrInvalidRequest, req.redactor().Redact(err.Error()))
	}
	runtime.SkipBodyDownload(preq)
	attempts := 0
	preq.SetOperationValue(opInfo{feed: feed, host: u.Host, attempts: &attempts})
	h := preq.Raw().Header
	h.Set("User-Agent", c.userAgent)
	h.Set("Accept-Encoding", "gzip")
	h.Set("Accept", "*/*")
	if req.AuthKey != "" {
		h.Set(headerAuthKey, req.AuthKey)
	}
	if req.ETag != "" {
		h.Set("If-None-Match", req.ETag)
	}
	if req.LastModified != "" {
		h.Set("If-Modified-Since", req.LastModified)
	}
	if req.Body != nil {
		if err := preq.SetBody(streaming.NopCloser(bytes.NewReader(req.Body)), req.ContentType); err != nil {
			return nil, fmt.Errorf("%s: set request body: %w", feed, err)
		}
	}
	resp, err := c.pl.Do(preq)
	if err != nil {
		return nil, newNetError(feed, method, u.Host, req.redactor(), err)
	}
	switch code := resp.StatusCode; {
	case code >= 200 && code <= 299:
		return resp, nil
	case code == http.StatusNotModified:
		drainClose(resp.Body)
		return nil, fmt.Errorf("%s: %w", feed, ErrNotModified)
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		drainClose(resp.Body)
		return nil, newConfigError(req, feed, code)
	default:
		b, _ := io.ReadAll(io.LimitReader(resp.Body, errBodyCap))
		_ = resp.Body.Close()
		return nil, &StatusError{
			Feed:       feed,
			StatusCode: code,
			Status:     statusText(resp),
			Snippet:    snippet(b, req.redactor()),
			RetryAfter: retryAfter(resp.Header.Get("Retry-After"), time.Now()),
		}
	}
}

// statusText returns e.g. "503 Service Unavailable".
func statusText(resp *http.Response) string {
	if resp.Status != "" {
		return resp.Status
	}
	return fmt.Sprintf("%d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
}

// retryAfter parses a Retry-After value (seconds or an HTTP date).
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32); err == nil {
		return time.Duration(max(secs, 0)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now).Round(time.Second)
	}
	return 0
}

// maxBytes is req's byte limit: Request.MaxBytes, else Options.MaxBytes.
func (c *Client) maxBytes(req *Request) int64 {
	if req.MaxBytes > 0 {
		return req.MaxBytes
	}
	return c.defaultMaxBytes
}

// drainClose reads a little of body so the connection can be reused, then
// closes it.
func drainClose(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, 4<<10))
	_ = body.Close()
}
