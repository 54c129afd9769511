package infra

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/feeds2sentinel/feeds2sentinel/internal/config"
	"github.com/feeds2sentinel/feeds2sentinel/internal/feed"
)

// knownRoles are the built-in role definition IDs infra may assign, as
// documented in the reference (custom-handler.md §5.2) and infra/README.md.
var knownRoles = map[string]string{
	"69a216fc-b8fb-44d8-bc22-1f3c2cd27a39": "Azure Service Bus Data Sender",
	"4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0": "Azure Service Bus Data Receiver",
	"090c5cfd-751d-490a-894a-3ce6f1109419": "Azure Service Bus Data Owner",
	"ab8e14d6-4a74-4a29-9ba8-549422addade": "Microsoft Sentinel Contributor",
	"b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
	"0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": "Storage Table Data Contributor",
	"3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
	"4633458b-17de-408a-b874-0445c86b69e6": "Key Vault Secrets User",
	"ba92f5b4-2d11-453d-a403-e96b0029c9fe": "Storage Blob Data Contributor",
}

var guidRE = regexp.MustCompile(`'([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})'`)

func TestRoleAssignments(t *testing.T) {
	t.Parallel()
	used := map[string]bool{}
	readme := readText(t, "README.md")
	for _, f := range readBicep(t) {
		for _, line := range strings.Split(f.src, "\n") {
			for _, m := range guidRE.FindAllStringSubmatch(line, -1) {
				role, ok := knownRoles[strings.ToLower(m[1])]
				switch {
				case !ok:
					t.Errorf("%s: GUID %s is not a documented role definition", f.path, m[1])
				case !strings.Contains(line, "// "+role):
					t.Errorf("%s: role %s is not labelled // %s", f.path, m[1], role)
				}
				used[strings.ToLower(m[1])] = true
			}
		}
		for _, b := range blocks(f.src, "Microsoft.Authorization/roleAssignments@") {
			for _, want := range []string{
				"roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', ",
				"principalType: 'ServicePrincipal'",
				"  scope: ",
				"name: guid(",
			} {
				if !strings.Contains(b, want) {
					t.Errorf("%s: role assignment lacks %q:\n%s", f.path, want, b)
				}
			}
		}
	}
	for id, role := range knownRoles {
		if !used[id] {
			t.Errorf("role %s (%s) is never assigned", role, id)
		}
		if !strings.Contains(readme, id) {
			t.Errorf("infra/README.md does not list role %s (%s)", role, id)
		}
	}
}

var (
	outputRE    = regexp.MustCompile(`(?m)^output (\w+) (\w+) = (.*)$`)
	leakyNameRE = regexp.MustCompile(`(?i)key|secret|password|connectionstring|token|sas`)
)

func TestNoSecretsInTemplates(t *testing.T) {
	t.Parallel()
	for _, f := range readBicep(t) {
		lower := strings.ToLower(f.src)
		for _, bad := range []string{"listkeys(", "listconnectionstrings(", "accountkey=", "sharedaccesskey", "listsecrets("} {
			if strings.Contains(lower, bad) {
				t.Errorf("%s uses %s", f.path, bad)
			}
		}
		ps := params(f.src)
		for _, m := range outputRE.FindAllStringSubmatch(f.src, -1) {
			if leakyNameRE.MatchString(m[1]) || leakyNameRE.MatchString(m[3]) {
				t.Errorf("%s: output %s = %s may expose a secret", f.path, m[1], m[3])
			}
			for name, p := range ps {
				if p.secure && regexp.MustCompile(`\b`+name+`\b`).MatchString(m[3]) {
					t.Errorf("%s: output %s uses secure param %s", f.path, m[1], name)
				}
			}
		}
		for name, p := range ps {
			if (p.typ == "string" || p.typ == "object") && regexp.MustCompile(`(?i)(authkey|secret$|password|apikey)`).MatchString(name) && !p.secure {
				t.Errorf("%s: param %s holds a secret but is not @secure()", f.path, name)
			}
		}
	}
	if p := params(readText(t, "main.bicep"))["abuseChAuthKey"]; !p.secure || p.def != "''" {
		t.Errorf("main.bicep abuseChAuthKey = %+v, want @secure() with default ''", p)
	}
	if p := params(readText(t, "modules/keyvault.bicep"))["abuseChAuthKey"]; !p.secure {
		t.Error("keyvault.bicep abuseChAuthKey is not @secure()")
	}
}

var apiRE = regexp.MustCompile(`'([A-Za-z]+\.[A-Za-z]+/[A-Za-z/]+)@([0-9a-z-]+)'`)

// previewAPIs are the resource types pinned to a preview API version on
// purpose, because no GA version has what is used: diagnostic settings with
// categoryGroup (allLogs) exist only in 2021-05-01-preview, the version
// Microsoft's own templates and Azure Verified Modules use. infra/README.md
// must say so.
var previewAPIs = map[string]string{
	"Microsoft.Insights/diagnosticSettings": "2021-05-01-preview",
}

func TestAPIVersionsPinnedAndListed(t *testing.T) {
	t.Parallel()
	readme := readText(t, "README.md")
	dateRE := regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	n := 0
	for _, f := range readBicep(t) {
		for _, m := range apiRE.FindAllStringSubmatch(f.src, -1) {
			n++
			if !dateRE.MatchString(m[2]) && previewAPIs[m[1]] != m[2] {
				t.Errorf("%s: %s@%s is not a GA (date-only) API version", f.path, m[1], m[2])
			}
			if !strings.Contains(readme, "`"+m[1]+"@"+m[2]+"`") {
				t.Errorf("infra/README.md does not list `%s@%s`", m[1], m[2])
			}
		}
	}
	if n < 10 {
		t.Errorf("found only %d typed resources", n)
	}
	for typ, v := range previewAPIs {
		if !strings.Contains(readme, "`"+typ+"@"+v+"` is the one preview") {
			t.Errorf("infra/README.md does not explain why `%s@%s` is a preview version", typ, v)
		}
	}
}

// TestDefaultsMatchConfig keeps the Bicep defaults equal to the code's.
func TestDefaultsMatchConfig(t *testing.T) {
	t.Parallel()
	main := readText(t, "main.bicep")
	ps := params(main)
	set, _ := objectVar(main, "appSettings")
	feedRE := regexp.MustCompile(`(?m)^  '?([a-z-]+)'?: \{\n    enabled: (true|false)\n    schedule: '([^']+)'\n  \}`)
	feeds := map[string][2]string{}
	for _, m := range feedRE.FindAllStringSubmatch(main, -1) {
		feeds[m[1]] = [2]string{m[2], m[3]}
	}
	for _, name := range config.BuiltinFeedNames() {
		got, ok := feeds[name]
		if !ok {
			t.Errorf("main.bicep defaultFeeds lacks %s", name)
			continue
		}
		if want := defaultOf(t, feed.SettingName(name, "ENABLED")); got[0] != want {
			t.Errorf("%s enabled = %s, config %s", name, got[0], want)
		}
		if want := defaultOf(t, feed.SettingName(name, "SCHEDULE")); got[1] != want {
			t.Errorf("%s schedule = %q, config %q", name, got[1], want)
		}
	}
	identRE := regexp.MustCompile(`^(?:string\()?(\w+)\)?(?: \? 'true' : 'false')?$`)
	checked := 0
	for _, s := range config.Settings() {
		expr, ok := set[s.Name]
		if !ok || strings.ContainsAny(s.Default, "<> ") {
			continue
		}
		m := identRE.FindStringSubmatch(expr)
		if m == nil {
			continue
		}
		p, ok := ps[m[1]]
		if !ok {
			continue
		}
		checked++
		if got := unquote(p.def); got != s.Default {
			t.Errorf("param %s (for %s) default %q, config default %q", p.name, s.Name, got, s.Default)
		}
	}
	if checked < 10 {
		t.Errorf("compared only %d parameter defaults", checked)
	}
}

func TestParametersFile(t *testing.T) {
	t.Parallel()
	var pf struct {
		Parameters map[string]struct {
			Value any `json:"value"`
		} `json:"parameters"`
	}
	if err := json.Unmarshal([]byte(readText(t, "main.parameters.json")), &pf); err != nil {
		t.Fatal(err)
	}
	ps := params(readText(t, "main.bicep"))
	for name, v := range pf.Parameters {
		p, ok := ps[name]
		if !ok {
			t.Errorf("main.parameters.json sets %s, which main.bicep does not declare", name)
		}
		if s, _ := v.Value.(string); p.secure && !regexp.MustCompile(`^\$\{[A-Z0-9_]+\}$`).MatchString(s) {
			t.Errorf("secure parameter %s has a literal value in main.parameters.json", name)
		}
	}
	for _, required := range []string{"environmentName", "location", "sentinelWorkspaceResourceId"} {
		if _, ok := pf.Parameters[required]; !ok {
			t.Errorf("main.parameters.json lacks %s", required)
		}
	}
}

func TestAzureYAML(t *testing.T) {
	t.Parallel()
	y := readText(t, "../azure.yaml")
	for _, want := range []string{"name: feeds2sentinel", "  app:\n", "host: function", "dist: dist/app", "run: make package", "path: infra"} {
		if !strings.Contains(y, want) {
			t.Errorf("azure.yaml lacks %q", want)
		}
	}
	if !strings.Contains(readText(t, "main.bicep"), "azdServiceName: 'app'") {
		t.Error("the function app is not tagged with the azd service name app")
	}
}
