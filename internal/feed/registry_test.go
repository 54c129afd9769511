package feed

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestRegistryDeclarations: every registered source declares what the
// rest of the app derives from it.
func TestRegistryDeclarations(t *testing.T) {
	cron := regexp.MustCompile(`^\S+( \S+){5}$`)
	functions := map[string]bool{}
	for _, s := range Builtin() {
		switch {
		case !strings.HasPrefix(s.Function, "Feed") || functions[s.Function]:
			t.Errorf("%s: timer function %q must start with Feed and be unique", s.Name, s.Function)
		case !cron.MatchString(s.Schedule):
			t.Errorf("%s: schedule %q is not a 6-field NCRONTAB expression", s.Name, s.Schedule)
		case s.Parse == nil || s.DefaultURL == "" || s.MaxBytes <= 0 || s.MinInterval <= 0:
			t.Errorf("%s: needs a parser, a URL, a fetch limit and a minimum interval", s.Name)
		case s.Docs == "":
			t.Errorf("%s: no documentation", s.Name)
		case s.RequiresKey && !s.AbuseCH:
			t.Errorf("%s: requires a key it never sends", s.Name)
		}
		functions[s.Function] = true
	}
}

// TestREADMEFeedTable: the README's feed table lists the registered
// sources, in order, and nothing else but the user lists.
func TestREADMEFeedTable(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, _ := strings.Cut(string(b), "\n## Feeds\n")
	table, _, _ = strings.Cut(table, "\n\n")
	var rows []string
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z0-9-]+)` \\|").FindAllStringSubmatch(table, -1) {
		rows = append(rows, m[1])
	}
	var want []string
	for _, s := range Builtin() {
		want = append(want, s.Name)
	}
	if !slices.Equal(rows, want) {
		t.Errorf("README feed table lists %v, the registry %v: add the source's row", rows, want)
	}
}
