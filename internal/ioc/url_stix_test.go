package ioc_test

import (
	"bufio"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/feeds2sentinel/feeds2sentinel/internal/ioc"
	"github.com/feeds2sentinel/feeds2sentinel/internal/stix"
	"github.com/feeds2sentinel/feeds2sentinel/internal/stix/stixtest"
)

// TestFeedURLsToValidSTIX takes URLs from real feeds, and the same URLs as
// a browser or an analyst writes them (spaces, non-ASCII, backslashes),
// through ioc.Normalize and stix.NewIndicator, and checks each indicator
// against the OASIS STIX 2.1 schema and the pattern rules (stixtest), that
// its pattern compares the canonical URL, and that the written forms of one
// URL become one indicator (same id) with the form the feed logs.
func TestFeedURLsToValidSTIX(t *testing.T) {
	f, err := os.Open("testdata/urls/feed_urls.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	opts := &stix.Options{Now: func() time.Time { return time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC) }}
	idOf := map[string]string{} // canonical URL -> indicator id
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Split(line, "\t")
		if len(fields) != 4 {
			t.Fatalf("bad line %q: want source, fidelity, raw, canonical", line)
		}
		src, raw, want := fields[0], fields[2], fields[3]
		n++
		o, err := ioc.Normalize(raw, ioc.TypeURL)
		if err != nil || o.Value != want {
			t.Errorf("Normalize(%q) = %q, %v; want %q", raw, o.Value, err, want)
			continue
		}
		x, err := stix.NewIndicator(o, &ioc.Record{Source: src, ThreatType: "malware_download"}, opts)
		if err != nil {
			t.Errorf("NewIndicator(%q): %v", o.Value, err)
			continue
		}
		stixtest.Validate(t, x.AppendJSON(nil))
		c, err := stix.ParsePattern(x.Pattern)
		if err != nil {
			t.Errorf("pattern %s: %v", x.Pattern, err)
			continue
		}
		if typ, v, err := stix.ObservableFromComparison(c); err != nil || typ != ioc.TypeURL || v != want {
			t.Errorf("pattern %s compares %s %q, %v; want url %q", x.Pattern, typ, v, err, want)
		}
		if id, ok := idOf[want]; ok && id != x.ID {
			t.Errorf("%q: id %s, but another form of %q has id %s", raw, x.ID, want, id)
		}
		idOf[want] = x.ID
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if n < 20 {
		t.Errorf("%d cases, want at least 20", n)
	}
}
