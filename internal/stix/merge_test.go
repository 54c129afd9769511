package stix

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/feeds2sentinel/feeds2sentinel/internal/ioc"
)

func build(t *testing.T, r *ioc.Record, now time.Time) *Indicator {
	t.Helper()
	x, err := NewIndicator(ioc.Observable{Type: ioc.TypeIPv4, Value: "198.51.100.7", Port: 443}, r,
		&Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func TestMerge(t *testing.T) {
	t.Parallel()
	t1 := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	t2 := t1.Add(48 * time.Hour)
	t3 := t2.Add(48 * time.Hour)
	old := build(t, &ioc.Record{Source: "threatfox", ID: "1", ThreatType: "botnet_cc", Confidence: 80, ConfidenceSet: true,
		FirstSeen: t1, LastSeen: t1, Tags: []string{"c2", "Emotet"}, TLP: "green"}, t1)
	cur := build(t, &ioc.Record{Source: "feodotracker", ID: "9", ThreatType: "payload_delivery", Confidence: 60, ConfidenceSet: true,
		FirstSeen: t2, LastSeen: t2, Tags: []string{"emotet", "epoch4"}, TLP: "amber"}, t2)
	oldCopy, curCopy := *old, *cur
	oldCopy.Labels, curCopy.Labels = slices.Clone(old.Labels), slices.Clone(cur.Labels)

	m := Merge(old, cur, t3)

	if !reflect.DeepEqual(old.Labels, oldCopy.Labels) || !reflect.DeepEqual(cur.Labels, curCopy.Labels) {
		t.Error("Merge modified its arguments")
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"id", m.ID, old.ID},
		{"created", m.Created, old.Created},
		{"modified", m.Modified, t3},
		// Both name a threat type only: the tie goes to the first source name.
		{"created_by_ref", m.CreatedByRef, IdentityID("feodotracker")},
		{"sources", m.Sources, []string{"feodotracker", "threatfox"}},
		{"labels", m.Labels, []string{"botnet_cc", "c2", "Emotet", "epoch4", "feodotracker", "payload_delivery", "port:443", "threatfox"}},
		{"confidence", m.Confidence, 80},
		{"valid_from", m.ValidFrom, t1},
		{"valid_until", m.ValidUntil, t2.Add(14 * 24 * time.Hour)},
		{"indicator_types", m.IndicatorTypes, old.IndicatorTypes},
		{"kill_chain", m.KillChainPhases, []KillChainPhase{{LockheedMartinKillChain, "command-and-control"}, {LockheedMartinKillChain, "delivery"}}},
		{"markings", m.ObjectMarkingRefs, []string{TLPAmber}},
		{"external refs", len(m.ExternalReferences), 2},
		{"name", m.Name, cur.Name},
		{"description", m.Description, cur.Description + "\n" + old.Description},
		{"revoked", m.Revoked, false},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}

	// Same content again: modified stays.
	again := Merge(m, cur, t3.Add(time.Hour))
	if !again.Modified.Equal(m.Modified) {
		t.Errorf("unchanged merge bumped modified: %v -> %v", m.Modified, again.Modified)
	}
	if Fingerprint(again) != Fingerprint(m) {
		t.Error("unchanged merge changed the fingerprint")
	}

	// Never un-revoke; a revoked cur revokes.
	rev := *m
	Revoke(&rev, t3.Add(time.Hour))
	if un := Merge(&rev, cur, t3.Add(2*time.Hour)); !un.Revoked {
		t.Error("Merge un-revoked an indicator")
	}
	revCur := *cur
	revCur.Revoked = true
	if r := Merge(m, &revCur, t3.Add(2*time.Hour)); !r.Revoked || !r.Modified.Equal(t3.Add(2*time.Hour)) {
		t.Errorf("revoked cur: revoked %v modified %v", r.Revoked, r.Modified)
	}

	// A clock behind old.Modified still yields a newer modified.
	if late := Merge(m, &revCur, t1); !late.Modified.After(m.Modified) {
		t.Errorf("modified %v not after %v", late.Modified, m.Modified)
	}
}

func TestMergeValidityOnlyBumpsModified(t *testing.T) {
	t.Parallel()
	t1 := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	old := build(t, &ioc.Record{Source: "s", LastSeen: t1}, t1)
	cur := build(t, &ioc.Record{Source: "s", LastSeen: t1.Add(24 * time.Hour)}, t1.Add(24*time.Hour))
	m := Merge(old, cur, t1.Add(25*time.Hour))
	if Fingerprint(m) != Fingerprint(old) {
		t.Error("fingerprint changed though only validity did")
	}
	if !m.Modified.Equal(t1.Add(25*time.Hour)) || !m.ValidUntil.Equal(cur.ValidUntil) {
		t.Errorf("validity change: modified %v valid_until %v", m.Modified, m.ValidUntil)
	}
}

func TestFingerprint(t *testing.T) {
	t.Parallel()
	t1 := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	base := build(t, &ioc.Record{Source: "s", ID: "1", Tags: []string{"a", "b"}, ThreatType: "payload"}, t1)
	fp := Fingerprint(base)
	if len(fp) != 16 {
		t.Errorf("fingerprint %q is not 16 hex digits", fp)
	}
	same := []func(x *Indicator){
		func(x *Indicator) { x.Created, x.Modified = t1.Add(time.Hour), t1.Add(2*time.Hour) },
		func(x *Indicator) { x.ValidFrom, x.ValidUntil = t1.Add(-time.Hour), t1.Add(time.Hour) },
		func(x *Indicator) { x.ID = "indicator--other" },
		func(x *Indicator) { slices.Reverse(x.Labels) },
		func(x *Indicator) { x.Labels[0] = strings.ToUpper(x.Labels[0]) },
		func(x *Indicator) { x.Observable.Port = 1 },
	}
	diff := []func(x *Indicator){
		func(x *Indicator) { x.Confidence++ },
		func(x *Indicator) { x.Labels = append(x.Labels, "new") },
		func(x *Indicator) { x.Sources = append(x.Sources, "other") },
		func(x *Indicator) { x.ExternalReferences[0].URL = "https://a.example/" },
		func(x *Indicator) { x.IndicatorTypes = []string{"anonymization"} },
		func(x *Indicator) { x.KillChainPhases = nil },
		func(x *Indicator) { x.ObjectMarkingRefs = []string{TLPRed} },
		func(x *Indicator) { x.Name += "!" },
		func(x *Indicator) { x.Description = "d" },
		func(x *Indicator) { x.Revoked = true },
		func(x *Indicator) { x.Pattern = "[ipv4-addr:value = '1.1.1.1']" },
	}
	clone := func() *Indicator {
		c := *base
		c.Labels = slices.Clone(base.Labels)
		c.Sources = slices.Clone(base.Sources)
		c.ExternalReferences = slices.Clone(base.ExternalReferences)
		return &c
	}
	for i, f := range same {
		c := clone()
		f(c)
		if got := Fingerprint(c); got != fp {
			t.Errorf("same[%d]: fingerprint changed", i)
		}
	}
	for i, f := range diff {
		c := clone()
		f(c)
		if got := Fingerprint(c); got == fp {
			t.Errorf("diff[%d]: fingerprint unchanged", i)
		}
	}
	if Fingerprint(build(t, &ioc.Record{Source: "s", ID: "1", Tags: []string{"a", "b"}, ThreatType: "payload"}, t1.Add(time.Hour))) != fp {
		t.Error("fingerprint differs between runs")
	}
}

func TestRevoke(t *testing.T) {
	t.Parallel()
	t1 := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	x := build(t, nil, t1)
	Revoke(x, t1.Add(time.Hour))
	if !x.Revoked || !x.Modified.Equal(t1.Add(time.Hour)) {
		t.Errorf("Revoke: revoked %v modified %v", x.Revoked, x.Modified)
	}
	Revoke(x, t1) // clock behind
	if !x.Modified.Equal(t1.Add(time.Hour + time.Millisecond)) {
		t.Errorf("Revoke with an old clock: modified %v", x.Modified)
	}
}
