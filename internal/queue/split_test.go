package queue

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// ids returns the "id" of each object of each batch.
func ids(t *testing.T, batches []Batch) [][]string {
	t.Helper()
	out := make([][]string, len(batches))
	for i, b := range batches {
		for _, o := range b.Objects {
			var v struct{ ID string }
			if err := json.Unmarshal(o, &v); err != nil {
				t.Fatal(err)
			}
			out[i] = append(out[i], v.ID)
		}
	}
	return out
}

func TestSplitCount(t *testing.T) {
	t.Parallel()
	var objs []json.RawMessage
	for i := range 250 {
		objs = append(objs, obj(fmt.Sprintf("indicator--%d", i), "", 0))
	}
	cases := []struct {
		name  string
		opts  *SplitOptions
		sizes []int
	}{
		{"default", nil, []int{100, 100, 50}},
		{"max 40", &SplitOptions{MaxObjects: 40}, []int{40, 40, 40, 40, 40, 40, 10}},
		{"max above 100 is 100", &SplitOptions{MaxObjects: 500}, []int{100, 100, 50}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := Split("feodo", objs, tc.opts)
			var sizes []int
			n := 0
			for _, b := range got {
				sizes = append(sizes, len(b.Objects))
				if b.Source != "feodo" {
					t.Errorf("Source = %q", b.Source)
				}
				for _, o := range b.Objects {
					if !bytes.Equal(o, objs[n]) {
						t.Fatalf("object %d out of order", n)
					}
					n++
				}
			}
			if fmt.Sprint(sizes) != fmt.Sprint(tc.sizes) {
				t.Errorf("batch sizes = %v, want %v", sizes, tc.sizes)
			}
		})
	}
	if got := Split("x", nil, nil); got != nil {
		t.Errorf("Split(nil) = %v", got)
	}
}

func TestSplitBytes(t *testing.T) {
	t.Parallel()
	var objs []json.RawMessage
	for i := range 30 {
		objs = append(objs, obj(fmt.Sprintf("indicator--%02d", i), "", 1000))
	}
	const max = 5000
	got := Split("x", objs, &SplitOptions{MaxBytes: max})
	total := 0
	for i, b := range got {
		m, err := Encode(b)
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Body) > max {
			t.Errorf("batch %d: %d bytes > %d", i, len(m.Body), max)
		}
		if len(m.Body) != b.Size() {
			t.Errorf("batch %d: Size() = %d, body %d", i, b.Size(), len(m.Body))
		}
		total += len(b.Objects)
	}
	if total != len(objs) || len(got) != 8 { // 4 objects of 1046 bytes fit in 5000
		t.Errorf("%d objects in %d batches", total, len(got))
	}
}

func TestSplitIdentityColocation(t *testing.T) {
	t.Parallel()
	const a, b = "identity--a", "identity--b"
	objs := []json.RawMessage{
		obj(a, "", 0),
		obj(b, "", 0),
		obj("indicator--1", a, 0),
		obj("indicator--2", b, 0),
		obj("indicator--3", a, 0),
		obj("indicator--4", "identity--not-here", 0),
		obj("indicator--5", b, 0),
		obj("identity--lonely", "", 0), // referenced by nobody: an ordinary object
	}
	got := ids(t, Split("x", objs, &SplitOptions{MaxObjects: 3}))
	// Each indicator has the identity it references in its batch, ahead
	// of it; identities are copied, never placed alone.
	want := [][]string{
		{a, "indicator--1"},
		{b, "indicator--2"},
		{a, "indicator--3", "indicator--4"},
		{b, "indicator--5", "identity--lonely"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
}

func TestSplitColocationRules(t *testing.T) {
	t.Parallel()
	mk := func(id, createdBy string, marks ...string) json.RawMessage {
		m := map[string]any{"type": strings.Split(id, "--")[0], "id": id}
		if createdBy != "" {
			m["created_by_ref"] = createdBy
		}
		if len(marks) > 0 {
			m["object_marking_refs"] = marks
		}
		data, _ := json.Marshal(m)
		return data
	}
	const tlp = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"
	objs := []json.RawMessage{
		mk("identity--root", ""),
		mk("identity--org", "identity--root"), // transitive
		mk("marking-definition--custom", ""),
		mk("indicator--1", "identity--org", "marking-definition--custom", tlp),
		mk("indicator--2", "indicator--2"), // self reference
		mk("identity--c1", "identity--c2"), // a cycle nobody else references
		mk("identity--c2", "identity--c1"),
	}
	got := ids(t, Split("x", objs, &SplitOptions{MaxObjects: 4}))
	want := [][]string{
		{"identity--root", "identity--org", "marking-definition--custom", "indicator--1"},
		{"indicator--2", "identity--c2", "identity--c1"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
}

func TestSplitOversize(t *testing.T) {
	t.Parallel()
	objs := []json.RawMessage{
		obj("indicator--small1", "", 10),
		obj("indicator--huge", "", 3000),
		obj("indicator--small2", "", 10),
	}
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	got := Split("urlhaus", objs, &SplitOptions{MaxBytes: 1000, Logger: logger})
	want := [][]string{{"indicator--small1"}, {"indicator--huge"}, {"indicator--small2"}}
	if fmt.Sprint(ids(t, got)) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", ids(t, got), want)
	}
	if got[1].Size() <= 1000 {
		t.Errorf("oversized batch Size() = %d", got[1].Size())
	}
	out := logs.String()
	if !strings.Contains(out, "exceeds the message limits") || !strings.Contains(out, "index=1") ||
		!strings.Contains(out, "source=urlhaus") {
		t.Errorf("log = %q", out)
	}
	if strings.Contains(out, "xxxx") {
		t.Errorf("log contains object content: %q", out)
	}
}

func BenchmarkSplit(b *testing.B) {
	objs := readSample(b)
	var all []json.RawMessage
	for i := 0; len(all) < 10000; i++ {
		all = append(all, objs[1+i%2])
	}
	all = append(all, objs[0])
	b.ReportAllocs()
	for b.Loop() {
		Split("bench", all, nil)
	}
}

func TestScanRefs(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, in string
		want     stixRefs
	}{
		{"plain", `{"type":"indicator","id":"indicator--1","created_by_ref":"identity--1","object_marking_refs":["m--1", "m--2"]}`,
			stixRefs{"indicator--1", "identity--1", []string{"m--1", "m--2"}}},
		{"nested keys ignored", `{"x":{"id":"no","created_by_ref":"no"},"y":["id"],"id":"yes"}`, stixRefs{ID: "yes"}},
		{"strings with quotes and brackets", `{"d":"a \"}{[ \\","id":"i","n":-1.5e3,"t":true,"z":null}`, stixRefs{ID: "i"}},
		{"escaped value", `{"id":"indicator--\u0031"}`, stixRefs{ID: "indicator--1"}},
		{"last wins", `{"id":"a","id":"b"}`, stixRefs{ID: "b"}},
		{"white space", " {\n\t\"id\" : \"a\" ,\r\n \"object_marking_refs\" : [ ] } ", stixRefs{ID: "a", ObjectMarkingRefs: []string{}}},
		{"wrong type", `{"id":5,"created_by_ref":"c"}`, stixRefs{CreatedByRef: "c"}},
		{"not an object", `["id","a"]`, stixRefs{}},
		{"broken", `{"id":"a",`, stixRefs{}},
		{"empty", `{}`, stixRefs{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := scanRefs([]byte(tc.in)); fmt.Sprintf("%q", got) != fmt.Sprintf("%q", tc.want) {
				t.Errorf("scanRefs(%s) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// FuzzScanRefs checks the fast path against encoding/json on valid input.
func FuzzScanRefs(f *testing.F) {
	for _, o := range readSample(f) {
		f.Add([]byte(o))
	}
	f.Add([]byte(`{"x":{"id":"no"},"id":"yes","object_marking_refs":["a","b"]}`))
	f.Add([]byte(`{"id":"a\"b","created_by_ref":null}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		got := scanRefs(in)
		if !json.Valid(in) {
			return
		}
		var m map[string]json.RawMessage
		if json.Unmarshal(in, &m) != nil {
			if got.ID != "" || got.CreatedByRef != "" || len(got.ObjectMarkingRefs) != 0 {
				t.Fatalf("refs %q from a non-object", got)
			}
			return
		}
		var want stixRefs
		_ = json.Unmarshal(m["id"], &want.ID)
		_ = json.Unmarshal(m["created_by_ref"], &want.CreatedByRef)
		if json.Unmarshal(m["object_marking_refs"], &want.ObjectMarkingRefs) != nil {
			want.ObjectMarkingRefs = nil
		}
		if got.ID != want.ID || got.CreatedByRef != want.CreatedByRef ||
			fmt.Sprint(got.ObjectMarkingRefs) != fmt.Sprint(want.ObjectMarkingRefs) {
			t.Fatalf("scanRefs(%s) = %q, encoding/json says %q", in, got, want)
		}
	})
}
