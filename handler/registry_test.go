package main

import (
	"strings"
	"testing"
	"time"

	"github.com/feeds2sentinel/feeds2sentinel/internal/config"
	"github.com/feeds2sentinel/feeds2sentinel/internal/feed"
)

// TestFeedsListsRegisteredSource: `handler feeds` lists a source added to
// the registry, with its timer function and documentation.
func TestFeedsListsRegisteredSource(t *testing.T) {
	extra := feed.Source{Name: "example-list", Function: "FeedExampleList", Schedule: "0 7 */2 * * *", Enabled: true,
		DefaultURL: "https://example.org/list.txt", Method: "GET", MinInterval: time.Hour, MaxBytes: 8 << 20,
		Parse: feed.Builtin()[0].Parse, Docs: "An example list of bad things."}
	cfg, err := config.LoadSources(map[string]string{}, config.ModeLocal, append(feed.Builtin(), extra))
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := printFeeds(&out, cfg); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"example-list", "FeedExampleList", "0 7 */2 * * *", "example-list: An example list of bad things."} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("feeds output lacks %q:\n%s", want, out.String())
		}
	}
}
