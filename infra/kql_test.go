package infra

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The offline KQL check: every query feeds2sentinel deploys (the analytic
// and health rules exactly as modules/sentinel-content.bicep assembles them,
// and every Logs query of the workbook) is parsed and name-checked by the
// Kusto language service (npm @kusto/language-service-next, run by
// kql/check.js under node) against the schemas declared in
// kql/schemas.json. A query that names an unknown table, column or function
// fails. Without node or the package the test skips, unless F2S_REQUIRE_KQL
// is 1 (.ci/run sets it after installing the package).

const contentModule = "modules/sentinel-content.bicep"

// kqlSchemas is kql/schemas.json.
type kqlSchemas struct {
	Tables    map[string]string `json:"tables"`
	Functions map[string]struct {
		Parameters string `json:"parameters"`
		Schema     string `json:"schema"`
	} `json:"functions"`
}

// kqlQuery is one query to check.
type kqlQuery struct {
	Name string `json:"name"`
	Text string `json:"text"`
}

type kqlDiagnostic struct {
	Severity string `json:"severity"`
	Code     string `json:"code"`
	Message  string `json:"message"`
	Start    int    `json:"start"`
	Length   int    `json:"length"`
}

type kqlResult struct {
	Name        string          `json:"name"`
	Diagnostics []kqlDiagnostic `json:"diagnostics"`
}

var (
	headerRE    = regexp.MustCompile(`(?m)^var header = '(.*)'$`)
	ruleQueryRE = regexp.MustCompile(`(?m)^    key: '([\w-]+)'\n(?:    .*\n)*?    query: '\$\{(tiPrelude|header)\}\$\{loadTextContent\('\.\./rules/([\w-]+)\.kql'\)\}'$`)
)

// sampleSource is the SENTINEL_SOURCE_SYSTEM the checked queries use.
const sampleSource = "feeds2sentinel"

// ruleHeader renders the module's header variable as Bicep would with
// sourceSystem sampleSource and healthMissedIntervals 3.
func ruleHeader(t *testing.T, module string) string {
	t.Helper()
	m := headerRE.FindStringSubmatch(module)
	if m == nil {
		t.Fatalf("%s: no var header = '...'", contentModule)
	}
	h := strings.NewReplacer(
		`${string([sourceSystem])}`, `["`+sampleSource+`"]`,
		`${healthMissedIntervals}`, "3",
		`\n`, "\n",
		`\'`, "'",
	).Replace(m[1])
	if strings.Contains(h, "${") || strings.Contains(h, `\`) {
		t.Fatalf("%s: header has an interpolation or escape the test does not render: %s", contentModule, h)
	}
	return h
}

// deployedRules returns the query of every rule of the module by key,
// assembled as the module does: header, the TI prelude for ti-* rules, the
// rule file.
func deployedRules(t *testing.T) map[string]string {
	t.Helper()
	module := readText(t, contentModule)
	header := ruleHeader(t, module)
	prelude := readText(t, "rules/ti-prelude.kql")
	rules := map[string]string{}
	for _, m := range ruleQueryRE.FindAllStringSubmatch(module, -1) {
		key, lead, file := m[1], m[2], m[3]
		if key != file {
			t.Errorf("%s: rule %s loads rules/%s.kql", contentModule, key, file)
		}
		text := header
		if lead == "tiPrelude" {
			text += prelude
		}
		rules[key] = text + readText(t, "rules/"+file+".kql")
	}
	if len(rules) == 0 {
		t.Fatalf("%s: no rules found", contentModule)
	}
	return rules
}

// kqlNodePath returns the node_modules directory holding
// @kusto/language-service-next, or "".
func kqlNodePath() string {
	var dirs []string
	if d := os.Getenv("F2S_TOOLS_DIR"); d != "" {
		dirs = append(dirs, filepath.Join(d, "node_modules"))
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, ".cache", "feeds2sentinel-tools", "node_modules"))
	}
	dirs = append(dirs, filepath.Join("kql", "node_modules"))
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "@kusto", "language-service-next", "package.json")); err == nil {
			abs, err := filepath.Abs(d)
			if err == nil {
				return abs
			}
		}
	}
	return ""
}

// runKQLCheck runs kql/check.js on qs and returns its results by name. It
// skips (or fails with F2S_REQUIRE_KQL=1) when node or the package is
// missing.
func runKQLCheck(t *testing.T, qs []kqlQuery) map[string][]kqlDiagnostic {
	t.Helper()
	require := os.Getenv("F2S_REQUIRE_KQL") == "1"
	missing := func(why string) {
		msg := why + "; install with: npm install --prefix ${F2S_TOOLS_DIR:-$HOME/.cache/feeds2sentinel-tools} @kusto/language-service-next@12.4.1 (as .ci/run does)"
		if require {
			t.Fatal("F2S_REQUIRE_KQL=1: " + msg)
		}
		t.Skip("KQL check skipped: " + msg)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node is not on PATH")
	}
	modules := kqlNodePath()
	if modules == "" {
		missing("@kusto/language-service-next is not installed")
	}
	var schemas kqlSchemas
	if err := json.Unmarshal([]byte(readText(t, "kql/schemas.json")), &schemas); err != nil {
		t.Fatalf("kql/schemas.json: %v", err)
	}
	in, err := json.Marshal(map[string]any{"tables": schemas.Tables, "functions": schemas.Functions, "queries": qs})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, filepath.Join("kql", "check.js"))
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node kql/check.js: %v\n%s", err, stderr.String())
	}
	var results []kqlResult
	if err := json.Unmarshal(out, &results); err != nil {
		t.Fatalf("kql/check.js output: %v\n%s", err, out)
	}
	byName := map[string][]kqlDiagnostic{}
	for _, r := range results {
		byName[r.Name] = r.Diagnostics
	}
	if len(byName) != len(qs) {
		t.Fatalf("kql/check.js answered %d of %d queries", len(byName), len(qs))
	}
	return byName
}

// snippetAt returns the text around a diagnostic.
func snippetAt(text string, start, length int) string {
	lo, hi := max(start-40, 0), min(start+length+40, len(text))
	if lo > len(text) {
		return ""
	}
	return strings.ReplaceAll(text[lo:hi], "\n", "⏎")
}

// TestKQL checks every deployed query; deliberately broken queries prove
// that an unknown column, table, parser output column and parser parameter
// are reported.
func TestKQL(t *testing.T) {
	var qs []kqlQuery
	for key, text := range deployedRules(t) {
		qs = append(qs, kqlQuery{Name: "rule " + key, Text: text})
	}
	for _, q := range workbookQueries(t) {
		qs = append(qs, kqlQuery{Name: q.name, Text: workbookParams.Replace(q.text)})
	}
	canaries := []kqlQuery{
		{Name: "canary column", Text: "ThreatIntelIndicators | where NoSuchColumn == 1"},
		{Name: "canary table", Text: "ThreatIntelligenceIndicator | take 1"},
		{Name: "canary asim", Text: "_Im_NetworkSession(starttime = ago(1h)) | project SrcIpAddress"},
		{Name: "canary parameter", Text: "_Im_Dns(startime = ago(1h)) | take 1"},
	}
	byName := runKQLCheck(t, append(qs, canaries...))
	for _, c := range canaries {
		if !hasError(byName[c.Name]) {
			t.Errorf("%s: the checker reported no error for %q", c.Name, c.Text)
		}
	}
	for _, q := range qs {
		for _, d := range byName[q.Name] {
			if d.Severity == "Error" {
				t.Errorf("%s: %s %s at %d: …%s…", q.Name, d.Code, d.Message, d.Start, snippetAt(q.Text, d.Start, d.Length))
			} else {
				t.Logf("%s: %s %s %s", q.Name, d.Severity, d.Code, d.Message)
			}
		}
	}
	t.Logf("checked %d queries", len(qs))
}

func hasError(ds []kqlDiagnostic) bool {
	for _, d := range ds {
		if d.Severity == "Error" {
			return true
		}
	}
	return false
}
