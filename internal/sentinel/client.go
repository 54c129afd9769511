// Package sentinel uploads STIX objects to Microsoft Sentinel's
// threat-intelligence upload API: the STIX objects API (default) or the
// legacy upload-indicators API. The client is built on the azcore pipeline
// (bearer token caching, retries of 5xx and network errors), paces its own
// requests at the service's 100 requests per minute with an exact sliding
// window, backs off and waits when the service answers 429 anyway, and
// reports per-record rejections.
//
// Package sentineltest holds a fake service that enforces the documented
// contract, for tests and local runs.
package sentinel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
)

// MaxObjectsPerRequest is the service's limit on objects per upload request.
const MaxObjectsPerRequest = 100

// Scope is the OAuth scope of the tokens the API accepts.
const Scope = "https://management.azure.com/.default"

// Default settings.
const (
	// DefaultRequestsPerMinute is the service's documented limit: 100
	// requests per minute per identity. The client's sliding window never
	// lets more than this many requests start in any 60 seconds.
	DefaultRequestsPerMinute = 100
	DefaultMaxRetries        = 3
	DefaultSTIXEndpoint      = "https://api.ti.sentinel.azure.com"
	DefaultLegacyEndpoint    = "https://sentinelus.azure-api.net"
	DefaultTryTimeout        = 60 * time.Second
	DefaultMaxThrottleWait   = 90 * time.Second
)

// The api-version query parameter of each API.
const (
	STIXAPIVersion   = "2024-02-01-preview"
	LegacyAPIVersion = "2022-07-01"
)

// moduleVersion is reported in the User-Agent by azcore's telemetry policy.
const moduleVersion = "v0.1.0"

// throttleMargin is left before the caller's deadline when waiting out a 429.
const throttleMargin = 10 * time.Second

// maxThrottleWaits bounds how many 429s one Upload waits out.
const maxThrottleWaits = 3

// API selects the upload API.
type API string

// The upload APIs.
const (
	// APISTIXObjects is the STIX objects upload API (2024-02-01-preview), the default.
	APISTIXObjects API = "stix-objects"
	// APILegacy is the legacy upload-indicators API (2022-07-01); it takes indicators only.
	APILegacy API = "legacy"
)

// PossibleAPIValues returns the valid API values.
func PossibleAPIValues() []API { return []API{APISTIXObjects, APILegacy} }

// workspaceRE is the workspace ID pattern from the API's swagger.
var workspaceRE = regexp.MustCompile(`^[{]?[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}[}]?$`)

// Options configures a Client. Zero fields mean defaults; WorkspaceID,
// SourceSystem and (except for a loopback http Endpoint) Credential are required.
type Options struct {
	// API is the upload API; "" means APISTIXObjects. (SENTINEL_API)
	API API
	// Endpoint overrides the base URL (scheme and host, optionally a path
	// prefix). It must be https, or plain http on a loopback address, in
	// which case no bearer token is sent. "" means the API's public host.
	// (SENTINEL_ENDPOINT)
	Endpoint string
	// WorkspaceID is the Log Analytics workspace GUID. (SENTINEL_WORKSPACE_ID)
	WorkspaceID string
	// SourceSystem is sent with every upload: 1-256 characters, not
	// "Microsoft Sentinel". (SENTINEL_SOURCE_SYSTEM)
	SourceSystem string
	// Credential provides tokens for Scope; azcore caches and refreshes them.
	Credential azcore.TokenCredential
	// Transport sends the HTTP requests; nil means azcore's default client.
	Transport policy.Transporter
	// RequestsPerMinute caps how many requests, retries included, start in
	// any 60-second window; 0 means DefaultRequestsPerMinute, the service's
	// limit. (SENTINEL_REQUESTS_PER_MINUTE)
	RequestsPerMinute int
	// Now is the limiter's clock; nil means time.Now.
	Now func() time.Time
	// Sleep waits d or until ctx is done, returning ctx.Err() in that case;
	// it is used by the limiter and for 429 waits. nil means a real timer.
	// Tests pass a virtual clock's Sleep together with its Now.
	Sleep func(ctx context.Context, d time.Duration) error
	// MaxRetries is azcore's retry count for 5xx, 408 and network errors;
	// 0 means DefaultMaxRetries, negative means none.
	MaxRetries int
	// RetryDelay is azcore's initial backoff; 0 means azcore's 800ms.
	RetryDelay time.Duration
	// TryTimeout bounds each HTTP attempt (token, request and response
	// body); 0 means DefaultTryTimeout. The rate limiter's wait before an
	// attempt, including a 429 pause, is not part of it.
	TryTimeout time.Duration
	// MaxThrottleWait is the longest 429 delay the client waits out itself
	// (and only if it fits before ctx's deadline); 0 means
	// DefaultMaxThrottleWait, negative means never wait.
	MaxThrottleWait time.Duration
	// Logger receives warnings and per-upload summaries; nil discards them.
	Logger *slog.Logger
}

// Client uploads STIX objects to one workspace. It is safe for concurrent
// use; its request pacing is shared by all callers.
type Client struct {
	api             API
	url             string
	workspaceID     string
	sourceSystem    string
	authenticated   bool
	prefix          []byte // {"sourcesystem":"…","stixobjects":[
	pipeline        runtime.Pipeline
	limiter         *limiter
	now             func() time.Time
	sleep           func(context.Context, time.Duration) error
	maxThrottleWait time.Duration
	log             *slog.Logger
	stats           counters
}

// New validates opts and returns a Client. Errors name the setting at fault.
func New(opts Options) (*Client, error) {
	api := opts.API
	if api == "" {
		api = APISTIXObjects
	}
	base, path, version := DefaultSTIXEndpoint, "/threat-intelligence-stix-objects:upload", STIXAPIVersion
	switch api {
	case APISTIXObjects:
	case APILegacy:
		base, path, version = DefaultLegacyEndpoint, "/threatintelligenceindicators:upload", LegacyAPIVersion
	default:
		return nil, fmt.Errorf("sentinel: SENTINEL_API=%q: want one of %q", opts.API, PossibleAPIValues())
	}
	if !workspaceRE.MatchString(opts.WorkspaceID) {
		return nil, fmt.Errorf("sentinel: SENTINEL_WORKSPACE_ID=%q: want the workspace ID, a GUID such as 00000000-0000-0000-0000-000000000000 (Log Analytics workspace > Overview), not the resource ID", opts.WorkspaceID)
	}
	workspace := strings.Trim(opts.WorkspaceID, "{}")
	if err := checkSourceSystem(opts.SourceSystem); err != nil {
		return nil, err
	}
	if opts.Endpoint != "" {
		base = opts.Endpoint
	}
	u, err := url.Parse(base)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("sentinel: SENTINEL_ENDPOINT=%q: want a base URL such as %s", base, DefaultSTIXEndpoint)
	}
	authenticated := true
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		authenticated = false
	default:
		return nil, fmt.Errorf("sentinel: SENTINEL_ENDPOINT=%q: want https (plain http only on a loopback address)", base)
	}
	if authenticated && opts.Credential == nil {
		return nil, errors.New("sentinel: no credential: an https endpoint needs a managed identity or other Azure credential")
	}
	rpm := opts.RequestsPerMinute
	switch {
	case rpm == 0:
		rpm = DefaultRequestsPerMinute
	case rpm < 0 || rpm > DefaultRequestsPerMinute:
		return nil, fmt.Errorf("sentinel: SENTINEL_REQUESTS_PER_MINUTE=%d: want 1-%d", rpm, DefaultRequestsPerMinute)
	}

	c := &Client{
		api:             api,
		url:             strings.TrimRight(u.String(), "/") + "/workspaces/" + workspace + path + "?api-version=" + version,
		workspaceID:     workspace,
		sourceSystem:    opts.SourceSystem,
		authenticated:   authenticated,
		now:             opts.Now,
		sleep:           opts.Sleep,
		maxThrottleWait: opts.MaxThrottleWait,
		log:             opts.Logger,
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.sleep == nil {
		c.sleep = sleepContext
	}
	if c.maxThrottleWait == 0 {
		c.maxThrottleWait = DefaultMaxThrottleWait
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.limiter = newLimiter(rpm, c.now, c.sleep)
	ss, _ := json.Marshal(opts.SourceSystem) // a valid UTF-8 string: cannot fail
	array := `,"stixobjects":[`
	if api == APILegacy {
		array = `,"indicators":[`
	}
	c.prefix = append(append([]byte(`{"sourcesystem":`), ss...), array...)

	tryTimeout := opts.TryTimeout
	if tryTimeout <= 0 {
		tryTimeout = DefaultTryTimeout
	}
	// Per try: wait for the limiter on the caller's context, then start the
	// try's own timeout. azcore's TryTimeout stays off (0) because it would
	// also bound the limiter wait, which after a 429 can be longer than a try.
	perRetry := []policy.Policy{policyFunc(c.pace), tryTimeoutPolicy(tryTimeout)}
	if authenticated {
		perRetry = append(perRetry, runtime.NewBearerTokenPolicy(opts.Credential, []string{Scope}, nil))
	}
	maxRetries := opts.MaxRetries
	switch {
	case maxRetries == 0:
		maxRetries = DefaultMaxRetries
	case maxRetries < 0:
		maxRetries = -1 // azcore: one try, no retries
	}
	c.pipeline = runtime.NewPipeline("feeds2sentinel", moduleVersion,
		runtime.PipelineOptions{PerRetry: perRetry},
		&policy.ClientOptions{
			Retry: policy.RetryOptions{
				MaxRetries: int32(maxRetries),
				RetryDelay: opts.RetryDelay,
				TryTimeout: 0, // tryTimeoutPolicy bounds each try after pacing
				// No 429: Upload handles throttling itself.
				StatusCodes: []int{
					http.StatusRequestTimeout,
					http.StatusInternalServerError,
					http.StatusBadGateway,
					http.StatusServiceUnavailable,
					http.StatusGatewayTimeout,
				},
			},
			Transport: opts.Transport,
			Telemetry: policy.TelemetryOptions{ApplicationID: "feeds2sentinel"},
		})
	return c, nil
}

// checkSourceSystem applies the service's rules for sourcesystem.
func checkSourceSystem(s string) error {
	switch {
	case strings.TrimSpace(s) == "":
		return errors.New(`sentinel: SENTINEL_SOURCE_SYSTEM is empty: want a stable name of 1-256 characters other than "Microsoft Sentinel"`)
	case !utf8.ValidString(s) || utf8.RuneCountInString(s) > 256:
		return fmt.Errorf("sentinel: SENTINEL_SOURCE_SYSTEM is %d bytes: want valid UTF-8 of at most 256 characters", len(s))
	case strings.EqualFold(strings.TrimSpace(s), "Microsoft Sentinel"):
		return fmt.Errorf(`sentinel: SENTINEL_SOURCE_SYSTEM=%q: the value "Microsoft Sentinel" is reserved by the service`, s)
	}
	return nil
}

// isLoopback reports whether host is localhost or a loopback IP.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// API returns the API the client uploads to.
func (c *Client) API() API { return c.api }

// URL returns the full upload URL, api-version included.
func (c *Client) URL() string { return c.url }

// pace is the first per-try policy: it waits for the limiter, then counts
// the request. It runs on the caller's context (azcore's own TryTimeout is
// off), so a long wait after a 429 is bounded only by the caller's deadline;
// tryTimeoutPolicy, next in the pipeline, starts the try's timeout after it.
func (c *Client) pace(req *policy.Request) (*http.Response, error) {
	if err := c.limiter.wait(req.Raw().Context()); err != nil {
		return nil, err
	}
	c.stats.requests.Add(1)
	return req.Next()
}

// tryTimeoutPolicy bounds one try (token acquisition, sending and reading
// the whole response) by d. A try that runs out returns
// context.DeadlineExceeded while the caller's context is still live, which
// azcore's retry policy retries.
func tryTimeoutPolicy(d time.Duration) policy.Policy {
	return policyFunc(func(req *policy.Request) (*http.Response, error) {
		ctx, cancel := context.WithTimeout(req.Raw().Context(), d)
		defer cancel()
		resp, err := req.Clone(ctx).Next()
		if err != nil {
			return nil, err
		}
		// Read the body (normally already downloaded by azcore) before the
		// try's context is cancelled; Payload keeps it for later reads.
		if _, err := runtime.Payload(resp); err != nil {
			return nil, err
		}
		return resp, nil
	})
}

// policyFunc adapts a function to policy.Policy.
type policyFunc func(*policy.Request) (*http.Response, error)

// Do implements policy.Policy.
func (f policyFunc) Do(req *policy.Request) (*http.Response, error) { return f(req) }

// counters are the atomic counters behind Stats.
type counters struct {
	requests, batches, accepted, rejected, dropped, throttled atomic.Int64
	lastSuccess                                               atomic.Int64 // Unix nanoseconds
}

// Stats is a snapshot of a Client's counters since New.
type Stats struct {
	Requests    int64     // HTTP requests sent, retries included
	Retries     int64     // requests beyond the first of each Upload
	Accepted    int64     // objects the service took
	Rejected    int64     // objects refused (per-record errors)
	Dropped     int64     // objects not sent (legacy API, non-indicators)
	Throttled   int64     // 429 responses
	LastSuccess time.Time // last upload that got a 2xx; zero if none
}

// Stats returns the counters. It is safe for concurrent use.
func (c *Client) Stats() Stats {
	s := Stats{
		Requests:  c.stats.requests.Load(),
		Accepted:  c.stats.accepted.Load(),
		Rejected:  c.stats.rejected.Load(),
		Dropped:   c.stats.dropped.Load(),
		Throttled: c.stats.throttled.Load(),
	}
	s.Retries = max(0, s.Requests-c.stats.batches.Load())
	if ns := c.stats.lastSuccess.Load(); ns != 0 {
		s.LastSuccess = time.Unix(0, ns)
	}
	return s
}
