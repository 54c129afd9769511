package infra

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/feeds2sentinel/feeds2sentinel/internal/detect"
	"github.com/feeds2sentinel/feeds2sentinel/internal/ioc"
	"github.com/feeds2sentinel/feeds2sentinel/internal/stix"
)

// sampleValues are normalized values of each indicator type, for building
// the STIX pattern the code uploads.
var sampleValues = map[ioc.Type]string{
	ioc.TypeIPv4:     "192.0.2.1",
	ioc.TypeIPv6:     "2001:db8::1",
	ioc.TypeCIDRv4:   "192.0.2.0/24",
	ioc.TypeCIDRv6:   "2001:db8::/48",
	ioc.TypeDomain:   "example.com",
	ioc.TypeURL:      "http://example.com/a",
	ioc.TypeMD5:      strings.Repeat("a", 32),
	ioc.TypeSHA1:     strings.Repeat("b", 40),
	ioc.TypeSHA256:   strings.Repeat("c", 64),
	ioc.TypeSHA512:   strings.Repeat("d", 128),
	ioc.TypeEmail:    "bad@example.com",
	ioc.TypeX509SHA1: strings.Repeat("e", 40),
}

var typesLineRE = regexp.MustCompile(`(?m)^// f2s:types (.+)$`)

// TestRuleCoverage is the coverage test: for each indicator type the code
// can emit, a shipped rule's query can match it. The chain checked:
// stix.Pattern gives the pattern the code uploads; its object path, with
// quotes dropped and lower-cased as the prelude does with ObservableKey,
// maps to the type in rules/ti-prelude.kql (CIDR types on the line that
// checks for a "/"); and a rule listed for the type in internal/detect selects
// that IndicatorType in its own query.
func TestRuleCoverage(t *testing.T) {
	prelude := readText(t, "rules/ti-prelude.kql")
	for _, typ := range ioc.PossibleTypeValues() {
		value, ok := sampleValues[typ]
		if !ok {
			t.Errorf("no sample value for type %s: add one", typ)
			continue
		}
		pattern := stix.Pattern(ioc.Observable{Type: typ, Value: value})
		c, err := stix.ParsePattern(pattern)
		if err != nil {
			t.Errorf("%s: pattern %q: %v", typ, pattern, err)
			continue
		}
		key := strings.ToLower(c.ObjectType + ":" + c.Path)
		mapped := false
		for _, l := range strings.Split(prelude, "\n") {
			if !strings.Contains(l, `"`+key+`"`) || !strings.HasSuffix(strings.TrimSpace(l), `, "`+string(typ)+`",`) {
				continue
			}
			if cidr := typ == ioc.TypeCIDRv4 || typ == ioc.TypeCIDRv6; cidr != strings.Contains(l, `contains "/"`) {
				continue
			}
			mapped = true
		}
		if !mapped {
			t.Errorf("%s: rules/ti-prelude.kql does not map ObservableKey %q (pattern %s) to IndicatorType %q", typ, key, pattern, typ)
		}
		rules := detect.RulesFor(typ)
		if len(rules) == 0 {
			t.Errorf("%s: no rule in internal/detect", typ)
		}
		selectRE := regexp.MustCompile(`IndicatorType (?:== |in \([^)\n]*)"` + regexp.QuoteMeta(string(typ)) + `"`)
		for _, r := range rules {
			if !selectRE.MatchString(readText(t, "rules/"+r.Key+".kql")) {
				t.Errorf("%s: rule %s does not select IndicatorType %q", typ, r.Key, typ)
			}
		}
	}
}

// TestRulesMatchDetectTable keeps internal/detect (what `handler feeds`
// prints) equal to the shipped rules: same keys, same types (the
// "// f2s:types" line of each rule file) and the same deployment switch.
func TestRulesMatchDetectTable(t *testing.T) {
	module := readText(t, contentModule)
	deployRE := regexp.MustCompile(`(?m)^    key: '([\w-]+)'\n    deploy: (\w+)$`)
	deploys := map[string]string{}
	for _, m := range deployRE.FindAllStringSubmatch(module, -1) {
		deploys[m[1]] = m[2]
	}
	rules := deployedRules(t)
	seen := map[string]bool{}
	for _, r := range detect.Rules() {
		seen[r.Key] = true
		if _, ok := rules[r.Key]; !ok {
			t.Errorf("internal/detect rule %s is not deployed by %s", r.Key, contentModule)
			continue
		}
		if deploys[r.Key] != r.Param {
			t.Errorf("rule %s is deployed by %q, internal/detect says %q", r.Key, deploys[r.Key], r.Param)
		}
		m := typesLineRE.FindStringSubmatch(readText(t, "rules/"+r.Key+".kql"))
		if m == nil {
			t.Errorf("rules/%s.kql has no // f2s:types line", r.Key)
			continue
		}
		var want []string
		for _, typ := range r.Types {
			want = append(want, string(typ))
		}
		if got := strings.Fields(m[1]); !slices.Equal(got, want) {
			t.Errorf("rules/%s.kql matches types %v, internal/detect says %v", r.Key, got, want)
		}
	}
	for key := range rules {
		if strings.HasPrefix(key, "ti-") && !seen[key] {
			t.Errorf("rule %s is deployed but not listed in internal/detect", key)
		}
	}
}

// TestRuleQueries checks what every indicator rule must do and that the
// columns the Bicep maps (entities, custom details) are in the query's
// final projection.
func TestRuleQueries(t *testing.T) {
	prelude := readText(t, "rules/ti-prelude.kql")
	requireAll(t, "rules/ti-prelude.kql", prelude,
		"ThreatIntelIndicators\n",
		"TimeGenerated > ago(14d) and SourceSystem == F2SSourceSystem",
		"summarize arg_max(TimeGenerated, *) by Id",
		// Null-safe: an indicator without "revoked" (every live one:
		// internal/stix omits it unless true) or with an empty IsDeleted
		// must stay; not(null) would drop it.
		"IsActive and not(coalesce(IsDeleted, false)) and not(coalesce(tobool(Data.revoked), false))",
		"ValidUntil > now()",
		"external_references",
		"IndicatorSources",
	)
	module := readText(t, contentModule)
	for key, text := range deployedRules(t) {
		if strings.Contains(text, "ThreatIntelligenceIndicator\n") || strings.Contains(text, "ThreatIntelligenceIndicator ") {
			t.Errorf("rule %s reads the legacy ThreatIntelligenceIndicator table", key)
		}
		body := readText(t, "rules/"+key+".kql")
		i := strings.LastIndex(body, "| project ")
		if i < 0 {
			i = strings.LastIndex(body, "\nprint ")
		}
		if i < 0 {
			t.Errorf("rules/%s.kql has no final project or print", key)
			continue
		}
		final := body[i:]
		start := strings.Index(module, "    key: '"+key+"'\n")
		block := module[start:]
		block = block[:strings.Index(block, "\n  }\n")]
		cols := regexp.MustCompile(`columnName: '(\w+)'`).FindAllStringSubmatch(block, -1)
		if strings.Contains(block, "details: tiDetails") {
			requireAll(t, key, final, "IndicatorId", "IndicatorType", "IndicatorValue", "IndicatorSources", "IndicatorConfidence", "IndicatorValidUntil", "IndicatorName")
			if !strings.Contains(block, "period: 'P14D'") {
				t.Errorf("rule %s does not look back 14 days (queryPeriod P14D)", key)
			}
		} else {
			cols = append(cols, regexp.MustCompile(`(?m)^      \w+: '(\w+)'$`).FindAllStringSubmatch(block, -1)...)
		}
		for _, c := range cols {
			if !regexp.MustCompile(`\b` + c[1] + `\b`).MatchString(final) {
				t.Errorf("rule %s maps column %s, which its final projection lacks", key, c[1])
			}
		}
	}
	requireAll(t, contentModule, module,
		"resource alertRules 'Microsoft.SecurityInsights/alertRules@2023-02-01' = [for r in rules: if (r.deploy) {",
		"kind: 'Scheduled'",
		"scope: workspace",
		"customDetails: r.details",
		"entityMappings: empty(r.entities) ? null : r.entities",
		"IndicatorId: 'IndicatorId'",
		"IndicatorSources: 'IndicatorSources'",
		"IndicatorConfidence: 'IndicatorConfidence'",
		"category: 'sentinel'",
		"sourceId: workspace.id",
		"serializedData: loadTextContent('../workbooks/feeds2sentinel.json')",
	)
}

// TestContentSwitches: every switch exists in main.bicep and in the module,
// is off by default in both, is passed through, and gates the module call.
func TestContentSwitches(t *testing.T) {
	main := readText(t, "main.bicep")
	mainParams := params(main)
	modParams := params(readText(t, contentModule))
	call := moduleBlock(main, "sentinel-content")
	if call == "" {
		t.Fatalf("main.bicep does not call %s", contentModule)
	}
	for _, sw := range []string{"deployWorkbook", "deployDetectionRules", "deployEmailRule", "deployCertificateRule", "deployHealthRules"} {
		if p := mainParams[sw]; p.typ != "bool" || p.def != "false" {
			t.Errorf("main.bicep %s = %+v, want bool defaulting to false", sw, p)
		}
		if p := modParams[sw]; p.typ != "bool" || p.def != "false" {
			t.Errorf("%s %s = %+v, want bool defaulting to false", contentModule, sw, p)
		}
		if !strings.Contains(call, "    "+sw+": "+sw+"\n") {
			t.Errorf("main.bicep does not pass %s to %s", sw, contentModule)
		}
		if !strings.Contains(strings.SplitN(call, "\n", 2)[0], sw) {
			t.Errorf("the %s module call is not conditional on %s", contentModule, sw)
		}
	}
	requireAll(t, "infra/README.md", readText(t, "README.md"), "Microsoft Sentinel Contributor", "`modules/sentinel-content.bicep`",
		"`deployWorkbook`", "`deployDetectionRules`", "`deployEmailRule`", "`deployCertificateRule`", "`deployHealthRules`",
		"`healthMissedIntervals`")
	requireAll(t, "README.md", readText(t, "../README.md"), "## What you see in Sentinel", "Microsoft Sentinel Contributor",
		"`deployWorkbook`", "`deployDetectionRules`", "`deployEmailRule`", "`deployCertificateRule`", "`deployHealthRules`")
	requireAll(t, "main.bicep "+contentModule+" call", call,
		"scope: resourceGroup(sentinelParts[2], sentinelParts[4])",
		"sourceSystem: sentinelSourceSystem",
		"healthMissedIntervals: healthMissedIntervals",
	)
}
