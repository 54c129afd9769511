package config

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite local.settings.json.example")

// azuriteConnectionString is Azurite's well-known, publicly documented
// development account (not a secret).
const azuriteConnectionString = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;"

// exampleValues are the placeholders local.settings.json.example shows.
func exampleValues() map[string]string {
	v := map[string]string{
		"FUNCTIONS_WORKER_RUNTIME":                      "custom",
		"AzureWebJobsStorage":                           "UseDevelopmentStorage=true",
		"SENTINEL_WORKSPACE_ID":                         "00000000-0000-0000-0000-000000000000",
		"ServiceBusConnection__fullyQualifiedNamespace": "<your-namespace>.servicebus.windows.net",
		"ABUSECH_AUTH_KEY":                              "<your abuse.ch Auth-Key from https://auth.abuse.ch/>",
		"AZURE_CLIENT_ID":                               "",
		"STATE_CONNECTION_STRING":                       azuriteConnectionString,
		"STATE_TABLE_SERVICE_URL":                       "",
		"AzureWebJobsStorage__accountName":              "",
		"STATE_STORE":                                   "table",
	}
	for _, s := range Settings() {
		if _, ok := v[s.Name]; ok {
			continue
		}
		name, def := s.Name, s.Default
		if strings.HasSuffix(name, "_LIFETIME_<TYPE>") {
			name = strings.TrimSuffix(name, "<TYPE>") + "IP"
			def = ""
		}
		if strings.ContainsAny(def, "<>") || strings.HasPrefix(def, "table if") || def == "built in" || def == "source default" || def == "DEFAULT_TLP" {
			def = ""
		}
		v[name] = def
	}
	return v
}

func TestLocalSettingsExample(t *testing.T) {
	path := filepath.Join("..", "..", "local.settings.json.example")
	want := exampleValues()
	if *update {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(map[string]any{"IsEncrypted": false, "Values": want}); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Values map[string]string
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("local.settings.json.example is not valid JSON: %v", err)
	}
	if got.Values["FUNCTIONS_WORKER_RUNTIME"] != "custom" {
		t.Errorf("FUNCTIONS_WORKER_RUNTIME = %q, want custom", got.Values["FUNCTIONS_WORKER_RUNTIME"])
	}
	for name := range want {
		if _, ok := got.Values[name]; !ok {
			t.Errorf("local.settings.json.example lacks %s (run go test ./internal/config -update)", name)
		}
	}
}

func TestReadmeDocumentsEverySetting(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	for _, s := range Settings() {
		name := s.Name
		if strings.HasPrefix(name, "FEED_") {
			continue // per-feed settings are documented as FEED_<NAME>_…
		}
		if !strings.Contains(readme, "`"+name+"`") {
			t.Errorf("README settings table lacks `%s`", name)
		}
	}
	for _, suffix := range []string{"ENABLED", "SCHEDULE", "URL", "CONFIDENCE", "MIN_CONFIDENCE", "LIFETIME_<TYPE>", "LABELS", "TLP", "MAX_BYTES"} {
		if !strings.Contains(readme, "FEED_<NAME>_"+suffix) {
			t.Errorf("README lacks FEED_<NAME>_%s", suffix)
		}
	}
}
