package infra

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/feeds2sentinel/feeds2sentinel/internal/app"
	"github.com/feeds2sentinel/feeds2sentinel/internal/config"
	"github.com/feeds2sentinel/feeds2sentinel/internal/feed"
)

// appSettings returns every app setting the templates set, by name, with
// its value expression: main.bicep's appSettings plus the identity-wired
// settings of modules/functionapp.bicep.
func appSettings(t *testing.T) map[string]string {
	t.Helper()
	all := map[string]string{}
	for _, src := range []struct{ file, name string }{
		{"main.bicep", "appSettings"},
		{"modules/functionapp.bicep", "identitySettings"},
	} {
		keys, ok := objectVar(readText(t, src.file), src.name)
		if !ok {
			t.Fatalf("%s has no var %s = {", src.file, src.name)
		}
		for k, v := range keys {
			if _, dup := all[k]; dup {
				t.Errorf("%s sets %s again", src.file, k)
			}
			all[k] = v
		}
	}
	return all
}

func TestTemplatesBalanced(t *testing.T) {
	t.Parallel()
	for _, f := range readBicep(t) {
		if msg := balanced(f.src); msg != "" {
			t.Errorf("%s: %s", f.path, msg)
		}
	}
}

func TestFunctionAppUsesSettingVars(t *testing.T) {
	t.Parallel()
	src := readText(t, "modules/functionapp.bicep")
	want := "properties: union(appSettings, identitySettings, isFlex ? flexSettings : premiumSettings)"
	if !strings.Contains(src, want) {
		t.Errorf("functionapp.bicep app settings are not %q", want)
	}
	if !strings.Contains(readText(t, "main.bicep"), "appSettings: union(appSettings, extraAppSettings)") {
		t.Error("main.bicep does not pass appSettings (plus extraAppSettings) to the function app")
	}
}

func TestAzureSettingsAreSet(t *testing.T) {
	t.Parallel()
	set := appSettings(t)
	for _, s := range config.Settings() {
		if s.Azure {
			if _, ok := set[s.Name]; !ok {
				t.Errorf("setting %s (Azure) is not set by infra", s.Name)
			}
		}
	}
	// Identity-based connections the host and the Go code need.
	for _, name := range []string{
		"AzureWebJobsStorage__accountName", "AzureWebJobsStorage__credential", "AzureWebJobsStorage__clientId",
		"ServiceBusConnection__fullyQualifiedNamespace", "ServiceBusConnection__credential", "ServiceBusConnection__clientId",
		"AZURE_CLIENT_ID", "APPLICATIONINSIGHTS_CONNECTION_STRING", "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
	} {
		if _, ok := set[name]; !ok {
			t.Errorf("%s is not set", name)
		}
	}
	for _, name := range []string{"AzureWebJobsStorage__credential", "ServiceBusConnection__credential"} {
		if got := set[name]; got != "'managedidentity'" {
			t.Errorf("%s = %s, want 'managedidentity'", name, got)
		}
	}
}

// genericName maps a per-feed setting name to its documented family, e.g.
// FEED_URLHAUS_LABELS to FEED_<NAME>_LABELS.
func genericName(name string) string {
	feeds := append(config.BuiltinFeedNames(), app.UserListsFeed)
	// Longest first, so FEED_THREATFOX_CSV_ wins over FEED_THREATFOX_.
	slices.SortFunc(feeds, func(a, b string) int { return len(b) - len(a) })
	for _, f := range feeds {
		if p := strings.TrimSuffix(feed.SettingName(f, "X"), "X"); strings.HasPrefix(name, p) {
			return "FEED_<NAME>_" + strings.TrimPrefix(name, p)
		}
	}
	return name
}

func TestOptionalSettingsDocumented(t *testing.T) {
	t.Parallel()
	set := appSettings(t)
	readme := readText(t, "README.md")
	for _, s := range config.Settings() {
		if _, ok := set[s.Name]; ok || s.Azure {
			continue
		}
		if g := genericName(s.Name); !strings.Contains(readme, "`"+g+"`") {
			t.Errorf("optional setting %s is neither set nor documented as `%s` in infra/README.md", s.Name, g)
		}
	}
}

func TestSecretsUseKeyVault(t *testing.T) {
	t.Parallel()
	set := appSettings(t)
	mainSettings, _ := objectVar(readText(t, "main.bicep"), "appSettings")
	for _, s := range config.Settings() {
		if !s.Secret {
			continue
		}
		if !strings.Contains(set[s.Name], "'@Microsoft.KeyVault(") {
			t.Errorf("secret %s = %s, want a @Microsoft.KeyVault( reference", s.Name, set[s.Name])
		}
		if _, ok := mainSettings[s.Name]; ok {
			t.Errorf("secret %s is also a plain setting in main.bicep", s.Name)
		}
	}
	if !strings.Contains(readText(t, "modules/functionapp.bicep"), "keyVaultReferenceIdentity: identityId") {
		t.Error("the site does not resolve Key Vault references with the user-assigned identity")
	}
}

var bindingRefRE = regexp.MustCompile(`%([A-Za-z0-9_]+)%`)

// bindings returns the app settings and connection prefixes the functions
// reference: from functions/*/function.json when present, and always from
// app.Functions(), which generates them.
func bindings(t *testing.T) (settings, connections map[string]bool) {
	t.Helper()
	settings, connections = map[string]bool{}, map[string]bool{}
	for _, f := range app.Functions() {
		for _, s := range []string{f.Schedule, f.Queue} {
			if s != "" {
				settings[s] = true
			}
		}
		if f.Connection != "" {
			connections[f.Connection] = true
		}
	}
	paths, _ := filepath.Glob("../functions/*/function.json")
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var fj struct {
			Bindings []map[string]any `json:"bindings"`
		}
		if err := json.Unmarshal(b, &fj); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		for _, m := range bindingRefRE.FindAllStringSubmatch(string(b), -1) {
			settings[m[1]] = true
		}
		for _, bd := range fj.Bindings {
			if c, ok := bd["connection"].(string); ok && c != "" {
				connections[c] = true
			}
		}
	}
	return settings, connections
}

func TestFunctionBindingSettingsAreSet(t *testing.T) {
	t.Parallel()
	set := appSettings(t)
	settings, connections := bindings(t)
	if len(settings) == 0 || len(connections) == 0 {
		t.Fatalf("found no binding settings (%d) or connections (%d)", len(settings), len(connections))
	}
	for s := range settings {
		if _, ok := set[s]; !ok {
			t.Errorf("binding setting %%%s%% is not set by infra", s)
		}
	}
	for c := range connections {
		for _, suffix := range []string{"__fullyQualifiedNamespace", "__credential", "__clientId"} {
			if _, ok := set[c+suffix]; !ok {
				t.Errorf("connection %s: %s%s is not set", c, c, suffix)
			}
		}
	}
}

func TestQueueWiring(t *testing.T) {
	t.Parallel()
	main := readText(t, "main.bicep")
	set := appSettings(t)
	var queueSetting string
	for _, f := range app.Functions() {
		if f.Trigger == app.TriggerServiceBus {
			queueSetting = f.Queue
		}
	}
	if queueSetting == "" {
		t.Fatal("no Service Bus function in app.Functions()")
	}
	if got := set[queueSetting]; got != "queueName" {
		t.Errorf("%s = %s, want the queueName parameter", queueSetting, got)
	}
	if got := set["SERVICEBUS_PARKED_QUEUE"]; got != "'${queueName}-parked'" {
		t.Errorf("SERVICEBUS_PARKED_QUEUE = %s, want '${queueName}-parked'", got)
	}
	if !strings.Contains(main, "    queueName: queueName\n") {
		t.Error("main.bicep does not pass queueName to the Service Bus module")
	}
	sb := readText(t, "modules/servicebus.bicep")
	for _, want := range []string{"  name: queueName\n", "  name: '${queueName}-parked'\n", "requiresDuplicateDetection: true", "deadLetteringOnMessageExpiration: true", "name: 'Standard'"} {
		if !strings.Contains(sb, want) {
			t.Errorf("servicebus.bicep lacks %q", want)
		}
	}
	// The upload trigger holds one session at a time (app.Function
	// Sessions): the queue must require sessions, the parked one must not.
	up, parked, _ := strings.Cut(sb, "resource parkedQueue")
	for _, f := range app.Functions() {
		if f.Trigger == app.TriggerServiceBus && f.Sessions && !strings.Contains(up, "requiresSession: true") {
			t.Errorf("%s uses sessions but the upload queue does not require them", f.Name)
		}
	}
	if !strings.Contains(parked, "requiresSession: false") {
		t.Error("the parked queue must not require sessions (parked copies carry none)")
	}
	if p := params(main)["queueName"]; unquote(p.def) != defaultOf(t, queueSetting) {
		t.Errorf("param queueName default %s, config default %q", p.def, defaultOf(t, queueSetting))
	}
}

func defaultOf(t *testing.T, name string) string {
	t.Helper()
	for _, s := range config.Settings() {
		if s.Name == name {
			return s.Default
		}
	}
	t.Fatalf("config has no setting %s", name)
	return ""
}
