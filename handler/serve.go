package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/feeds2sentinel/feeds2sentinel/internal/app"
	"github.com/feeds2sentinel/feeds2sentinel/internal/config"
	"github.com/feeds2sentinel/feeds2sentinel/internal/ingest"
	"github.com/feeds2sentinel/feeds2sentinel/internal/invoke"
	"github.com/feeds2sentinel/feeds2sentinel/internal/queue"
	"github.com/feeds2sentinel/feeds2sentinel/internal/submission"
)

func cmdServe(ctx context.Context, e *env, _ []string) error {
	logger := newLogger(e.stdout, e.vars["LOG_LEVEL"])
	addr := invoke.Addr(func(k string) string { return e.vars[k] })
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	// Listen first, then build: the host polls GET / and gives up after
	// 30 s, while building may need a token and a table round trip.
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	serving := false
	defer func() {
		if !serving {
			ln.Close()
		}
	}()
	cfg, err := config.Load(e.vars, config.ModeHost)
	if err != nil {
		logger.Error("configuration invalid; fix the app settings and restart", "error", err)
		return fmt.Errorf("configuration: %w", err)
	}
	d, err := build(ctx, cfg, logger, true)
	if err != nil {
		logger.Error("start-up failed", "error", err)
		return err
	}
	defer d.Close()
	mux, err := routes(d)
	if err != nil {
		return err
	}
	read, write := serverTimeouts(cfg)
	logger.Info("serving", "addr", addr, "functions", len(app.Functions()),
		"read_timeout", read.String(), "write_timeout", write.String(), "max_concurrent_submissions", maxConcurrentSubmissions)
	serving = true // Serve owns the listener now
	return invoke.Serve(ctx, invoke.ServeOptions{Listener: ln, Handler: mux, Logger: logger,
		ReadTimeout: read, WriteTimeout: write})
}

// Limits of the HTTP server that keep slow or many clients from holding
// connections and memory.
const (
	// slowLinkRate is the slowest upload, in bytes per second, that can
	// still send a SUBMIT_MAX_BYTES body within the read timeout.
	slowLinkRate = 64 << 10
	// maxConcurrentSubmissions is how many submissions one instance
	// handles at once; more are answered 503 with Retry-After.
	maxConcurrentSubmissions = 4
	// submitRetryAfter is the Retry-After of that 503, in seconds.
	submitRetryAfter = 5
)

// serverTimeouts returns the read timeout (30 s plus the time to receive
// the largest allowed body at slowLinkRate) and the write timeout (the read
// timeout plus the invocation deadline plus 30 s to answer).
func serverTimeouts(cfg *config.Config) (read, write time.Duration) {
	read = 30*time.Second + time.Duration(cfg.Submit.MaxBytes/slowLinkRate)*time.Second
	write = read + cfg.InvocationTimeout + 30*time.Second
	return read, write
}

// waitSlot runs next once it holds one of slots, waiting for one as long as
// the request lasts (the Functions host holds the client meanwhile).
func waitSlot(slots chan struct{}, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case slots <- struct{}{}:
			defer func() { <-slots }()
		case <-r.Context().Done():
			return
		}
		next.ServeHTTP(w, r)
	})
}

// payloadMaxBytes bounds an HTTP function's invocation payload in payload
// mode: a SUBMIT_MAX_BYTES body, base64-encoded or JSON-escaped (twice its
// size covers base64 and text with ordinary escaping), plus 1 MiB for the
// URL and headers. A larger payload is answered as a too-large body.
func payloadMaxBytes(cfg *config.Config) int64 {
	return 2*cfg.Submit.MaxBytes + 1<<20
}

// routes registers one handler per app.Function at the path the host calls;
// an HTTP function is served at its route (proxied or forwarded requests)
// and at /<Name> (payload mode, through invoke.HTTPHandler).
func routes(d *deps) (*http.ServeMux, error) {
	mux := http.NewServeMux()
	specs, err := feedSpecs(d.cfg)
	if err != nil {
		return nil, err
	}
	hopts := &invoke.HandlerOptions{Logger: d.logger, Timeout: d.cfg.InvocationTimeout}
	popts := &invoke.HandlerOptions{Logger: d.logger, Timeout: d.cfg.InvocationTimeout, MaxBody: payloadMaxBytes(d.cfg)}
	slots := make(chan struct{}, maxConcurrentSubmissions)
	for _, fn := range app.Functions() {
		switch fn.Trigger {
		case app.TriggerTimer:
			mux.Handle("POST "+fn.Path(), invoke.Handler(fn.Name, timerFunc(d, fn, specs), hopts))
		case app.TriggerServiceBus:
			mux.Handle("POST "+fn.Path(), invoke.Handler(fn.Name, uploadFunc(d), hopts))
		case app.TriggerHTTP:
			var h http.Handler
			switch fn.Name {
			case app.FunctionSubmit:
				h = submitHandler(d, slots)
			case app.FunctionStatus:
				h = statusHandler(d)
			default:
				return nil, fmt.Errorf("no handler for HTTP function %s", fn.Name)
			}
			// Proxied and forwarded requests keep the client's path;
			// a host that does neither POSTs the payload to /<Name>.
			mux.Handle(fn.Path(), h)
			// The payload is read whole before h runs: bound how many
			// are in memory at once.
			mux.Handle("POST "+fn.InvokePath(), waitSlot(make(chan struct{}, maxConcurrentSubmissions), invoke.HTTPHandler(fn.Name, h, popts)))
		default:
			return nil, fmt.Errorf("no handler for trigger %s of %s", fn.Trigger, fn.Name)
		}
	}
	return mux, nil
}

// timerFunc runs a feed (or, for FeedUserLists, every user list).
func timerFunc(d *deps, fn app.Function, specs []ingest.FeedSpec) invoke.Func {
	return func(ctx context.Context, inv *invoke.Invocation) (*invoke.Response, error) {
		if t, err := invoke.DecodeTimer(inv.Request); err == nil && t.IsPastDue {
			inv.Logger.Warn("timer is past due")
		}
		var run []ingest.FeedSpec
		for _, s := range specs {
			if s.Config.Name == fn.Feed || (fn.Feed == app.UserListsFeed && s.Config.User) {
				run = append(run, s)
			}
		}
		resp := &invoke.Response{}
		var errs []error
		p := d.pipeline()
		p.Logger = inv.Logger
		defer d.flushRuns(ctx)
		for _, s := range run {
			rep, err := p.RunFeed(ctx, s)
			d.runs.Record(ctx, feedRunRow(fn.Name, rep))
			b, _ := json.Marshal(rep)
			resp.Logs = append(resp.Logs, string(b))
			inv.Logger.Info("feed run", "feed", rep.Feed, "outcome", string(rep.Outcome), "fetched", rep.Counts.Fetched,
				"rejected", rep.Counts.RejectedTotal(), "new", rep.Counts.New, "changed", rep.Counts.Changed,
				"unchanged_skipped", rep.Counts.Unchanged, "refreshed", rep.Counts.Refreshed, "revoked", rep.Counts.Revoked,
				"enqueued", rep.Counts.Enqueued, "reason", rep.Reason)
			if err != nil && !errors.Is(err, ingest.ErrSkipped) {
				errs = append(errs, err)
			}
		}
		if len(run) == 0 {
			resp.Logs = append(resp.Logs, "no feed configured for "+fn.Name)
		}
		return resp, errors.Join(errs...)
	}
}

// uploadFunc uploads one Service Bus message.
func uploadFunc(d *deps) invoke.Func {
	return func(ctx context.Context, inv *invoke.Invocation) (*invoke.Response, error) {
		m, err := invoke.DecodeServiceBus(inv.Request, invoke.ServiceBusBinding)
		switch {
		case errors.Is(err, invoke.ErrUnexpectedBody):
			// Not JSON in any form: it can never upload. Hand the raw
			// value on; Upload parks it with the reason.
			raw, ok := inv.Request.Data[invoke.ServiceBusBinding]
			if !ok {
				for _, v := range inv.Request.Data {
					raw = v
				}
			}
			m.Body = raw
		case err != nil:
			return nil, fmt.Errorf("decode Service Bus message: %w", err)
		}
		u := d.uploads()
		u.Logger = inv.Logger
		props := make(map[string]any, len(m.ApplicationProperties))
		for k, v := range m.ApplicationProperties {
			props[k] = v
		}
		start := time.Now()
		res, err := u.Upload(ctx, queue.Message{ID: m.MessageID, Body: m.Body, DeliveryCount: m.DeliveryCount,
			ContentType: m.ContentType, Properties: props})
		source, _ := props[queue.PropSource].(string)
		d.runs.Record(ctx, uploadRow(app.FunctionUpload, source, res, err,
			m.DeliveryCount >= d.cfg.ServiceBus.MaxDeliveryCount, start, time.Now()))
		d.flushRuns(ctx)
		if err != nil {
			return nil, err
		}
		b, _ := json.Marshal(res)
		return &invoke.Response{Logs: []string{string(b)}}, nil
	}
}

// writeJSON renders v into a buffer first so a failed encode never leaves a
// half-written response.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal","message":"response encoding failed"}}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

// submitHandler serves POST /api/indicators. slots bounds the submissions
// in progress: when it is full the request is answered 503 with
// Retry-After before its body is read.
func submitHandler(d *deps, slots chan struct{}) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "use POST")
			return
		}
		select {
		case slots <- struct{}{}:
			defer func() { <-slots }()
		default:
			w.Header().Set("Retry-After", strconv.Itoa(submitRetryAfter))
			writeError(w, http.StatusServiceUnavailable, "busy",
				fmt.Sprintf("%d submissions are already in progress on this instance; retry after %d seconds", cap(slots), submitRetryAfter))
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), d.cfg.InvocationTimeout)
		defer cancel()
		max := d.cfg.Submit.MaxBytes
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				writeError(w, http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("the body is larger than %d bytes (SUBMIT_MAX_BYTES)", max))
				return
			}
			writeError(w, http.StatusBadRequest, "bad_body", "could not read the body: "+err.Error())
			return
		}
		dry := false
		if v := r.URL.Query().Get("dry_run"); v != "" {
			if dry, err = strconv.ParseBool(v); err != nil {
				writeError(w, http.StatusBadRequest, "bad_dry_run", "dry_run must be true or false")
				return
			}
		}
		start := time.Now()
		resp, err := d.submit(ctx, r.Header.Get("Content-Type"), body, dry, clientPrincipal(r, d.cfg.Submit.TrustPrincipalHeader))
		d.runs.Record(r.Context(), submitRow(app.FunctionSubmit, d.cfg.Submit.Source, resp, err, start, time.Now()))
		d.flushRuns(r.Context())
		var se *ingest.SubmitError
		switch {
		case errors.As(err, &se):
			writeError(w, submission.HTTPStatus(se), se.Code, se.Message)
		case r.Context().Err() != nil:
			// The client has gone: nobody reads an answer.
			d.logger.Info("submission abandoned by the client", "error", err)
		case errors.Is(err, context.DeadlineExceeded):
			d.logger.Warn("submission timed out", "error", err, "timeout", d.cfg.InvocationTimeout.String())
			writeError(w, http.StatusServiceUnavailable, "timeout",
				"the submission took longer than the invocation timeout and may be queued only in part; send it again in smaller parts (re-sending is safe: indicator ids are deterministic)")
		case err != nil:
			d.logger.Error("submission failed", "error", err)
			writeError(w, http.StatusServiceUnavailable, "enqueue_failed",
				"the submission was valid but could not be queued completely; retry it later (re-sending is safe: indicator ids are deterministic)")
		default:
			writeJSON(w, http.StatusAccepted, resp)
		}
	})
}

func statusHandler(d *deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET")
			writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "use GET")
			return
		}
		doc, err := statusDoc(r.Context(), d.cfg, d.store)
		if err != nil {
			d.logger.Error("status failed", "error", err)
			writeError(w, http.StatusServiceUnavailable, "state_unavailable", "the state store could not be read")
			return
		}
		writeJSON(w, http.StatusOK, doc)
	})
}
