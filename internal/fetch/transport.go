package fetch

import (
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

const (
	// maxRedirects is how many redirects one request may follow.
	maxRedirects = 5
	// errBodyCap bounds how much of an error response (status >= 400) is
	// read: azcore downloads error bodies even for streaming requests, and
	// its retry policy drains them before retrying.
	errBodyCap = 64 << 10
	// headerAuthKey is the abuse.ch credential header.
	headerAuthKey = "Auth-Key"
)

// newDefaultHTTPClient returns the client used when Options.Transport is
// nil: its own Transport (never http.DefaultTransport) with bounded dial,
// TLS handshake and response-header waits.
func newDefaultHTTPClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy: http.ProxyFromEnvironment,
			DialContext: (&net.Dialer{
				Timeout:   10 * time.Second,
				KeepAlive: 30 * time.Second,
			}).DialContext,
			TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 30 * time.Second,
			ExpectContinueTimeout: time.Second,
			IdleConnTimeout:       90 * time.Second,
			MaxIdleConns:          32,
			MaxIdleConnsPerHost:   4,
			ForceAttemptHTTP2:     true,
			// Accept-Encoding is set explicitly and decoded by this
			// package, which then knows the real size of the payload.
			DisableCompression: true,
		},
	}
}

// withRedirectPolicy returns a shallow copy of hc whose CheckRedirect
// enforces this package's redirect rules before hc's own, if any. hc
// itself is not modified.
func withRedirectPolicy(hc *http.Client) *http.Client {
	c := *hc
	c.CheckRedirect = checkRedirect(hc.CheckRedirect)
	return &c
}

// checkRedirect allows up to maxRedirects redirects to http(s) URLs,
// refuses https→http downgrades, and removes the Auth-Key header whenever
// the target host differs from the one first requested (net/http copies
// custom headers to every hop). next, when non-nil, runs afterwards.
func checkRedirect(next func(*http.Request, []*http.Request) error) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if len(via) > maxRedirects {
			return &redirectError{msg: fmt.Sprintf("stopped after %d redirects", maxRedirects)}
		}
		if s := req.URL.Scheme; s != "http" && s != "https" {
			return &redirectError{msg: fmt.Sprintf("redirect to scheme %q", s)}
		}
		if req.URL.Scheme == "http" {
			for _, v := range via {
				if v.URL.Scheme == "https" {
					return &redirectError{msg: "redirect from https to http " + req.URL.Host}
				}
			}
		}
		if len(via) > 0 && !sameHost(req.URL, via[0].URL) {
			req.Header.Del(headerAuthKey)
		}
		if next != nil {
			return next(req, via)
		}
		return nil
	}
}

// sameHost reports whether a and b name the same host and port, treating
// an absent port as the scheme's default.
func sameHost(a, b *url.URL) bool {
	return strings.EqualFold(a.Hostname(), b.Hostname()) && port(a) == port(b)
}

func port(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if u.Scheme == "https" {
		return "443"
	}
	return "80"
}

// capErrorBodies is the pipeline's transport: it bounds the body of error
// responses, which azcore buffers whole, to errBodyCap bytes.
type capErrorBodies struct{ next policy.Transporter }

func (t capErrorBodies) Do(req *http.Request) (*http.Response, error) {
	resp, err := t.next.Do(req)
	if err == nil && resp != nil && resp.StatusCode >= http.StatusBadRequest && resp.Body != nil {
		resp.Body = limitedReadCloser{Reader: io.LimitReader(resp.Body, errBodyCap), Closer: resp.Body}
	}
	return resp, err
}

type limitedReadCloser struct {
	io.Reader
	io.Closer
}

// opInfo travels with a request through the pipeline (as an operation
// value) so the attempt policy can log with the feed name.
type opInfo struct {
	feed     string
	host     string
	attempts *int
}

// attemptPolicy runs once per try (a PerRetry policy): it counts attempts
// and logs retries. It never logs the URL's query string or headers.
type attemptPolicy struct{ logger *slog.Logger }

func (p attemptPolicy) Do(req *policy.Request) (*http.Response, error) {
	var info opInfo
	if req.OperationValue(&info) && info.attempts != nil {
		*info.attempts++
		if n := *info.attempts; n > 1 {
			p.logger.InfoContext(req.Raw().Context(), "fetch retry", "feed", info.feed, "host", info.host, "attempt", n)
		}
	}
	resp, err := req.Next()
	switch {
	case err != nil:
		p.logger.DebugContext(req.Raw().Context(), "fetch attempt failed", "feed", info.feed, "host", info.host)
	default:
		p.logger.DebugContext(req.Raw().Context(), "fetch attempt", "feed", info.feed, "host", info.host,
			"status", resp.StatusCode, "retry_after", resp.Header.Get("Retry-After"))
	}
	return resp, err
}
