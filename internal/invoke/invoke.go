// Package invoke implements the Azure Functions custom-handler protocol: the
// invocation request the Functions host POSTs to the handler, the response it
// expects back, tolerant decoders for the values the host really sends, an
// adapter from typed functions to http.Handler, and the HTTP server the host
// talks to.
//
// # Which trigger uses which mode
//
// Timer (timerTrigger) and Service Bus (serviceBusTrigger) functions use the
// invoke payload: the host calls POST http://127.0.0.1:<port>/<FunctionName>
// with a JSON [Request] ({"Data":{…},"Metadata":{…}}) and reads a JSON
// [Response] ({"Outputs":{…},"Logs":[…],"ReturnValue":…}). Any non-2xx
// answer fails the invocation; for Service Bus the message is abandoned,
// redelivered and dead-lettered after the queue's maxDeliveryCount. Wrap such
// functions with [Handler].
//
// HTTP (httpTrigger) functions are served in whichever of the host's
// three modes host.json selects, by the same http.Handler:
//
//   - Proxying ("enableProxyingHttpRequest": true, the mode the current
//     documentation describes): the host streams the client's request
//     through YARP to the handler at its original path (/api/<route>) and
//     query, with the client's headers plus X-Azure-Functions-InvocationId,
//     X-Azure-Functions-HostVersion, x-ms-invocation-id and X-Forwarded-*;
//     the body may arrive chunked. The handler's response is streamed back
//     unchanged; a 4xx or 5xx is the client's answer, not a failed
//     invocation. The host checks this flag before the next one, so
//     host.json sets both: a host that predates proxying ignores the
//     unknown key (its options binder skips it) and forwards.
//   - Forwarding ("enableForwardingHttpRequest": true, legacy): the host
//     rebuilds the request at its original path with the same
//     X-Azure-Functions-* headers and passes the response back unchanged.
//   - Payload (neither flag): the host POSTs /<FunctionName> with a
//     [Request] whose Data.req describes the client's request and expects
//     Outputs.res = {statusCode, body, headers} with status 200.
//     [HTTPHandler] adapts an http.Handler to it.
//
// # Value encoding
//
// The host serializes .NET values for the handler in ways that surprise a Go
// decoder: strings are JSON-encoded twice ("\"abc\""), numbers arrive as
// strings ("DeliveryCount": "1"), DateTime values lose their offset
// ("2023-10-12T20:13:49", meaning UTC), byte arrays are base64 and the timer's
// ScheduleStatus may be null. [DecodeString], [DecodeInt], [DecodeTime],
// [JSONBody], [DecodeTimer] and [DecodeServiceBus] accept every such form.
package invoke

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Request is the invocation payload the host POSTs for a non-HTTP trigger.
// Data holds one entry per input binding, keyed by binding name (the trigger
// included); Metadata holds the trigger's binding data plus "sys"
// (MethodName, UtcNow, RandGuid). Values are kept raw: decode them with the
// Decode functions of this package.
type Request struct {
	Data     map[string]json.RawMessage `json:"Data"`
	Metadata map[string]json.RawMessage `json:"Metadata"`
}

// ErrBadRequest is wrapped by the errors of [DecodeRequest].
var ErrBadRequest = errors.New("invoke: malformed invocation request")

// DecodeRequest reads one invocation request from r. The body must be a JSON
// object; missing or null Data and Metadata decode as empty maps. Errors wrap
// [ErrBadRequest].
func DecodeRequest(r io.Reader) (*Request, error) {
	dec := json.NewDecoder(r)
	var req Request
	if err := dec.Decode(&req); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the JSON object", ErrBadRequest)
	}
	if req.Data == nil {
		req.Data = map[string]json.RawMessage{}
	}
	if req.Metadata == nil {
		req.Metadata = map[string]json.RawMessage{}
	}
	return &req, nil
}

// Response is the payload the handler returns for a non-HTTP trigger.
// Outputs holds one value per output binding, keyed by binding name; Logs are
// written to the invocation log (at Information, and only when the
// invocation succeeds); ReturnValue feeds a "$return" output binding.
//
// When marshalled, a nil Outputs is written as {}, a nil Logs as [] and a nil
// ReturnValue as null. The zero Response is a valid empty answer.
type Response struct {
	Outputs     map[string]any `json:"Outputs"`
	Logs        []string       `json:"Logs"`
	ReturnValue any            `json:"ReturnValue"`
}

// Logf appends a formatted message to r.Logs. It must not be given IOC
// values or secrets: Logs end up in Application Insights.
func (r *Response) Logf(format string, args ...any) {
	r.Logs = append(r.Logs, fmt.Sprintf(format, args...))
}

// MarshalJSON implements json.Marshaler, writing nil Outputs and Logs as an
// empty object and an empty array.
func (r Response) MarshalJSON() ([]byte, error) {
	type plain Response
	p := plain(r)
	if p.Outputs == nil {
		p.Outputs = map[string]any{}
	}
	if p.Logs == nil {
		p.Logs = []string{}
	}
	return json.Marshal(p)
}
