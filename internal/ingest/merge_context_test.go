package ingest_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/feeds2sentinel/feeds2sentinel/internal/ingest"
	"github.com/feeds2sentinel/feeds2sentinel/internal/ioc"
	"github.com/feeds2sentinel/feeds2sentinel/internal/sentinel/sentineltest"
	"github.com/feeds2sentinel/feeds2sentinel/internal/stix"
)

// TestCrossFeedMergeKeepsContext (issue 13): a domain reported by ThreatFox
// (family, threat type, reporter) and by a plain user list is named after
// ThreatFox's context and lists both sources' details, whichever feed runs
// first; both orders upload the same object apart from its times, and later
// runs of either feed upload nothing.
func TestCrossFeedMergeKeepsContext(t *testing.T) {
	const domain = "shared-c2.example.top"
	id := stix.IndicatorID(ioc.Observable{Type: ioc.TypeDomain, Value: domain}, 0)
	var objects []map[string]any
	for _, threatFoxFirst := range []bool{true, false} {
		h := newHarness(t, sentineltest.ServerOptions{})
		day := h.clock.Now().Format("2006-01-02 15:04:05")
		h.feeds.set("/tf", []byte(`{"query_status":"ok","data":[{"id":"77","ioc":"`+domain+`","threat_type":"botnet_cc",`+
			`"ioc_type":"domain","malware":"win.cobalt_strike","malware_printable":"Cobalt Strike","confidence_level":75,`+
			`"first_seen":"`+day+` UTC","last_seen":null,"reporter":"abuse_ch","tags":["c2"]}]}`))
		h.feeds.set("/list.txt", []byte("# SOC list\n"+domain+"\n"))
		tf, list := h.spec("threatfox", "/tf"), h.userList("soc-list", "/list.txt", false)
		order := []ingest.FeedSpec{tf, list}
		if !threatFoxFirst {
			order[0], order[1] = order[1], order[0]
		}
		for _, spec := range order {
			h.run(spec)
			h.clock.Advance(time.Minute)
		}
		h.drain()
		raw, ok := h.sentinel.Object("feeds2sentinel-test", id)
		if !ok {
			t.Fatal("merged indicator not in Sentinel")
		}
		var obj map[string]any
		if err := json.Unmarshal(raw, &obj); err != nil {
			t.Fatal(err)
		}
		if name := obj["name"]; name != "Cobalt Strike botnet C2 domain "+domain {
			t.Errorf("threatfox first %v: name %q", threatFoxFirst, name)
		}
		desc, _ := obj["description"].(string)
		for _, part := range []string{"Malware: Cobalt Strike (win.cobalt_strike).", "Threat type: botnet_cc.",
			"Reporter: abuse_ch.", "Source: threatfox.", "Source: soc-list."} {
			if !strings.Contains(desc, part) {
				t.Errorf("threatfox first %v: description %q lacks %q", threatFoxFirst, desc, part)
			}
		}
		// Later runs of both feeds: unchanged, nothing uploaded.
		for _, spec := range order {
			h.clock.Advance(time.Hour)
			if c := h.run(spec).Counts; c.Unchanged != 1 || c.Enqueued != 0 {
				t.Errorf("threatfox first %v: re-run of %s: %+v, want unchanged", threatFoxFirst, spec.Config.Name, c)
			}
		}
		h.validateAll()
		for _, k := range []string{"created", "modified", "valid_from", "valid_until"} {
			delete(obj, k)
		}
		objects = append(objects, obj)
	}
	a, _ := json.Marshal(objects[0])
	b, _ := json.Marshal(objects[1])
	if string(a) != string(b) {
		t.Errorf("the feed order changes the object:\n%s\n%s", a, b)
	}
}
