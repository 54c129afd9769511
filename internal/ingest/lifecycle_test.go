package ingest_test

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/feeds2sentinel/feeds2sentinel/internal/feed"
	"github.com/feeds2sentinel/feeds2sentinel/internal/ingest"
	"github.com/feeds2sentinel/feeds2sentinel/internal/ioc"
	"github.com/feeds2sentinel/feeds2sentinel/internal/sentinel/sentineltest"
	"github.com/feeds2sentinel/feeds2sentinel/internal/stix"
)

// feodo builds a Feodo Tracker ipblocklist.json with the given IPs.
func feodo(ips ...string) []byte {
	var b strings.Builder
	b.WriteString("[")
	for i, ip := range ips {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"ip_address":%q,"port":443,"status":"online","hostname":null,"as_number":16276,"as_name":"OVH","country":"FR","first_seen":"2026-10-30 07:44:46","last_online":"2026-11-01","malware":"QakBot"}`, ip)
	}
	b.WriteString("]")
	return []byte(b.String())
}

func ipID(ip string) string {
	return stix.IndicatorID(ioc.Observable{Type: ioc.TypeIPv4, Value: ip}, 0)
}

func TestLifecycleNewUnchangedRefreshRevoke(t *testing.T) {
	h := newHarness(t, sentineltest.ServerOptions{})
	spec := h.spec("feodotracker", "/feodo.json")
	h.feeds.set("/feodo.json", feodo("51.178.161.32", "142.44.247.57", "37.187.115.122", "10.1.2.3"))

	rep := h.run(spec)
	if rep.Counts.New != 3 || rep.Counts.Rejected["reserved_address"] != 1 || rep.Counts.Enqueued != 3 {
		t.Fatalf("first run counts = %+v", rep.Counts)
	}
	h.drain()
	act := h.active()
	for _, ip := range []string{"51.178.161.32", "142.44.247.57", "37.187.115.122"} {
		if !act[ipID(ip)] {
			t.Errorf("%s not active in Sentinel", ip)
		}
	}
	h.validateAll()

	// An hour later, same list: nothing is uploaded.
	h.clock.Advance(time.Hour)
	rep = h.run(spec)
	if rep.Counts.Unchanged != 3 || rep.Counts.Enqueued != 0 {
		t.Fatalf("unchanged run counts = %+v", rep.Counts)
	}
	h.drain()
	if n := h.sentinel.Uploads(ipID("51.178.161.32")); n != 1 {
		t.Errorf("uploads after unchanged run = %d, want 1", n)
	}

	// After the refresh interval it is re-uploaded, still active.
	h.clock.Advance(7 * 24 * time.Hour)
	rep = h.run(spec)
	if rep.Counts.Refreshed != 3 {
		t.Fatalf("refresh run counts = %+v", rep.Counts)
	}
	h.drain()
	if n := h.sentinel.Uploads(ipID("51.178.161.32")); n != 2 {
		t.Errorf("uploads after refresh = %d, want 2", n)
	}

	// One IP leaves the complete list: kept during the grace period, then revoked.
	h.feeds.set("/feodo.json", feodo("51.178.161.32", "142.44.247.57"))
	h.clock.Advance(time.Hour)
	rep = h.run(spec)
	if rep.Counts.Revoked != 0 {
		t.Fatalf("revoked inside the grace period: %+v", rep.Counts)
	}
	h.clock.Advance(49 * time.Hour)
	rep = h.run(spec)
	if rep.Counts.Revoked != 1 {
		t.Fatalf("want 1 revoked after the grace period: %+v", rep.Counts)
	}
	h.drain()
	if h.active()[ipID("37.187.115.122")] {
		t.Error("delisted IP still active in Sentinel after revocation")
	}

	// It comes back: a new id (revision 1), never the revoked one.
	h.feeds.set("/feodo.json", feodo("51.178.161.32", "142.44.247.57", "37.187.115.122"))
	h.clock.Advance(time.Hour)
	rep = h.run(spec)
	if rep.Counts.New != 1 {
		t.Fatalf("returning IOC counts = %+v", rep.Counts)
	}
	h.drain()
	rev1 := stix.IndicatorID(ioc.Observable{Type: ioc.TypeIPv4, Value: "37.187.115.122"}, 1)
	if act := h.active(); !act[rev1] || act[ipID("37.187.115.122")] {
		t.Errorf("returning IOC: revision 1 active=%v, revoked id active=%v", act[rev1], act[ipID("37.187.115.122")])
	}

	// An active indicator becomes allowlisted: revoked.
	al, err := ioc.ParseAllowlist("142.44.247.57")
	if err != nil {
		t.Fatal(err)
	}
	h.p.Policy = &ioc.Policy{Extra: al}
	h.clock.Advance(time.Hour)
	rep = h.run(spec)
	if rep.Counts.Revoked != 1 || rep.Counts.Rejected["allowlisted"] != 1 {
		t.Fatalf("allowlisting counts = %+v", rep.Counts)
	}
	h.drain()
	if h.active()[ipID("142.44.247.57")] {
		t.Error("allowlisted IP still active")
	}
	h.validateAll()
}

func TestCrossFeedMerge(t *testing.T) {
	h := newHarness(t, sentineltest.ServerOptions{})
	h.feeds.set("/a.txt", []byte("# list a\n203.0.114.7\nmalicious-site.top\n"))
	h.feeds.set("/b.txt", []byte("; list b\nmalicious-site.top\n"))
	a, b := h.userList("list-a", "/a.txt", false), h.userList("list-b", "/b.txt", false)
	a.Config.Labels, b.Config.Labels = []string{"from-a"}, []string{"from-b"}
	if rep := h.run(a); rep.Counts.New != 2 {
		t.Fatalf("list a: %+v", rep.Counts)
	}
	h.clock.Advance(time.Minute)
	if rep := h.run(b); rep.Counts.Changed != 1 {
		t.Fatalf("list b should change the shared indicator: %+v", rep.Counts)
	}
	h.drain()
	id := stix.IndicatorID(ioc.Observable{Type: ioc.TypeDomain, Value: "malicious-site.top"}, 0)
	raw, ok := h.sentinel.Object("feeds2sentinel-test", id)
	if !ok {
		t.Fatal("merged indicator not in Sentinel")
	}
	for _, want := range []string{"from-a", "from-b", "list-a", "list-b"} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("merged indicator lacks %q: %s", want, raw)
		}
	}
	h.validateAll()
}

func TestMassRevocationHeld(t *testing.T) {
	h := newHarness(t, sentineltest.ServerOptions{})
	spec := h.spec("feodotracker", "/feodo.json")
	var ips []string
	for i := 1; i <= 40; i++ {
		ips = append(ips, fmt.Sprintf("51.178.161.%d", i))
	}
	h.feeds.set("/feodo.json", feodo(ips...))
	h.run(spec)
	h.drain()
	// The list suddenly holds 3 of 40: held, nothing revoked.
	h.feeds.set("/feodo.json", feodo(ips[:3]...))
	h.clock.Advance(50 * time.Hour)
	rep := h.run(spec)
	if rep.Counts.Revoked != 0 || rep.Counts.RevocationsHeld != 37 {
		t.Fatalf("counts = %+v, want 37 revocations held", rep.Counts)
	}
	h.drain()
	if n := len(h.active()); n != 40 {
		t.Errorf("active = %d, want 40", n)
	}
	// A normal clean-up (a few of many) goes ahead.
	h.feeds.set("/feodo.json", feodo(ips[:35]...))
	h.clock.Advance(time.Hour)
	if rep := h.run(spec); rep.Counts.Revoked != 5 {
		t.Fatalf("counts = %+v, want 5 revoked", rep.Counts)
	}
}

// TestZippedFullDump runs the ThreatFox full export (a ZIP holding
// full.csv) through fetch, unzip, parse and the pipeline.
func TestZippedFullDump(t *testing.T) {
	h := newHarness(t, sentineltest.ServerOptions{})
	now := h.clock.Now().Format("2006-01-02 15:04:05")
	csv := "# ThreatFox IOCs: additions - CSV format (full dump)\r\n#\r\n" +
		`# "first_seen_utc","ioc_id","ioc_value","ioc_type","threat_type","fk_malware","malware_alias","malware_printable","last_seen_utc","confidence_level","is_compromised","reference","tags","anonymous","reporter"` + "\r\n" +
		`"` + now + `", "1844853", "64.227.143.36:5555", "ip:port", "botnet_cc", "win.cobalt_strike", "Agentemis,BEACON", "Cobalt Strike", "", "75", "False", "None", "CobaltStrike", "0", "abuse_ch"` + "\r\n" +
		`"` + now + `", "1844855", "dazayse.hi-lo.bet", "domain", "payload_delivery", "js.clearfake", "None", "ClearFake", "", "100", "False", "None", "ClearFake", "1", "anonymous"` + "\r\n" +
		"# Number of entries: 2\r\n"
	var zbuf bytes.Buffer
	zw := zip.NewWriter(&zbuf)
	f, _ := zw.Create("full.csv")
	f.Write([]byte(csv))
	zw.Close()
	h.feeds.set("/export/csv/full/", zbuf.Bytes())
	rep := h.run(h.spec("threatfox-csv", "/export/csv/full/"))
	if rep.Counts.New != 2 || rep.Counts.RejectedTotal() != 0 {
		t.Fatalf("counts = %+v", rep.Counts)
	}
	h.drain()
	if !h.active()[ipID("64.227.143.36")] {
		t.Error("ip:port from the zipped dump not in Sentinel")
	}
	h.validateAll()
}

// TestSweepOtherSourceExpired: an IOC a complete list delists is revoked
// when another source's report of it has run out, even though the complete
// list itself had kept extending the indicator's validity.
func TestSweepOtherSourceExpired(t *testing.T) {
	h := newHarness(t, sentineltest.ServerOptions{})
	h.feeds.set("/b.txt", []byte("45.9.9.9\n"))
	b := h.userList("list-b", "/b.txt", false)
	h.run(b) // list-b reports it once
	h.feeds.set("/b.txt", []byte("# empty now\n"))
	a := h.userList("list-a", "/a.txt", true)
	// The complete list keeps listing it for 20 days (refreshing it).
	for day := 0; day < 20; day++ {
		h.feeds.set("/a.txt", []byte("45.9.9.9\n45.9.9.10\n"))
		h.run(a)
		h.drain()
		h.clock.Advance(24 * time.Hour)
	}
	// Then delists it; list-b's report (14-day IP lifetime) is long over.
	h.feeds.set("/a.txt", []byte("45.9.9.10\n"))
	h.run(a)
	h.clock.Advance(49 * time.Hour)
	if rep := h.run(a); rep.Counts.Revoked != 1 {
		t.Fatalf("counts = %+v, want the delisted IOC revoked", rep.Counts)
	}
	h.drain()
	if h.active()[ipID("45.9.9.9")] {
		t.Error("delisted IOC still active")
	}
}

// TestBadPayloadEnqueuesNothing: an HTML error page (or a truncated dump)
// fails the run with a message saying what was expected; nothing of it is
// enqueued or remembered, and the next good payload is processed normally.
func TestBadPayloadEnqueuesNothing(t *testing.T) {
	h := newHarness(t, sentineltest.ServerOptions{})
	spec := h.spec("feodotracker", "/feodo.json")
	good := feodo("51.178.161.32", "142.44.247.57")
	for _, bad := range [][]byte{
		[]byte("<html><head><title>502 Bad Gateway</title></head><body>cloudflare</body></html>"),
		good[:len(good)/2], // truncated
	} {
		h.feeds.set("/feodo.json", bad)
		rep, err := h.p.RunFeed(context.Background(), spec)
		if !errors.Is(err, feed.ErrBadPayload) || rep.Outcome != ingest.OutcomeFailed || rep.Counts.Enqueued != 0 {
			t.Fatalf("bad payload: err %v, report %+v", err, rep)
		}
		if !strings.Contains(err.Error(), "expected") || !strings.Contains(err.Error(), "nothing of it is enqueued") {
			t.Errorf("message %q should say what was expected and that nothing was enqueued", err)
		}
		if ready, _, _, _ := h.spool.Counts(); ready != 0 {
			t.Fatalf("%d batches enqueued from a bad payload", ready)
		}
	}
	h.feeds.set("/feodo.json", good)
	if rep := h.run(spec); rep.Counts.New != 2 {
		t.Fatalf("good payload after bad ones: %+v", rep.Counts)
	}
}

// TestHandOffDropsContext: a complete list that stops listing an IOC
// another source still reports hands it off after the grace period: the
// IOC stays active, and Sentinel's object no longer carries what is
// attributable to the dropped list: its name label, its external reference
// and its part of the description (a label its settings added stays: it
// cannot be told apart).
func TestHandOffDropsContext(t *testing.T) {
	h := newHarness(t, sentineltest.ServerOptions{})
	h.feeds.set("/a.txt", []byte("malicious-site.top\nother-site.top\n"))
	h.feeds.set("/b.txt", []byte("malicious-site.top\n"))
	a, b := h.userList("list-a", "/a.txt", true), h.userList("list-b", "/b.txt", false)
	a.Config.Labels, b.Config.Labels = []string{"from-a"}, []string{"from-b"}
	h.run(a)
	h.clock.Advance(time.Minute)
	h.run(b)
	h.drain()
	id := stix.IndicatorID(ioc.Observable{Type: ioc.TypeDomain, Value: "malicious-site.top"}, 0)
	if raw, _ := h.sentinel.Object("feeds2sentinel-test", id); !strings.Contains(string(raw), "from-a") {
		t.Fatalf("merged indicator lacks list a's label: %s", raw)
	}
	// List a drops the IOC; list b keeps reporting it, past the grace period.
	h.feeds.set("/a.txt", []byte("other-site.top\n"))
	for range 3 {
		h.clock.Advance(24 * time.Hour)
		h.run(b)
		h.run(a)
	}
	h.drain()
	raw, ok := h.sentinel.Object("feeds2sentinel-test", id)
	if !ok || strings.Contains(string(raw), `"list-a"`) || strings.Contains(string(raw), "Source: list-a") || strings.Contains(string(raw), `"revoked":true`) || !strings.Contains(string(raw), "from-b") {
		t.Errorf("after the hand-off: %s", raw)
	}
	h.validateAll()
}
