package stix

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/feeds2sentinel/feeds2sentinel/internal/ioc"
)

// contextJSON returns an indicator JSON with description desc and the
// source-context extension ext (raw JSON of its source_contexts value).
func contextJSON(desc, ext string) string {
	d, _ := json.Marshal(desc)
	return `{"type":"indicator","spec_version":"2.1","id":"indicator--b953694d-cfa4-543e-95f1-e3faf90ba4ba",` +
		`"created":"2026-01-01T00:00:00.000Z","modified":"2026-01-01T00:00:00.000Z","description":` + string(d) +
		`,"pattern":"[ipv4-addr:value = '198.51.100.7']","pattern_type":"stix","valid_from":"2026-01-01T00:00:00.000Z",` +
		`"extensions":{"` + SourceContextExtension + `":{"extension_type":"property-extension","source_contexts":` + ext + `}}}`
}

// TestDecodeContexts: the extension is trusted only when it splits the
// description exactly; anything else leaves Contexts nil (one context).
func TestDecodeContexts(t *testing.T) {
	t.Parallel()
	two := func(a, b int) string {
		return `[{"source":"a","rank":3,"name":"A","description_length":` + itoa(a) +
			`},{"source":"b","rank":0,"name":"B","description_length":` + itoa(b) + `}]`
	}
	cases := []struct {
		name, desc, ext string
		want            []string // the contexts' descriptions; nil: none
	}{
		{"exact", "aa\nbbb", two(2, 3), []string{"aa", "bbb"}},
		{"newline inside", "a\na\nb", two(3, 1), []string{"a\na", "b"}},
		{"empty parts", "\n", two(0, 0), []string{"", ""}},
		{"too short", "aa\nbbb", two(2, 2), nil},
		{"too long", "aa\nbbb", two(2, 4), nil},
		{"negative", "aa\nbbb", two(-1, 3), nil},
		{"huge", "aa\nbbb", two(1<<40, 3), nil},
		{"no separator", "aaXbbb", two(2, 3), nil},
		{"one context", "aa", `[{"source":"a","rank":1,"name":"A","description_length":2}]`, nil},
		{"not a list", "aa", `{"x":1}`, nil},
		{"wrong types", "aa\nbbb", `[{"source":1,"description_length":"2"}]`, nil},
		{"too many", strings.Repeat("\n", maxContexts),
			"[" + strings.Repeat(`{"source":"a","description_length":0},`, maxContexts) + `{"source":"z","description_length":0}]`, nil},
	}
	for _, c := range cases {
		var x Indicator
		if err := json.Unmarshal([]byte(contextJSON(c.desc, c.ext)), &x); err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		var got []string
		for _, ctx := range x.Contexts {
			got = append(got, ctx.Description)
			if !ctx.Reported.Equal(x.Modified) {
				t.Errorf("%s: reported %v, want modified %v", c.name, ctx.Reported, x.Modified)
			}
		}
		if strings.Join(got, "|") != strings.Join(c.want, "|") || (got == nil) != (c.want == nil) {
			t.Errorf("%s: contexts %q, want %q", c.name, got, c.want)
		}
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// FuzzDecodeContexts: whatever description and extension a stored object
// carries, decoding never fails because of them, and contexts it accepts
// join back to the description and survive another round trip.
func FuzzDecodeContexts(f *testing.F) {
	f.Add("aa\nbbb", 2, 3, "A")
	f.Add("\n", 0, 0, "")
	f.Add("aa\nbbb", -1, 4, "\xff")
	f.Add("a\u2028\nb", 4, 1, "\u2028")
	f.Add("x\xffy\nz", 3, 1, "n")
	f.Fuzz(func(t *testing.T, desc string, a, b int, name string) {
		ext := `[{"source":"a","rank":1,"name":` + string(must(json.Marshal(name))) + `,"description_length":` + itoa(a) +
			`},{"source":"b","rank":0,"description_length":` + itoa(b) + `}]`
		var x Indicator
		if err := json.Unmarshal([]byte(contextJSON(desc, ext)), &x); err != nil {
			t.Fatal(err)
		}
		if x.Contexts == nil {
			return
		}
		joinContexts(&x)
		var y Indicator
		if err := json.Unmarshal(x.AppendJSON(nil), &y); err != nil {
			t.Fatal(err)
		}
		if len(y.Contexts) != len(x.Contexts) || y.Description != x.Description {
			t.Fatalf("round trip: %d contexts %q, want %d %q", len(y.Contexts), y.Description, len(x.Contexts), x.Description)
		}
	})
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// TestContextsOfLegacy: an indicator without the extension is one context,
// attributed to its only source, else to the source its description names,
// else to the one created_by_ref names.
func TestContextsOfLegacy(t *testing.T) {
	t.Parallel()
	cases := []struct {
		sources []string
		desc    string
		ref     string
		want    string
	}{
		{[]string{"x"}, "Source: y.", "", "x"},
		{[]string{"b", "a"}, "Threat type: t. Source: b.", IdentityID("a"), "b"},
		{[]string{"b", "a"}, "no source named", IdentityID("b"), "b"},
		{[]string{"b", "a"}, "no source named", "", "a"},
		{nil, "d", "", ""},
	}
	for _, c := range cases {
		x := &Indicator{Sources: c.sources, Description: c.desc, CreatedByRef: c.ref, Name: "n", Modified: time.Unix(1, 0)}
		got := contextsOf(x)
		if len(got) != 1 || got[0].Source != c.want || got[0].Rank != ContextRank(c.desc) {
			t.Errorf("%v %q: %+v, want source %q", c.sources, c.desc, got, c.want)
		}
	}
	if got := contextsOf(&Indicator{Sources: []string{"a"}}); got != nil {
		t.Errorf("no name and description: %+v", got)
	}
}

// TestContextRank: a family and a threat type rank above a bare entry.
func TestContextRank(t *testing.T) {
	t.Parallel()
	o := ioc.Observable{Type: ioc.TypeDomain, Value: "a.example"}
	rank := func(r ioc.Record) int {
		x, err := NewIndicator(o, &r, nil)
		if err != nil {
			t.Fatal(err)
		}
		return ContextRank(x.Description)
	}
	for _, c := range []struct {
		r    ioc.Record
		want int
	}{
		{ioc.Record{Source: "list"}, 0},
		{ioc.Record{Source: "s", ThreatType: "botnet_cc"}, 1},
		{ioc.Record{Source: "s", Malware: "win.x"}, 2},
		{ioc.Record{Source: "s", Malware: "win.x", ThreatType: "botnet_cc", Reporter: "r"}, 3},
	} {
		if got := rank(c.r); got != c.want {
			t.Errorf("%+v: rank %d, want %d", c.r, got, c.want)
		}
	}
}
