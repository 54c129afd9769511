package invoke

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// requestSamples returns the body of every request sample in testdata.
func requestSamples(tb testing.TB) [][]byte {
	tb.Helper()
	names, err := filepath.Glob(filepath.Join("testdata", "*request*"))
	if err != nil || len(names) == 0 {
		tb.Fatalf("no request samples: %v", err)
	}
	var out [][]byte
	for _, n := range names {
		n = filepath.Base(n)
		if strings.HasSuffix(n, ".http") {
			out = append(out, httpSampleBody(tb, n))
			continue
		}
		out = append(out, readSample(tb, n))
	}
	return out
}

func FuzzJSONBody(f *testing.F) {
	for _, s := range requestSamples(f) {
		var req Request
		if json.Unmarshal(s, &req) != nil {
			continue
		}
		for _, v := range req.Data {
			f.Add([]byte(v))
		}
	}
	f.Add([]byte(`"\"[1,2]\""`))
	f.Add([]byte(`"W10="`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		b, err := JSONBody(raw)
		if err != nil {
			return
		}
		if !isContainer(b) {
			t.Fatalf("JSONBody(%q) = %q, not a JSON object or array", raw, b)
		}
	})
}

func FuzzDecodeRequest(f *testing.F) {
	for _, s := range requestSamples(f) {
		f.Add(s)
	}
	f.Add([]byte(`{"Data":{"timer":null},"Metadata":null}`))
	f.Add([]byte(`{"Data":{"message":"e30="},"Metadata":{"DeliveryCount":"\"2\"","ApplicationProperties":"{\"a\":[1]}"}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := DecodeRequest(bytes.NewReader(body))
		if err != nil {
			return
		}
		_, _ = DecodeTimer(req)
		for name := range req.Data {
			msg, err := DecodeServiceBus(req, name)
			if err == nil && !isContainer(msg.Body) {
				t.Fatalf("DecodeServiceBus body %q is not JSON", msg.Body)
			}
		}
		for _, v := range req.Metadata {
			_, _ = DecodeString(v)
			_, _ = DecodeInt(v)
			_, _ = DecodeTime(v)
		}
	})
}

func BenchmarkDecodeServiceBus(b *testing.B) {
	for _, name := range []string{
		"SYNTHESIZED_servicebus_request_derived_from_host_source.json",
		"SYNTHESIZED_servicebus_request_dataType_binary.json",
	} {
		body, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(strings.TrimSuffix(name, ".json"), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req, err := DecodeRequest(bytes.NewReader(body))
				if err != nil {
					b.Fatal(err)
				}
				if _, err := DecodeServiceBus(req, "msg"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkHandler(b *testing.B) {
	body := readSample(b, "SYNTHESIZED_servicebus_request_dataType_binary.json")
	h := Handler("UploadIndicators", func(ctx context.Context, inv *Invocation) (*Response, error) {
		if _, err := DecodeServiceBus(inv.Request, "msg"); err != nil {
			return nil, err
		}
		return &Response{Logs: []string{"uploaded"}}, nil
	}, nil)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/UploadIndicators", bytes.NewReader(body)))
		if w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
	}
}
