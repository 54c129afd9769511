package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/feeds2sentinel/feeds2sentinel/internal/app"
	"github.com/feeds2sentinel/feeds2sentinel/internal/config"
	"github.com/feeds2sentinel/feeds2sentinel/internal/feed"
)

// exampleSource is a source a contributor would add: one declaration (and
// its parser) in a new file, one line in feed.Builtin.
func exampleSource(t *testing.T) feed.Source {
	t.Helper()
	list, err := feed.NewUserList("example-list", "https://example.org/list.txt", feed.UserListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return feed.Source{
		Name: "example-list", Function: "FeedExampleList", Schedule: "0 7 */2 * * *", Enabled: true,
		DefaultURL: "https://example.org/list.txt", Method: "GET", MinInterval: time.Hour, MaxBytes: 8 << 20,
		DefaultConfidence: 60, Parse: list.Parse, TLP: "clear", Docs: "An example list.",
	}
}

// TestExtraSourceDerived registers one more source and checks that every
// artefact derived from the registry picks it up: the function table, the
// generated function.json, the settings (and so local.settings.json.example,
// the README settings table and the Bicep, which tests compare with them)
// and the loaded configuration.
func TestExtraSourceDerived(t *testing.T) {
	sources := append(feed.Builtin(), exampleSource(t))

	fns := app.FunctionsFor(sources)
	i := slices.IndexFunc(fns, func(f app.Function) bool { return f.Name == "FeedExampleList" })
	if i < 0 || fns[i].Feed != "example-list" || fns[i].Schedule != "FEED_EXAMPLE_LIST_SCHEDULE" || fns[i].Trigger != app.TriggerTimer {
		t.Fatalf("function table: %+v", fns)
	}

	dir := t.TempDir()
	if err := Generate(dir, fns); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "FeedExampleList", FunctionFile))
	if err != nil || !strings.Contains(string(b), `"%FEED_EXAMPLE_LIST_SCHEDULE%"`) {
		t.Errorf("function.json: %s, %v", b, err)
	}

	settings := map[string]config.Setting{}
	for _, s := range config.SettingsFor(sources) {
		settings[s.Name] = s
	}
	for name, def := range map[string]string{
		"FEED_EXAMPLE_LIST_ENABLED": "true", "FEED_EXAMPLE_LIST_SCHEDULE": "0 7 */2 * * *",
		"FEED_EXAMPLE_LIST_URL": "built in", "FEED_EXAMPLE_LIST_MAX_BYTES": "8388608",
	} {
		if s, ok := settings[name]; !ok || s.Default != def {
			t.Errorf("setting %s = %+v, want default %q", name, s, def)
		}
	}
	if !settings["FEED_EXAMPLE_LIST_SCHEDULE"].Azure {
		t.Error("the schedule must be an app setting in Azure (the Bicep sets it)")
	}

	cfg, err := config.LoadSources(map[string]string{"FEED_EXAMPLE_LIST_URL": "https://mirror.example.org/list.txt"}, config.ModeLocal, sources)
	if err != nil {
		t.Fatal(err)
	}
	f, ok := cfg.Feed("example-list")
	if !ok || f.User || !f.Enabled || f.Schedule != "0 7 */2 * * *" || f.URL != "https://mirror.example.org/list.txt" {
		t.Errorf("loaded feed: %+v, %v (its URL setting must not make it a user list)", f, ok)
	}
	if _, ok := feed.Lookup(cfg.Sources, "example-list"); !ok {
		t.Error("the configuration does not carry the source")
	}
}
