package stix_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/feeds2sentinel/feeds2sentinel/internal/ioc"
	"github.com/feeds2sentinel/feeds2sentinel/internal/stix"
	"github.com/feeds2sentinel/feeds2sentinel/internal/stix/stixtest"
)

var mergeObs = ioc.Observable{Type: ioc.TypeIPv4, Value: "198.51.100.7", Port: 443}

// threatFoxRecord and listRecord are the example: one IOC reported
// by ThreatFox with family, threat type, port and reporter, and by a plain
// user list.
func threatFoxRecord() ioc.Record {
	return ioc.Record{Source: "threatfox", ID: "1797050", ThreatType: "botnet_cc", Malware: "win.cobalt_strike",
		MalwarePrintable: "Cobalt Strike", Confidence: 75, ConfidenceSet: true, FirstSeen: ts("2026-04-24 07:29:26"),
		Reporter: "abuse_ch", Tags: []string{"CobaltStrike", "c2"}, RecordURL: "https://threatfox.abuse.ch/ioc/1797050/"}
}

func listRecord() ioc.Record { return ioc.Record{Source: "soc-blocklist"} }

func mustBuild(t testing.TB, r ioc.Record, now time.Time) *stix.Indicator {
	t.Helper()
	x, err := stix.NewIndicator(mergeObs, &r, &stix.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// stored returns x as ingest reads it back from state: decoded from its
// JSON, with the sources state records.
func stored(t testing.TB, x *stix.Indicator) *stix.Indicator {
	t.Helper()
	var y stix.Indicator
	if err := json.Unmarshal(x.AppendJSON(nil), &y); err != nil {
		t.Fatal(err)
	}
	y.Sources = x.Sources
	return &y
}

// encodeWithout returns the JSON of x without the named top-level
// properties (those that legitimately depend on time).
func encodeWithout(t testing.TB, x *stix.Indicator, drop ...string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(x.AppendJSON(nil), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range drop {
		delete(m, k)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b) + fmt.Sprintf(" sources=%q", x.Sources)
}

// TestMergeKeepsRichestContext is the regression test: ThreatFox's
// family, threat type, port and reporter survive a merge with a bare list
// entry, in both orders, within one run and across runs.
func TestMergeKeepsRichestContext(t *testing.T) {
	t.Parallel()
	now := goldenNow
	tf, list := mustBuild(t, threatFoxRecord(), now), mustBuild(t, listRecord(), now)
	wantName := "Cobalt Strike botnet C2 ip 198.51.100.7:443"
	wantDesc := tf.Description + "\n" + list.Description
	cases := []struct {
		name string
		got  *stix.Indicator
	}{
		{"threatfox then list", stix.Merge(tf, list, now)},
		{"list then threatfox", stix.Merge(list, tf, now)},
		{"stored threatfox, list next run", stix.Merge(stored(t, mustBuild(t, threatFoxRecord(), now.Add(-time.Hour))), list, now)},
		{"stored list, threatfox next run", stix.Merge(stored(t, mustBuild(t, listRecord(), now.Add(-time.Hour))), tf, now)},
	}
	for _, c := range cases {
		if c.got.Name != wantName {
			t.Errorf("%s: name %q, want %q", c.name, c.got.Name, wantName)
		}
		if c.got.Description != wantDesc {
			t.Errorf("%s: description %q, want %q", c.name, c.got.Description, wantDesc)
		}
		for _, part := range []string{"Malware: Cobalt Strike (win.cobalt_strike).", "Threat type: botnet_cc.", "Port: 443.",
			"Reporter: abuse_ch.", "Source: threatfox.", "Source: soc-blocklist."} {
			if !strings.Contains(c.got.Description, part) {
				t.Errorf("%s: description lacks %q", c.name, part)
			}
		}
		if c.got.CreatedByRef != stix.IdentityID("threatfox") {
			t.Errorf("%s: created_by_ref %s, want threatfox's", c.name, c.got.CreatedByRef)
		}
		stixtest.Validate(t, c.got.AppendJSON(nil))
	}
	// Within a run the two orders give the same object, modified included.
	if a, b := cases[0].got.AppendJSON(nil), cases[1].got.AppendJSON(nil); !bytes.Equal(a, b) {
		t.Errorf("orders differ:\n%s\n%s", a, b)
	}
	// Across runs they differ only in times.
	drop := []string{"created", "modified", "valid_from", "valid_until"}
	if a, b := encodeWithout(t, cases[2].got, drop...), encodeWithout(t, cases[3].got, drop...); a != b {
		t.Errorf("orders across runs differ:\n%s\n%s", a, b)
	}
}

// TestMergeGolden compares the merged ThreatFox + list indicator with
// testdata/golden/merged-threatfox-list.json (go test -update rewrites it).
func TestMergeGolden(t *testing.T) {
	t.Parallel()
	tf, list := mustBuild(t, threatFoxRecord(), goldenNow), mustBuild(t, listRecord(), goldenNow)
	for _, m := range []*stix.Indicator{stix.Merge(tf, list, goldenNow), stix.Merge(list, tf, goldenNow)} {
		compareGolden(t, "merged-threatfox-list.json", m.AppendJSON(nil))
	}
}

// genRecord returns a random record of source src for the property tests.
// withTimes false leaves first/last seen out when the coin says so.
func genRecord(rng *rand.Rand, src string, typesMayDiffer bool) ioc.Record {
	pick := func(opts ...string) string { return opts[rng.IntN(len(opts))] }
	r := ioc.Record{Source: src, ID: pick("", "1", "2"), Reporter: pick("", "abuse_ch", "someone"),
		Description: pick("", "Listed.", "line one\nline two", "bad \xff utf8 Source: other.", "Threat type: fake."),
		TLP:         pick("", "green", "amber", "clear"), Status: pick("", "online")}
	threats := []string{"", "botnet_cc", "payload_delivery", "payload"}
	if typesMayDiffer {
		threats = append(threats, "tor_exit", "compromised_host")
	}
	r.ThreatType = threats[rng.IntN(len(threats))]
	if rng.IntN(2) == 0 {
		r.Malware = pick("win.emotet", "elf.mirai", "win.cobalt_strike")
		r.MalwarePrintable = pick("", "Emotet", "Mirai")
	}
	if rng.IntN(2) == 0 {
		r.Confidence, r.ConfidenceSet = rng.IntN(101), true
	}
	if rng.IntN(2) == 0 {
		r.RecordURL = pick("https://a.example/1", "https://b.example/2")
	}
	for _, tag := range []string{"c2", "Emotet", "emotet", "x", src} {
		if rng.IntN(3) == 0 {
			r.Tags = append(r.Tags, tag)
		}
	}
	if rng.IntN(2) == 0 {
		r.FirstSeen = goldenNow.Add(-time.Duration(rng.IntN(1000)) * time.Hour)
		r.LastSeen = r.FirstSeen.Add(time.Duration(rng.IntN(100)) * time.Hour)
	}
	return r
}

// permutations calls f with every order of 0..n-1.
func permutations(n int, f func([]int)) {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	var rec func(k int)
	rec = func(k int) {
		if k == n {
			f(p)
			return
		}
		for i := k; i < n; i++ {
			p[k], p[i] = p[i], p[k]
			rec(k + 1)
			p[k], p[i] = p[i], p[k]
		}
	}
	rec(0)
}

var genSources = []string{"threatfox", "urlhaus", "soc-blocklist", "feodotracker", "Manual"}

// TestMergeOrderIndependentInRun: versions built in one run (duplicates of
// one IOC, from several sources and repeated sources) merge to the same
// object in every order and grouping, modulo modified: within one instant
// each merge that changes the content bumps it by 1ms, so it counts those
// merges (it is only required to be newer than the stored version's).
func TestMergeOrderIndependentInRun(t *testing.T) {
	t.Parallel()
	now := goldenNow
	for seed := range uint64(150) {
		rng := rand.New(rand.NewPCG(seed, 13))
		n := 2 + rng.IntN(3)
		xs := make([]*stix.Indicator, n)
		for i := range xs {
			xs[i] = mustBuild(t, genRecord(rng, genSources[rng.IntN(len(genSources))], true), now)
		}
		var want string
		check := func(how string, m *stix.Indicator) {
			got := encodeWithout(t, m, "modified")
			if want == "" {
				want = got
				stixtest.Validate(t, m.AppendJSON(nil))
			} else if got != want {
				t.Fatalf("seed %d: %s gives\n%s\nwant\n%s", seed, how, got, want)
			}
		}
		permutations(n, func(p []int) {
			m := xs[p[0]]
			for _, i := range p[1:] {
				m = stix.Merge(m, xs[i], now)
			}
			check(fmt.Sprint("order ", p), m)
		})
		if n >= 3 {
			m := stix.Merge(xs[1], stix.Merge(xs[2], xs[0], now), now)
			for _, x := range xs[3:] {
				m = stix.Merge(x, m, now)
			}
			check("grouped (1 (2 0)) then the rest", m)
		}
	}
}

// TestMergeOrderIndependentAcrossRuns: one source per run reports the IOC
// and ingest merges the stored object with it. Every order of the sources
// ends with the same object, modulo created, modified, valid_from and
// valid_until (they depend on when each run happened); a further run of any
// source with the same record keeps the Fingerprint, so nothing is uploaded
// again. The records' threat types all map to the same indicator type here:
// the stored version's indicator_types stay (Sentinel makes a new object
// when they change), so the first reporter decides them.
func TestMergeOrderIndependentAcrossRuns(t *testing.T) {
	t.Parallel()
	drop := []string{"created", "modified", "valid_from", "valid_until"}
	for seed := range uint64(60) {
		rng := rand.New(rand.NewPCG(seed, 31))
		n := 2 + rng.IntN(3)
		srcs := rand.New(rand.NewPCG(seed, 7)).Perm(len(genSources))[:n]
		recs := make([]ioc.Record, n)
		for i := range recs {
			recs[i] = genRecord(rng, genSources[srcs[i]], false)
		}
		var want string
		permutations(n, func(p []int) {
			run := goldenNow
			m := mustBuild(t, recs[p[0]], run)
			for _, i := range p[1:] {
				run = run.Add(24 * time.Hour)
				m = stix.Merge(stored(t, m), mustBuild(t, recs[i], run), run)
			}
			got := encodeWithout(t, m, drop...)
			if want == "" {
				want = got
				stixtest.Validate(t, m.AppendJSON(nil))
			} else if got != want {
				t.Fatalf("seed %d: order %v gives\n%s\nwant\n%s", seed, p, got, want)
			}
			fp := stix.Fingerprint(m)
			for i := range recs {
				next := run.Add(24 * time.Hour)
				again := stix.Merge(stored(t, m), mustBuild(t, recs[i], next), next)
				if stix.Fingerprint(again) != fp {
					t.Fatalf("seed %d: order %v: a repeated report of %s changes the fingerprint:\n%s\n%s",
						seed, p, recs[i].Source, m.AppendJSON(nil), again.AppendJSON(nil))
				}
			}
		})
	}
}

// TestMergeContextRoundTrip: a merged indicator decoded from its JSON has the
// same contexts, and one whose description was edited elsewhere (so that the
// extension no longer splits it) counts as one context.
func TestMergeContextRoundTrip(t *testing.T) {
	t.Parallel()
	m := stix.Merge(mustBuild(t, threatFoxRecord(), goldenNow), mustBuild(t, listRecord(), goldenNow), goldenNow)
	y := stored(t, m)
	if len(y.Contexts) != 2 {
		t.Fatalf("decoded %d contexts, want 2", len(y.Contexts))
	}
	for i, c := range y.Contexts {
		w := m.Contexts[i]
		if c.Source != w.Source || c.Rank != w.Rank || c.Name != w.Name || c.Description != w.Description {
			t.Errorf("context %d: %+v, want %+v", i, c, w)
		}
	}
	var obj map[string]any
	if err := json.Unmarshal(m.AppendJSON(nil), &obj); err != nil {
		t.Fatal(err)
	}
	obj["description"] = "edited"
	edited, _ := json.Marshal(obj)
	var z stix.Indicator
	if err := json.Unmarshal(edited, &z); err != nil {
		t.Fatal(err)
	}
	if z.Contexts != nil {
		t.Errorf("an edited description still splits into %d contexts", len(z.Contexts))
	}
}

// TestMergeManySourcesFits: many sources with long descriptions, labels and
// references stay within MaxObjectSize, keep the richest contexts, say that
// they were trimmed and still merge the same in any order.
func TestMergeManySourcesFits(t *testing.T) {
	t.Parallel()
	var xs []*stix.Indicator
	for i := range 12 {
		r := ioc.Record{Source: fmt.Sprintf("list-%02d", i), Description: strings.Repeat(fmt.Sprintf("<%d> ", i), 600),
			RecordURL: fmt.Sprintf("https://a.example/%d/%s", i, strings.Repeat("p", 1500)), ID: fmt.Sprint(i)}
		for j := range 10 {
			r.Tags = append(r.Tags, fmt.Sprintf("tag-%d-%d-%s", i, j, strings.Repeat("t", 80)))
		}
		if i%3 == 0 {
			r.Malware, r.ThreatType = "win.emotet", "botnet_cc"
		}
		xs = append(xs, mustBuild(t, r, goldenNow))
	}
	fold := func(order []int) *stix.Indicator {
		m := xs[order[0]]
		for _, i := range order[1:] {
			m = stix.Merge(m, xs[i], goldenNow)
		}
		return m
	}
	fwd := make([]int, len(xs))
	rev := make([]int, len(xs))
	for i := range xs {
		fwd[i], rev[i] = i, len(xs)-1-i
	}
	a, b := fold(fwd), fold(rev)
	data := a.AppendJSON(nil)
	if n := len(mustMarshal(t, a)); n > stix.MaxObjectSize {
		t.Errorf("merged object is %d bytes, max %d", n, stix.MaxObjectSize)
	}
	if a.Labels[len(a.Labels)-1] != stix.TruncatedLabel {
		t.Errorf("labels do not end with %s", stix.TruncatedLabel)
	}
	if !strings.HasPrefix(a.Name, "win.emotet botnet C2") || len(a.Contexts) != 8 || a.Contexts[0].Source != "list-00" {
		t.Errorf("name %q, %d contexts", a.Name, len(a.Contexts))
	}
	if !bytes.Equal(data, b.AppendJSON(nil)) {
		t.Errorf("orders differ:\n%s\n%s", data, b.AppendJSON(nil))
	}
	if y := stored(t, a); len(y.Contexts) != len(a.Contexts) {
		t.Errorf("decoded %d contexts, want %d", len(y.Contexts), len(a.Contexts))
	}
	stixtest.Validate(t, data)
}

func mustMarshal(t testing.TB, x *stix.Indicator) []byte {
	t.Helper()
	b, err := json.Marshal(x)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
