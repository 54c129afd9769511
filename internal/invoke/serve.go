package invoke

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// DefaultDrainTimeout is the default bound on draining in-flight requests
// when [Serve] stops.
const DefaultDrainTimeout = 25 * time.Second

// Default connection timeouts of [Serve]. A connection that is slower is
// closed, so that slow clients cannot hold connections (and the memory of
// their requests) forever.
const (
	// DefaultReadHeaderTimeout bounds reading a request's header.
	DefaultReadHeaderTimeout = 10 * time.Second
	// DefaultReadTimeout bounds reading a whole request, body included.
	DefaultReadTimeout = 2 * time.Minute
	// DefaultWriteTimeout bounds a request from the end of its header to
	// the end of its response: reading the body, the work and the answer.
	// It must exceed the invocation deadline.
	DefaultWriteTimeout = 12 * time.Minute
	// DefaultIdleTimeout bounds a kept-alive connection between requests.
	DefaultIdleTimeout = 2 * time.Minute
)

// ErrNoAddr is returned by [Serve] when it has neither an address nor a
// listener.
var ErrNoAddr = errors.New("invoke: no listen address (not running under the Functions host?)")

// ServeOptions configures [Serve].
type ServeOptions struct {
	// Addr is the TCP address to listen on, usually [Addr](os.Getenv).
	// Ignored when Listener is set.
	Addr string
	// Listener, if set, is served instead of listening on Addr. Serve
	// closes it.
	Listener net.Listener
	// Handler serves every request except GET and HEAD of "/" (the host's
	// readiness probe), which Serve answers 200 "ok" itself.
	Handler http.Handler
	// DrainTimeout bounds the wait for in-flight requests on shutdown;
	// DefaultDrainTimeout if zero.
	DrainTimeout time.Duration
	// ReadHeaderTimeout, ReadTimeout, WriteTimeout and IdleTimeout are
	// the http.Server timeouts; the Default… constants when zero.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	// Logger logs start and stop; nil discards.
	Logger *slog.Logger
}

// or returns d, or def when d is not positive.
func or(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Addr returns the address the Functions host expects the handler on:
// 127.0.0.1:$FUNCTIONS_CUSTOMHANDLER_PORT, else 127.0.0.1:$FUNCTIONS_HTTPWORKER_PORT,
// else "" (not running under the host). getenv is usually os.Getenv.
func Addr(getenv func(string) string) string {
	for _, k := range []string{"FUNCTIONS_CUSTOMHANDLER_PORT", "FUNCTIONS_HTTPWORKER_PORT"} {
		if p := getenv(k); p != "" {
			return net.JoinHostPort("127.0.0.1", p)
		}
	}
	return ""
}

// Serve listens first (so the host's readiness probe succeeds within
// milliseconds of process start), then serves opts.Handler until ctx is
// cancelled. It then stops accepting connections and waits up to
// DrainTimeout for in-flight requests to finish. It returns nil after a
// clean drain, an error if the drain bound was hit (remaining connections
// are closed) or if listening or serving failed.
//
// Request contexts are not derived from ctx: cancelling ctx lets in-flight
// invocations finish rather than aborting them.
func Serve(ctx context.Context, opts ServeOptions) error {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	drain := opts.DrainTimeout
	if drain <= 0 {
		drain = DefaultDrainTimeout
	}
	ln := opts.Listener
	if ln == nil {
		if opts.Addr == "" {
			return ErrNoAddr
		}
		var err error
		if ln, err = net.Listen("tcp", opts.Addr); err != nil {
			return fmt.Errorf("invoke: listen: %w", err)
		}
	}
	next := opts.Handler
	if next == nil {
		next = http.NotFoundHandler()
	}
	srv := &http.Server{
		Handler:           readiness(next),
		ReadHeaderTimeout: or(opts.ReadHeaderTimeout, DefaultReadHeaderTimeout),
		ReadTimeout:       or(opts.ReadTimeout, DefaultReadTimeout),
		WriteTimeout:      or(opts.WriteTimeout, DefaultWriteTimeout),
		IdleTimeout:       or(opts.IdleTimeout, DefaultIdleTimeout),
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String())

	select {
	case err := <-errc:
		return fmt.Errorf("invoke: serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("draining", "timeout", drain.String())
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), drain)
	defer cancel()
	if err := srv.Shutdown(dctx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("invoke: drain: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("invoke: serve: %w", err)
	}
	log.Info("stopped")
	return nil
}

// readiness answers GET and HEAD of exactly "/" with 200 "ok" and passes
// every other request to next.
func readiness(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = w.Write([]byte("ok\n"))
			return
		}
		next.ServeHTTP(w, r)
	})
}
