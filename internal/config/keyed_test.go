package config

import (
	"testing"

	"github.com/feeds2sentinel/feeds2sentinel/internal/feed"
)

// TestKeyedFeedsMatchSources keeps keyedFeeds in step with the sources that
// send the abuse.ch Auth-Key.
func TestKeyedFeedsMatchSources(t *testing.T) {
	keyed := 0
	for _, src := range feed.Builtin() {
		if src.AbuseCH {
			keyed++
		}
		if src.AbuseCH != keyedFeeds[src.Name] {
			t.Errorf("feed %s: AbuseCH %v, keyedFeeds %v", src.Name, src.AbuseCH, keyedFeeds[src.Name])
		}
	}
	if keyed != len(keyedFeeds) {
		t.Errorf("keyedFeeds has %d feeds, feed.Builtin %d keyed ones", len(keyedFeeds), keyed)
	}
}
