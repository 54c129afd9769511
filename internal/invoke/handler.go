package invoke

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/google/uuid"
)

// InvocationIDHeader is the header carrying the host's invocation id.
const InvocationIDHeader = "X-Azure-Functions-InvocationId"

// Defaults of [HandlerOptions].
const (
	// DefaultTimeout is the default per-invocation deadline. It stays below
	// host.json's functionTimeout (10 minutes): when the host times an
	// invocation out it restarts the whole handler process.
	DefaultTimeout = 9 * time.Minute
	// DefaultMaxBody is the default limit on an invocation request body.
	DefaultMaxBody int64 = 32 << 20
)

// ErrPanic is wrapped by the error reported when a [Func] panics.
var ErrPanic = errors.New("invoke: function panicked")

// Invocation is one call of a function by the host.
type Invocation struct {
	// ID is the host's invocation id (X-Azure-Functions-InvocationId), or
	// a generated UUID when the header is absent (a manual call).
	ID string
	// FunctionName is the name the handler was registered under.
	FunctionName string
	// Request is the decoded invocation payload; never nil.
	Request *Request
	// Logger logs with "function" and "invocation_id" attributes.
	Logger *slog.Logger
}

// Func runs one invocation. Returning a nil error answers the host with 200
// and the Response (nil means an empty one). Returning an error fails the
// invocation: the host records the failure and, for Service Bus, the message
// is redelivered. ctx carries the invocation deadline.
type Func func(ctx context.Context, inv *Invocation) (*Response, error)

// HandlerOptions configures [Handler]. A nil *HandlerOptions or a zero
// field means the default.
type HandlerOptions struct {
	// Logger receives one record per failed invocation (Error) and per
	// successful one (Info, name and duration only). Nil discards logs.
	Logger *slog.Logger
	// Timeout bounds each invocation; DefaultTimeout if zero. It must stay
	// below host.json's functionTimeout.
	Timeout time.Duration
	// MaxBody limits the request body; DefaultMaxBody if zero.
	MaxBody int64
}

// errorBody is the JSON body of a failed invocation. The host ignores the
// body of a non-2xx answer; it is there for humans replaying requests.
type errorBody struct {
	Error string   `json:"error"`
	Logs  []string `json:"Logs"`
}

// Handler adapts fn to the invoke protocol for the function called name.
// It accepts POST only (405 otherwise), decodes the [Request], runs fn with
// a deadline and writes the JSON [Response] with status 200. A request that
// cannot be decoded, an error from fn, a panic in fn (recovered, with its
// stack logged) or a response that cannot be encoded answer 500 with
// {"error":"…","Logs":[…]} so that the host marks the invocation failed.
// The handler is safe for concurrent use.
func Handler(name string, fn Func, opts *HandlerOptions) http.Handler {
	var o HandlerOptions
	if opts != nil {
		o = *opts
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxBody <= 0 {
		o.MaxBody = DefaultMaxBody
	}
	return &handler{name: name, fn: fn, opts: o}
}

type handler struct {
	name string
	fn   Func
	opts HandlerOptions
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id := r.Header.Get(InvocationIDHeader)
	if id == "" {
		id = uuid.NewString()
	}
	log := h.opts.Logger.With("function", h.name, "invocation_id", id)

	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "invoke: method not allowed", http.StatusMethodNotAllowed)
		return
	}

	req, err := DecodeRequest(http.MaxBytesReader(w, r.Body, h.opts.MaxBody))
	if err != nil {
		h.fail(w, log, start, nil, fmt.Errorf("decode request: %w", err))
		return
	}

	ctx, cancel := context.WithTimeout(r.Context(), h.opts.Timeout)
	defer cancel()
	inv := &Invocation{ID: id, FunctionName: h.name, Request: req, Logger: log}
	resp, err := h.call(ctx, inv)
	if err != nil {
		h.fail(w, log, start, resp, err)
		return
	}
	if resp == nil {
		resp = &Response{}
	}
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(resp); err != nil {
		h.fail(w, log, start, nil, fmt.Errorf("encode response: %w", err))
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, &buf); err != nil {
		log.Warn("write response", "error", err)
	}
	log.Info("invocation succeeded", "duration_ms", time.Since(start).Milliseconds())
}

// call runs fn, turning a panic into an error wrapping ErrPanic.
func (h *handler) call(ctx context.Context, inv *Invocation) (resp *Response, err error) {
	defer func() {
		if v := recover(); v != nil {
			inv.Logger.Error("function panicked", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			resp, err = nil, fmt.Errorf("%w: %v", ErrPanic, v)
		}
	}()
	return h.fn(ctx, inv)
}

// fail logs err and answers 500 with an errorBody; Logs of a partial
// response are kept.
func (h *handler) fail(w http.ResponseWriter, log *slog.Logger, start time.Time, resp *Response, err error) {
	log.Error("invocation failed", "error", err, "duration_ms", time.Since(start).Milliseconds())
	body := errorBody{Error: err.Error()}
	if resp != nil {
		body.Logs = append(body.Logs, resp.Logs...)
	}
	body.Logs = append(body.Logs, "error: "+err.Error())
	b, mErr := json.Marshal(body)
	if mErr != nil {
		b = []byte(`{"error":"invocation failed","Logs":[]}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = w.Write(append(b, '\n'))
}
