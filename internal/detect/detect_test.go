package detect_test

import (
	"slices"
	"testing"

	"github.com/feeds2sentinel/feeds2sentinel/internal/config"
	"github.com/feeds2sentinel/feeds2sentinel/internal/detect"
	"github.com/feeds2sentinel/feeds2sentinel/internal/ioc"
)

// TestEveryTypeHasARule is the coverage test of the Go side: every type the
// code can emit has a rule that claims it (infra/detect_test.go checks the
// rule's KQL really selects it).
func TestEveryTypeHasARule(t *testing.T) {
	for _, typ := range ioc.PossibleTypeValues() {
		if len(detect.RulesFor(typ)) == 0 {
			t.Errorf("no shipped rule can match %s indicators", typ)
		}
	}
	keys := map[string]bool{}
	for _, r := range detect.Rules() {
		if keys[r.Key] {
			t.Errorf("duplicate rule key %s", r.Key)
		}
		keys[r.Key] = true
		if r.Title == "" || r.Data == "" || r.Param == "" || len(r.Types) == 0 {
			t.Errorf("rule %s is incomplete: %+v", r.Key, r)
		}
		for _, typ := range r.Types {
			if !slices.Contains(ioc.PossibleTypeValues(), typ) {
				t.Errorf("rule %s claims unknown type %q", r.Key, typ)
			}
		}
	}
}

func TestFeedTypes(t *testing.T) {
	for _, name := range config.BuiltinFeedNames() {
		types, ok := detect.FeedTypes(name)
		if !ok || len(types) == 0 {
			t.Errorf("built-in feed %s has no types in detect.FeedTypes", name)
		}
		if len(detect.FeedRules(name)) == 0 {
			t.Errorf("no rule can match the indicators of %s", name)
		}
	}
	if _, ok := detect.FeedTypes("my-list"); ok {
		t.Error("a user list is reported as built in")
	}
	if got, want := len(detect.FeedRules("my-list")), len(detect.Rules()); got != want {
		t.Errorf("user list: %d rules, want all %d", got, want)
	}
	for _, tc := range []struct {
		feed string
		want []string
	}{
		{"sslbl", []string{"ti-x509-corelight"}},
		{"spamhaus-drop", []string{"ti-ip", "ti-cidr"}},
		{"openphish", []string{"ti-url"}},
		{"malwarebazaar", []string{"ti-filehash"}},
	} {
		if got := detect.FeedRules(tc.feed); !slices.Equal(got, tc.want) {
			t.Errorf("FeedRules(%s) = %v, want %v", tc.feed, got, tc.want)
		}
	}
}
