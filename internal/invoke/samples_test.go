package invoke

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// readSample reads testdata/name.
func readSample(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// httpSampleBody returns the JSON body of a .http sample (after the blank
// line that ends the headers).
func httpSampleBody(t testing.TB, name string) []byte {
	t.Helper()
	s := strings.ReplaceAll(string(readSample(t, name)), "\r\n", "\n")
	_, body, ok := strings.Cut(s, "\n\n")
	if !ok {
		t.Fatalf("%s: no blank line after the headers", name)
	}
	return []byte(body)
}

// sbWant is what a Service Bus sample must decode to.
type sbWant struct {
	binding  string
	body     string
	id       string
	count    int
	enqueued time.Time
	ctype    string
	seq      int64
	props    map[string]string
}

func TestServiceBusSamples(t *testing.T) {
	t.Parallel()
	const body = `{"feed":"threatfox","batch":1}`
	jan1 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	cases := map[string]sbWant{
		// Single-encoded JSON string body.
		"servicebus_request_azfunc_test.json": {
			binding: "queue", body: `{"message":"hello","number":2}`,
			id: "4e773554-f6b7-4ea2-b07d-4c5fd5aba741", count: 1,
			enqueued: time.Date(2023, 10, 12, 20, 13, 49, 0, time.UTC),
			ctype:    "application/json", seq: 1, props: map[string]string{},
		},
		// Double-encoded JSON string body.
		"SYNTHESIZED_servicebus_request_derived_from_host_source.json": {
			binding: "msg", body: body, id: "threatfox-20260101T1200Z-0001", count: 1,
			enqueued: jan1, ctype: "application/json", seq: 42,
			props: map[string]string{"feed": "threatfox"},
		},
		// dataType binary: base64.
		"SYNTHESIZED_servicebus_request_dataType_binary.json": {
			binding: "msg", body: body, id: "threatfox-20260101T1200Z-0001", count: 1,
			enqueued: jan1, props: map[string]string{"feed": "threatfox"},
		},
	}
	for name, want := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			req, err := DecodeRequest(bytes.NewReader(readSample(t, name)))
			if err != nil {
				t.Fatalf("DecodeRequest: %v", err)
			}
			got, err := DecodeServiceBus(req, want.binding)
			if err != nil {
				t.Fatalf("DecodeServiceBus: %v", err)
			}
			if string(got.Body) != want.body {
				t.Errorf("Body = %s, want %s", got.Body, want.body)
			}
			if got.MessageID != want.id {
				t.Errorf("MessageID = %q, want %q", got.MessageID, want.id)
			}
			if got.DeliveryCount != want.count {
				t.Errorf("DeliveryCount = %d, want %d", got.DeliveryCount, want.count)
			}
			if !got.EnqueuedTime.Equal(want.enqueued) || got.EnqueuedTime.Location() != time.UTC {
				t.Errorf("EnqueuedTime = %v, want %v UTC", got.EnqueuedTime, want.enqueued)
			}
			if got.ContentType != want.ctype {
				t.Errorf("ContentType = %q, want %q", got.ContentType, want.ctype)
			}
			if got.SequenceNumber != want.seq {
				t.Errorf("SequenceNumber = %d, want %d", got.SequenceNumber, want.seq)
			}
			if !maps.Equal(got.ApplicationProperties, want.props) {
				t.Errorf("ApplicationProperties = %v, want %v", got.ApplicationProperties, want.props)
			}
		})
	}
}

func TestTimerSample(t *testing.T) {
	t.Parallel()
	req, err := DecodeRequest(bytes.NewReader(readSample(t, "timer_request_azfunc_test.json")))
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeTimer(req)
	if err != nil {
		t.Fatalf("DecodeTimer: %v", err)
	}
	ts := time.Date(2023, 10, 12, 20, 13, 49, 640002000, time.UTC)
	want := ScheduleStatus{Last: ts, Next: ts, LastUpdated: ts}
	if got.IsPastDue {
		t.Error("IsPastDue = true, want false")
	}
	if got.ScheduleStatus == nil || *got.ScheduleStatus != want {
		t.Errorf("ScheduleStatus = %+v, want %+v", got.ScheduleStatus, want)
	}
	if now, err := DecodeTime(lookup(sys(t, req), "UtcNow")); err != nil || !now.Equal(ts) {
		t.Errorf("sys.UtcNow = %v, %v; want %v", now, err, ts)
	}
}

// sys returns the decoded Metadata.sys object of req.
func sys(t *testing.T, req *Request) map[string]json.RawMessage {
	t.Helper()
	m, err := decodeObject(req.Metadata["sys"])
	if err != nil {
		t.Fatalf("sys: %v", err)
	}
	return m
}

func TestStorageQueueSamples(t *testing.T) {
	t.Parallel()
	cases := []struct {
		file     string
		item     string
		wantBody string // "" = not JSON
		itemText string
		id       string
		dequeue  int64
		inserted time.Time
	}{
		{
			file: "storagequeue_request_azfunc_test.json", item: "queue",
			wantBody: `{"message":"hello","number":2}`, itemText: `{"message":"hello","number":2}`,
			id: "4e773554-f6b7-4ea2-b07d-4c5fd5aba741", dequeue: 1,
			inserted: time.Date(2023, 10, 12, 20, 13, 49, 640002000, time.UTC),
		},
		{
			// The doc's illustrative sample: plain values, relaxed JSON item.
			file: "ms_doc_queue_trigger_request.json", item: "myQueueItem",
			itemText: `{ message: "Message sent" }`,
			id:       "800ae4b3-bdd2-4c08-badd-f08e5a34b865", dequeue: 1,
			inserted: time.Date(2019, 10, 9, 17, 58, 31, 0, time.UTC),
		},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			req, err := DecodeRequest(bytes.NewReader(readSample(t, tc.file)))
			if err != nil {
				t.Fatal(err)
			}
			body, err := JSONBody(req.Data[tc.item])
			if tc.wantBody == "" {
				if !errors.Is(err, ErrUnexpectedBody) {
					t.Errorf("JSONBody = %s, %v; want ErrUnexpectedBody", body, err)
				}
			} else if err != nil || string(body) != tc.wantBody {
				t.Errorf("JSONBody = %s, %v; want %s", body, err, tc.wantBody)
			}
			if s, err := DecodeString(req.Data[tc.item]); err != nil || s != tc.itemText {
				t.Errorf("DecodeString(item) = %q, %v; want %q", s, err, tc.itemText)
			}
			if s, err := DecodeString(req.Metadata["Id"]); err != nil || s != tc.id {
				t.Errorf("Id = %q, %v; want %q", s, err, tc.id)
			}
			if n, err := DecodeInt(req.Metadata["DequeueCount"]); err != nil || n != tc.dequeue {
				t.Errorf("DequeueCount = %d, %v; want %d", n, err, tc.dequeue)
			}
			if ts, err := DecodeTime(req.Metadata["InsertionTime"]); err != nil || !ts.Equal(tc.inserted) {
				t.Errorf("InsertionTime = %v, %v; want %v", ts, err, tc.inserted)
			}
		})
	}
}

func TestHTTPPayloadSample(t *testing.T) {
	t.Parallel()
	req, err := DecodeRequest(bytes.NewReader(httpSampleBody(t, "ms_doc_http_trigger_request_nonforwarding.http")))
	if err != nil {
		t.Fatal(err)
	}
	hreq, err := decodeObject(req.Data["req"])
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := DecodeString(hreq["Method"]); m != "POST" {
		t.Errorf("Method = %q, want POST", m)
	}
	body, err := JSONBody(hreq["Body"])
	if err != nil || string(body) != `{"id":1005,"quantity":2,"color":"black"}` {
		t.Errorf("Body = %s, %v", body, err)
	}
	if len(req.Metadata) != 0 {
		t.Errorf("Metadata = %v, want empty", req.Metadata)
	}
}

// TestResponseSamples round-trips every response sample through Response
// and checks the shape the host requires.
func TestResponseSamples(t *testing.T) {
	t.Parallel()
	for _, name := range []string{
		"ms_doc_response_payload.json",
		"ms_doc_http_trigger_response_with_queue_output.json",
		"http_output_binding_response_with_status_headers.json",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var orig map[string]any
			raw := readSample(t, name)
			if err := json.Unmarshal(raw, &orig); err != nil {
				t.Fatal(err)
			}
			var resp Response
			if err := json.Unmarshal(raw, &resp); err != nil {
				t.Fatalf("unmarshal Response: %v", err)
			}
			out, err := json.Marshal(resp)
			if err != nil {
				t.Fatal(err)
			}
			got := checkResponseShape(t, out)
			if !jsonEqual(got["Outputs"], orig["Outputs"]) {
				t.Errorf("Outputs = %v, want %v", got["Outputs"], orig["Outputs"])
			}
			if !jsonEqual(got["ReturnValue"], orig["ReturnValue"]) {
				t.Errorf("ReturnValue = %v, want %v", got["ReturnValue"], orig["ReturnValue"])
			}
			if orig["Logs"] != nil && !jsonEqual(got["Logs"], orig["Logs"]) {
				t.Errorf("Logs = %v, want %v", got["Logs"], orig["Logs"])
			}
		})
	}
}

// checkResponseShape fails unless b is {"Outputs":{…},"Logs":[…],"ReturnValue":…}
// with exactly those keys, and returns it decoded.
func checkResponseShape(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("response %s: %v", b, err)
	}
	if _, ok := m["Outputs"].(map[string]any); !ok {
		t.Errorf("Outputs = %#v, want an object in %s", m["Outputs"], b)
	}
	if _, ok := m["Logs"].([]any); !ok {
		t.Errorf("Logs = %#v, want an array in %s", m["Logs"], b)
	}
	if _, ok := m["ReturnValue"]; !ok || len(m) != 3 {
		t.Errorf("response keys = %v, want Outputs, Logs, ReturnValue", m)
	}
	return m
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// TestReplaySamplesThroughHandler posts every request sample to a Handler
// whose function decodes the trigger, and checks the answer.
func TestReplaySamplesThroughHandler(t *testing.T) {
	t.Parallel()
	decodeAny := func(ctx context.Context, inv *Invocation) (*Response, error) {
		resp := &Response{}
		switch {
		case inv.Request.Data[TimerBinding] != nil:
			ti, err := DecodeTimer(inv.Request)
			if err != nil {
				return nil, err
			}
			resp.ReturnValue = ti.IsPastDue
		case inv.Request.Data["req"] != nil:
			resp.ReturnValue = "http"
		default:
			for name := range inv.Request.Data {
				msg, err := DecodeServiceBus(inv.Request, name)
				if err != nil {
					return nil, err
				}
				resp.ReturnValue = string(msg.Body)
			}
		}
		resp.Logf("decoded %s", inv.FunctionName)
		return resp, nil
	}
	cases := []struct {
		file       string
		wantStatus int
		wantReturn any
	}{
		{"timer_request_azfunc_test.json", 200, false},
		{"servicebus_request_azfunc_test.json", 200, `{"message":"hello","number":2}`},
		{"SYNTHESIZED_servicebus_request_derived_from_host_source.json", 200, `{"feed":"threatfox","batch":1}`},
		{"SYNTHESIZED_servicebus_request_dataType_binary.json", 200, `{"feed":"threatfox","batch":1}`},
		{"storagequeue_request_azfunc_test.json", 200, `{"message":"hello","number":2}`},
		{"ms_doc_queue_trigger_request.json", 500, nil}, // body is not JSON
		{"ms_doc_http_trigger_request_nonforwarding.http", 200, "http"},
	}
	h := Handler("Sample", decodeAny, nil)
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			body := readSample(t, tc.file)
			if strings.HasSuffix(tc.file, ".http") {
				body = httpSampleBody(t, tc.file)
			}
			r := httptest.NewRequest(http.MethodPost, "/Sample", bytes.NewReader(body))
			r.Header.Set(InvocationIDHeader, "inv-1")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", w.Code, tc.wantStatus, w.Body)
			}
			if tc.wantStatus != http.StatusOK {
				checkErrorBody(t, w.Body.Bytes(), "not a JSON object or array")
				return
			}
			got := checkResponseShape(t, w.Body.Bytes())
			if got["ReturnValue"] != tc.wantReturn {
				t.Errorf("ReturnValue = %#v, want %#v", got["ReturnValue"], tc.wantReturn)
			}
		})
	}
}

// checkErrorBody fails unless b is {"error":"…want…","Logs":[…]}.
func checkErrorBody(t *testing.T, b []byte, want string) {
	t.Helper()
	var e struct {
		Error string
		Logs  []string
	}
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("error body %s: %v", b, err)
	}
	if !strings.Contains(e.Error, want) || len(e.Logs) == 0 {
		t.Errorf("error body = %s, want an error containing %q and Logs", b, want)
	}
}
