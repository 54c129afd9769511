package sentinel

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func obj(id string, v int) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"type":"indicator","id":%q,"v":%d}`, id, v))
}

// readBundle returns the bundle's objects by id (failing on a repeat).
func readBundle(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var bundle struct {
		Type    string            `json:"type"`
		ID      string            `json:"id"`
		Objects []json.RawMessage `json:"objects"`
	}
	if err := json.Unmarshal(b, &bundle); err != nil || bundle.Type != "bundle" || !strings.HasPrefix(bundle.ID, "bundle--") {
		t.Fatalf("not a STIX bundle (%v): %.200s", err, b)
	}
	out := map[string]string{}
	for _, o := range bundle.Objects {
		id := objectID(o)
		if _, dup := out[id]; dup {
			t.Errorf("%s twice in the bundle", id)
		}
		out[id] = string(o)
	}
	return out
}

// TestBundleSinkKeepsLatest: the bundle holds the latest version of each
// object received, across sessions, and nothing else is lost.
func TestBundleSinkKeepsLatest(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out", "bundle.json")
	ctx := context.Background()
	s, err := OpenBundleSink(path)
	if err != nil {
		t.Fatal(err)
	}
	s.Upload(ctx, []json.RawMessage{obj("indicator--a", 1), obj("indicator--b", 1)})
	s.Upload(ctx, []json.RawMessage{obj("indicator--a", 2), json.RawMessage(`{"no":"id"}`)})
	if s.Len() != 2 {
		t.Errorf("Len before Close = %d", s.Len())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	got := readBundle(t, path)
	if len(got) != 2 || !strings.Contains(got["indicator--a"], `"v":2`) {
		t.Errorf("first bundle: %v", got)
	}
	s, _ = OpenBundleSink(path)
	s.Upload(ctx, []json.RawMessage{obj("indicator--b", 3), obj("indicator--c", 1)})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	got = readBundle(t, path)
	if len(got) != 3 || !strings.Contains(got["indicator--a"], `"v":2`) || !strings.Contains(got["indicator--b"], `"v":3`) || s.Len() != 3 {
		t.Errorf("second bundle (Len %d): %v", s.Len(), got)
	}
	// A session that received nothing leaves the bundle alone.
	s, _ = OpenBundleSink(path)
	if err := s.Close(); err != nil || s.Len() != 3 {
		t.Errorf("empty session: Len %d, %v", s.Len(), err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("leftover files beside the bundle: %v", entries)
	}
}

// TestBundleSinkNotABundle: a file that is not a bundle is not replaced,
// and the error says what to do.
func TestBundleSinkNotABundle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bundle.json")
	os.WriteFile(path, []byte("not json"), 0o644)
	s, _ := OpenBundleSink(path)
	s.Upload(context.Background(), []json.RawMessage{obj("indicator--a", 1)})
	err := s.Close()
	if err == nil || !strings.Contains(err.Error(), "move it away") {
		t.Errorf("Close = %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "not json" {
		t.Errorf("the file was replaced: %q", b)
	}
}

func TestObjectID(t *testing.T) {
	for in, want := range map[string]string{
		`{"type":"indicator","id":"indicator--a"}`:         "indicator--a",
		`{"name":"id","x":{"id":"inner"},"id" : "top--1"}`: "top--1",
		`{"description":"say \"id\":\"no\"","id":"x--2"}`:  "x--2",
		`{"id":"esc\u0061ped"}`:                            "escaped",
		`{"list":[{"id":"nested"}]}`:                       "",
		`not json`:                                         "",
		`{"id":5}`:                                         "",
		`{"id":"unterminated`:                              "",
	} {
		if got := objectID([]byte(in)); got != want {
			t.Errorf("objectID(%s) = %q, want %q", in, got, want)
		}
	}
}

func FuzzObjectID(f *testing.F) {
	f.Add([]byte(`{"type":"indicator","id":"indicator--a"}`))
	f.Add([]byte(`{"x":{"id":"a"},"id":"b"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if bytes.Count(b, []byte(`"id"`)) > 1 {
			return // a repeated key: which one counts is not this function's concern
		}
		got := objectID(b)
		var v struct {
			ID *string `json:"id"`
		}
		if json.Unmarshal(b, &v) == nil && v.ID != nil && got != "" && got != *v.ID {
			t.Fatalf("objectID = %q, encoding/json says %q", got, *v.ID)
		}
	})
}
