package queue

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
)

func readSample(t testing.TB) []json.RawMessage {
	t.Helper()
	data, err := os.ReadFile("testdata/batch_sample.json")
	if err != nil {
		t.Fatal(err)
	}
	var objs []json.RawMessage
	if err := json.Unmarshal(data, &objs); err != nil {
		t.Fatal(err)
	}
	return objs
}

// obj returns a small STIX-like object; createdBy may be "".
func obj(id, createdBy string, pad int) json.RawMessage {
	typ, _, _ := strings.Cut(id, "--")
	s := fmt.Sprintf(`{"type":%q,"id":%q`, typ, id)
	if createdBy != "" {
		s += fmt.Sprintf(`,"created_by_ref":%q`, createdBy)
	}
	if pad > 0 {
		s += fmt.Sprintf(`,"description":%q`, strings.Repeat("x", pad))
	}
	return json.RawMessage(s + "}")
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	t.Parallel()
	objs := readSample(t)
	m, err := Encode(Batch{Source: "threatfox", Objects: objs})
	if err != nil {
		t.Fatal(err)
	}
	if m.ContentType != "application/json" {
		t.Errorf("ContentType = %q", m.ContentType)
	}
	wantProps := map[string]any{"schema_version": 1, "source": "threatfox", "count": 3}
	if !reflect.DeepEqual(m.Properties, wantProps) {
		t.Errorf("Properties = %v, want %v", m.Properties, wantProps)
	}
	if len(m.ID) != 32 || m.ID != MessageID(m.Body) {
		t.Errorf("ID = %q, want 32 hex digits of the body hash", m.ID)
	}
	if !json.Valid(m.Body) {
		t.Fatalf("body is not JSON: %s", m.Body)
	}
	b, err := DecodeMessage(m)
	if err != nil {
		t.Fatal(err)
	}
	if b.Source != "threatfox" || len(b.Objects) != len(objs) {
		t.Fatalf("decoded %q with %d objects", b.Source, len(b.Objects))
	}
	for i := range objs {
		if !bytes.Equal(b.Objects[i], objs[i]) {
			t.Errorf("object %d changed:\n got %s\nwant %s", i, b.Objects[i], objs[i])
		}
	}
	// The same content gives the same ID, whatever the source; other
	// content another.
	m2, _ := Encode(Batch{Source: "urlhaus", Objects: objs})
	m3, _ := Encode(Batch{Source: "threatfox", Objects: objs[1:]})
	if m2.ID != m.ID || m3.ID == m.ID {
		t.Errorf("ids: %s %s %s", m.ID, m2.ID, m3.ID)
	}
}

func TestMessageIDStable(t *testing.T) {
	t.Parallel()
	// A change here changes every MessageID, so a re-sent batch would not
	// be caught by duplicate detection across a deployment.
	m, err := Encode(Batch{Objects: []json.RawMessage{json.RawMessage(` {"type":"indicator","id":"indicator--1"} `)}})
	if err != nil {
		t.Fatal(err)
	}
	const want = "4bca3145ab52a5430d6c2cb49bc3ec66"
	if string(m.Body) != `[{"type":"indicator","id":"indicator--1"}]` {
		t.Errorf("body = %s", m.Body)
	}
	if m.ID != MessageID(m.Body) {
		t.Errorf("ID %s is not MessageID(body)", m.ID)
	}
	if m.ID != want {
		t.Errorf("ID = %s, want %s", m.ID, want)
	}
}

func TestEncodeErrors(t *testing.T) {
	t.Parallel()
	many := make([]json.RawMessage, MaxObjects+1)
	for i := range many {
		many[i] = json.RawMessage(`{}`)
	}
	cases := []struct {
		name string
		objs []json.RawMessage
	}{
		{"none", nil},
		{"too many", many},
		{"array element", []json.RawMessage{json.RawMessage(`[]`)}},
		{"invalid JSON", []json.RawMessage{json.RawMessage(`{"a":`)}},
		{"empty element", []json.RawMessage{nil}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := Encode(Batch{Objects: tc.objs}); !errors.Is(err, ErrInvalidMessage) {
				t.Errorf("err = %v, want ErrInvalidMessage", err)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, body, want string
	}{
		{"empty", ``, "want a JSON array of STIX objects, got nothing"},
		{"object", `{"type":"indicator"}`, "want a JSON array of STIX objects, got an object"},
		{"string", `"[1]"`, "want a JSON array of STIX objects, got a string"},
		{"number", `42`, "got a number"},
		{"broken", `[{"a":1},`, "want a JSON array of STIX objects: unexpected end of JSON input"},
		{"empty array", `[]`, "want a JSON array of 1 to 100 STIX objects, got 0 elements"},
		{"too many", "[" + strings.Repeat(`{},`, 100) + "{}]", "got 101 elements"},
		{"number element", `[{},1]`, "want a JSON object at index 1, got a number"},
		{"null element", `[null]`, "want a JSON object at index 0, got null"},
		{"nested array", `[[{}]]`, "got an array"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Decode([]byte(tc.body))
			if !errors.Is(err, ErrInvalidMessage) {
				t.Fatalf("err = %v, want ErrInvalidMessage", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestDecodeTolerance(t *testing.T) {
	t.Parallel()
	b, err := Decode([]byte("\n [ {\"type\":\"indicator\"} , {} ]\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Objects) != 2 {
		t.Errorf("got %d objects", len(b.Objects))
	}
}

func FuzzDecode(f *testing.F) {
	data, err := os.ReadFile("testdata/batch_sample.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte(`[]`))
	f.Add([]byte(`[{}, 1]`))
	f.Add([]byte(`{"a":[1]}`))
	f.Add([]byte("[" + strings.Repeat(`{},`, 100) + "{}]"))
	f.Fuzz(func(t *testing.T, body []byte) {
		b, err := Decode(body)
		if err != nil {
			if !errors.Is(err, ErrInvalidMessage) {
				t.Fatalf("error does not wrap ErrInvalidMessage: %v", err)
			}
			return
		}
		if len(b.Objects) == 0 || len(b.Objects) > MaxObjects {
			t.Fatalf("decoded %d objects", len(b.Objects))
		}
		// What decodes must encode, and decode again to the same objects.
		m, err := Encode(b)
		if err != nil {
			t.Fatalf("Encode of a decoded batch: %v", err)
		}
		b2, err := Decode(m.Body)
		if err != nil {
			t.Fatalf("Decode of an encoded batch: %v", err)
		}
		if len(b2.Objects) != len(b.Objects) {
			t.Fatalf("round trip: %d objects, want %d", len(b2.Objects), len(b.Objects))
		}
		_ = Split("fuzz", b.Objects, &SplitOptions{MaxObjects: 3, MaxBytes: 64})
	})
}
