package ingest_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/feeds2sentinel/feeds2sentinel/internal/ingest"
	"github.com/feeds2sentinel/feeds2sentinel/internal/ioc"
	"github.com/feeds2sentinel/feeds2sentinel/internal/sentinel/sentineltest"
	"github.com/feeds2sentinel/feeds2sentinel/internal/stix"
)

// world is the simulated truth of three feeds over time.
type world struct {
	rng        *rand.Rand
	next       int
	threatfox  map[string]int // domain -> confidence (a recent-additions feed, not complete)
	feodo      map[string]bool
	userList   map[string]bool // a complete user list of domains
	tfFirst    map[string]time.Time
	allowlist  string
	revokedAt  map[string]time.Time // IOC key -> when it left a complete list for good
	fromTF     map[string]bool      // keys ThreatFox also reported (their report keeps them valid)
	everActive map[string]bool
}

func newWorld() *world {
	w := &world{rng: rand.New(rand.NewPCG(1, 2)), threatfox: map[string]int{}, feodo: map[string]bool{},
		userList: map[string]bool{}, tfFirst: map[string]time.Time{}, revokedAt: map[string]time.Time{}, everActive: map[string]bool{}, fromTF: map[string]bool{}}
	for i := 0; i < 150; i++ {
		w.addTF(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	}
	for i := 0; i < 80; i++ {
		w.feodo[w.ip()] = true
	}
	for i := 0; i < 40; i++ {
		w.userList[w.domain()] = true
	}
	return w
}

func (w *world) domain() string { w.next++; return fmt.Sprintf("c2-%d.badhost.top", w.next) }
func (w *world) ip() string {
	w.next++
	return fmt.Sprintf("45.%d.%d.%d", 10+w.next/60000, (w.next/250)%250, 1+w.next%250)
}
func (w *world) addTF(now time.Time) {
	d := w.domain()
	w.threatfox[d] = 50 + 25*w.rng.IntN(3)
	w.tfFirst[d] = now
}

// step applies one hour of churn.
func (w *world) step(now time.Time, hour int) {
	for i := 0; i < 4; i++ {
		w.addTF(now)
	}
	// ThreatFox "recent" drops what is older than two days.
	for d, t := range w.tfFirst {
		if now.Sub(t) > 48*time.Hour {
			delete(w.threatfox, d)
			delete(w.tfFirst, d)
		}
	}
	if hour%6 == 0 { // confidence changes
		for d := range w.threatfox {
			w.threatfox[d] = 100
			break
		}
	}
	// Feodo: churn of two IPs an hour.
	n := 0
	for ip := range w.feodo {
		delete(w.feodo, ip)
		w.revokedAt["ipv4:"+ip] = now
		if n++; n == 2 {
			break
		}
	}
	w.feodo[w.ip()] = true
	w.feodo[w.ip()] = true
	// An IOC moves from ThreatFox to the user list.
	if hour%12 == 0 {
		for d := range w.threatfox {
			delete(w.threatfox, d)
			delete(w.tfFirst, d)
			w.userList[d] = true
			w.fromTF["domain:"+d] = true
			break
		}
	}
	if hour%8 == 0 {
		for d := range w.userList {
			delete(w.userList, d)
			w.revokedAt["domain:"+d] = now
			break
		}
		w.userList[w.domain()] = true
	}
	if hour == 72 { // day 3: an active Feodo IP becomes allowlisted
		for ip := range w.feodo {
			w.allowlist = ip
			break
		}
	}
}

func (w *world) payloads(now time.Time) (tf, fe, ul []byte) {
	var recs []string
	for d, c := range w.threatfox {
		id := strings.TrimSuffix(strings.TrimPrefix(d, "c2-"), ".badhost.top") // stable record id
		first := w.tfFirst[d].Format("2006-01-02 15:04:05") + " UTC"
		recs = append(recs, fmt.Sprintf(`{"id":%q,"ioc":%q,"threat_type":"botnet_cc","ioc_type":"domain","malware":"win.qakbot","malware_printable":"QakBot","malware_alias":null,"malware_malpedia":null,"confidence_level":%d,"first_seen":%q,"last_seen":null,"reference":null,"reporter":"sim","tags":["sim"]}`, id, d, c, first))
	}
	tf = []byte(`{"query_status":"ok","data":[` + strings.Join(recs, ",") + `]}`)
	var ips []string
	for ip := range w.feodo {
		ips = append(ips, ip)
	}
	fe = feodo(ips...)
	var b strings.Builder
	for d := range w.userList {
		b.WriteString(d + "\n")
	}
	return tf, fe, []byte(b.String())
}

// reported is every IOC key some feed reports now (minus the allowlisted).
func (w *world) reported() map[string]bool {
	m := map[string]bool{}
	for d := range w.threatfox {
		m["domain:"+d] = true
	}
	for d := range w.userList {
		m["domain:"+d] = true
	}
	for ip := range w.feodo {
		if ip != w.allowlist {
			m["ipv4:"+ip] = true
		}
	}
	return m
}

func keyID(key string) string {
	typ, val, _ := strings.Cut(key, ":")
	return stix.IndicatorID(ioc.Observable{Type: ioc.Type(typ), Value: val}, 0)
}

// TestSimulationSevenDays drives seven days of hourly snapshots of three
// churning feeds through the pipeline into the fake Sentinel.
func TestSimulationSevenDays(t *testing.T) {
	if testing.Short() {
		t.Skip("simulation skipped in -short mode")
	}
	h := newHarness(t, sentineltest.ServerOptions{})
	tf := h.spec("threatfox", "/tf")
	fe := h.spec("feodotracker", "/feodo")
	ul := h.userList("sim-list", "/list", true)
	w := newWorld()
	const hours = 7 * 24
	var tot ingest.Counts
	for hour := 0; hour < hours; hour++ {
		now := h.clock.Now()
		if hour > 0 {
			w.step(now, hour)
		}
		if w.allowlist != "" {
			al, _ := ioc.ParseAllowlist(w.allowlist)
			h.p.Policy = &ioc.Policy{Extra: al}
		}
		a, b, c := w.payloads(now)
		h.feeds.set("/tf", a)
		h.feeds.set("/feodo", b)
		h.feeds.set("/list", c)
		for _, spec := range []ingest.FeedSpec{tf, fe, ul} {
			c := h.run(spec).Counts
			tot.New += c.New
			tot.Changed += c.Changed
			tot.Refreshed += c.Refreshed
			tot.Revoked += c.Revoked
			tot.Unchanged += c.Unchanged
		}
		h.drain()

		active := h.active()
		for key := range w.reported() {
			if !active[keyID(key)] {
				t.Fatalf("hour %d: %s is reported by a feed but not active in Sentinel", hour, key)
			}
		}
		grace := 48 * time.Hour
		rep := w.reported()
		for key, at := range w.revokedAt {
			// An IOC another (not complete) source reported stays valid
			// until that report expires: only sole-source IOCs are revoked.
			if rep[key] || w.fromTF[key] || now.Sub(at) < grace+time.Hour {
				continue
			}
			if active[keyID(key)] {
				t.Fatalf("hour %d: %s left its complete list at %s and is still active", hour, key, at.Format(time.RFC3339))
			}
		}
		if w.allowlist != "" && hour > 73 && active[keyID("ipv4:"+w.allowlist)] {
			t.Fatalf("hour %d: allowlisted %s still active", hour, w.allowlist)
		}
		h.clock.Advance(time.Hour)
	}
	// Uploads per unique indicator per day.
	uploads, unique := 0, 0
	for name, raw := range h.sentinel.Objects() {
		var v struct {
			Type string `json:"type"`
			ID   string `json:"id"`
		}
		_ = json.Unmarshal(raw, &v)
		if v.Type != "indicator" {
			continue
		}
		_ = name
		unique++
		uploads += h.sentinel.Uploads(v.ID)
	}
	perDay := float64(uploads) / float64(unique) / 7
	t.Logf("simulation: new %d, changed %d, refreshed %d, revoked %d, unchanged-skipped %d", tot.New, tot.Changed, tot.Refreshed, tot.Revoked, tot.Unchanged)
	t.Logf("simulation: %d unique indicators, %d uploads over 7 days: %.3f uploads per unique indicator per day (goal ≤ 1.2; hourly re-upload would be 24)", unique, uploads, perDay)
	if perDay > 1.2 {
		t.Errorf("uploads per unique indicator per day = %.3f, goal ≤ 1.2", perDay)
	}
	h.validateAll()
}
