package infra

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

// updateGolden rewrites workbooks/feeds2sentinel.json from the layout below:
// go test ./infra -run TestWorkbookGolden -update
var updateGolden = flag.Bool("update", false, "rewrite the workbook golden file")

const workbookPath = "workbooks/feeds2sentinel.json"

// wbQuery is one query tile of the workbook.
type wbQuery struct {
	title, query, visualization string
	// prelude puts rules/ti-prelude.kql (the active indicators of the
	// selected source system, as the rules see them) in front of query.
	prelude bool
}

// wbTab is one tab: a markdown introduction and its tiles.
type wbTab struct {
	name, intro string
	tiles       []wbQuery
}

// alertsBase selects the indicator alerts of our rules with the custom
// details they carry (see modules/sentinel-content.bicep tiDetails).
const alertsBase = `SecurityAlert
| where TimeGenerated {TimeRange}
| where ProviderName == "ASI Scheduled Alerts" and AlertName startswith "feeds2sentinel: "
| summarize arg_max(TimeGenerated, *) by SystemAlertId
| extend Details = parse_json(tostring(parse_json(ExtendedProperties)["Custom Details"]))
| extend IndicatorId = tostring(Details.IndicatorId[0]), IndicatorType = tostring(Details.IndicatorType[0]),
    IndicatorValue = tostring(Details.IndicatorValue[0]), IndicatorSources = tostring(Details.IndicatorSources[0])
| where isnotempty(IndicatorId)
`

// runsBase selects the run records of the time range.
const runsBase = `F2SRuns_CL
| where TimeGenerated {TimeRange}
`

var workbookTabs = []wbTab{
	{
		name: "Pipeline health",
		intro: "## Pipeline health\nOne row per feed run, upload batch and submission, written by feeds2sentinel to the `F2SRuns_CL` table " +
			"(run records, when configured). Outcomes: succeeded, not-modified, skipped, failed.",
		tiles: []wbQuery{
			{title: "Runs per feed and outcome", visualization: "timechart", query: runsBase +
				`| where isnotempty(Feed)
| summarize Runs = count() by Series = strcat(Feed, " ", Outcome), bin(TimeGenerated, {TimeRange:grain})`},
			{title: "Feeds", visualization: "table", query: runsBase +
				`| where isnotempty(Feed)
| summarize LastRun = max(TimeGenerated), LastSuccess = maxif(TimeGenerated, Outcome in ("succeeded", "not-modified")),
    Runs = count(), Failed = countif(Outcome == "failed"), Fetched = sum(Fetched), Rejected = sum(Rejected), New = sum(New),
    Changed = sum(Changed), Refreshed = sum(Refreshed), Revoked = sum(Revoked), Enqueued = sum(Enqueued), Uploaded = sum(Uploaded),
    SentinelRejected = sum(SentinelRejected), Parked = sum(Parked), DeadLettered = sum(DeadLettered), AvgDurationMs = avg(DurationMs)
    by Feed
| order by Feed asc`},
			{title: "Rejected inputs by reason", visualization: "barchart", query: runsBase +
				`| mv-expand bagexpansion=array RejectedByReason
| extend Reason = tostring(RejectedByReason[0]), Count = tolong(RejectedByReason[1])
| where isnotempty(Reason)
| summarize Rejected = sum(Count) by Feed, Reason
| order by Rejected desc`},
			{title: "Uploads, Sentinel rejections and parked messages", visualization: "timechart", query: runsBase +
				`| summarize Uploaded = sum(Uploaded), SentinelRejected = sum(SentinelRejected), Parked = sum(Parked), DeadLettered = sum(DeadLettered)
    by bin(TimeGenerated, {TimeRange:grain})`},
			{title: "Latest errors", visualization: "table", query: runsBase +
				`| where isnotempty(Error)
| project TimeGenerated, Function, Feed, Outcome, Error
| order by TimeGenerated desc
| take 50`},
		},
	},
	{
		name: "Indicators in Sentinel",
		intro: "## Indicators in Sentinel\nThe active, non-revoked indicators of the selected source system in `ThreatIntelIndicators` " +
			"(latest version per Id, last 14 days), as the analytic rules see them.",
		tiles: []wbQuery{
			{title: "Active indicators per source and type", visualization: "table", prelude: true, query: `F2SIndicators
| mv-expand Source = split(IndicatorSources, ", ") to typeof(string)
| summarize Indicators = count() by Source, IndicatorType
| order by Source asc, IndicatorType asc`},
			{title: "Active indicators by confidence", visualization: "barchart", prelude: true, query: `F2SIndicators
| summarize Indicators = count() by Confidence = strcat(tostring(bin(IndicatorConfidence, 10)), "+"), IndicatorType`},
			{title: "Expiry: days until valid_until", visualization: "barchart", prelude: true, query: `F2SIndicators
| extend ExpiresInDays = toint((IndicatorValidUntil - now()) / 1d)
| summarize Indicators = count() by ExpiresInDays, IndicatorType
| order by ExpiresInDays asc`},
			{title: "Revocations per day", visualization: "timechart", query: `ThreatIntelIndicators
| where TimeGenerated {TimeRange} and SourceSystem == F2SSourceSystem
| where tobool(Data.revoked) or not(IsActive)
| summarize Revoked = dcount(Id) by bin(TimeGenerated, 1d)`},
			{title: "Revocations per feed (run records)", visualization: "table", query: runsBase +
				`| where Revoked > 0
| summarize Revoked = sum(Revoked), LastRevocation = max(TimeGenerated) by Feed
| order by Revoked desc`},
		},
	},
	{
		name: "Alerts",
		intro: "## Alerts\nAlerts of the feeds2sentinel analytic rules. Each carries the indicator id, its type, value, sources (feeds) " +
			"and confidence in its custom details, so every alert counts for the feeds that reported the indicator.",
		tiles: []wbQuery{
			{title: "Alerts per feed and indicator type", visualization: "table", query: alertsBase +
				`| mv-expand Feed = split(IndicatorSources, ", ") to typeof(string)
| summarize Alerts = dcount(SystemAlertId) by Feed, IndicatorType
| order by Alerts desc`},
			{title: "Top matched indicators", visualization: "table", query: alertsBase +
				`| summarize Alerts = dcount(SystemAlertId), LastAlert = max(TimeGenerated) by IndicatorValue, IndicatorType, IndicatorSources, IndicatorId
| top 20 by Alerts`},
			{title: "Incident classification per feed", visualization: "table", query: `let Alerts = ` + strings.TrimSuffix(alertsBase, "\n") + `
    | project SystemAlertId, IndicatorSources;
SecurityIncident
| where TimeGenerated {TimeRange}
| summarize arg_max(TimeGenerated, *) by IncidentNumber
| mv-expand AlertId = AlertIds to typeof(string)
| join kind=inner Alerts on $left.AlertId == $right.SystemAlertId
| mv-expand Feed = split(IndicatorSources, ", ") to typeof(string)
| summarize Incidents = dcount(IncidentNumber) by Feed, Classification = iff(isempty(Classification), "Open", Classification)`},
		},
	},
}

// buildWorkbook renders the workbook JSON (Notebook/1.0) from workbookTabs.
func buildWorkbook(t *testing.T) []byte {
	t.Helper()
	prelude := readText(t, "rules/ti-prelude.kql")
	type obj = map[string]any
	params := obj{
		"type": 9,
		"name": "parameters",
		"content": obj{
			"version": "KqlParameterItem/1.0",
			"parameters": []obj{
				{
					"id": "f2s-workspace", "version": "KqlParameterItem/1.0", "name": "Workspace", "type": 5, "isRequired": true,
					"query":     "where type =~ 'microsoft.operationalinsights/workspaces'\n| project id",
					"queryType": 1, "resourceType": "microsoft.resourcegraph/resources",
					"crossComponentResources": []string{"value::all"},
					"typeSettings": obj{
						"resourceTypeFilter":        obj{"microsoft.operationalinsights/workspaces": true},
						"additionalResourceOptions": []string{"value::1"},
					},
					"value": "value::1",
				},
				{
					"id": "f2s-timerange", "version": "KqlParameterItem/1.0", "name": "TimeRange", "type": 4, "isRequired": true,
					"value": obj{"durationMs": 604800000}, // 7 days; 1, 7, 14 and 30 selectable
					"typeSettings": obj{"selectableValues": []obj{
						{"durationMs": 86400000}, {"durationMs": 604800000}, {"durationMs": 1209600000}, {"durationMs": 2592000000},
					}},
				},
				{
					"id": "f2s-sourcesystem", "version": "KqlParameterItem/1.0", "name": "SourceSystem", "label": "Source system",
					"type": 2, "isRequired": true, "value": "feeds2sentinel",
					"query":     "ThreatIntelIndicators\n| where TimeGenerated > ago(14d)\n| distinct SourceSystem\n| order by SourceSystem asc",
					"queryType": 0, "resourceType": "microsoft.operationalinsights/workspaces",
					"crossComponentResources": []string{"{Workspace}"},
					"typeSettings":            obj{"additionalResourceOptions": []string{}},
				},
				{"id": "f2s-tab", "version": "KqlParameterItem/1.0", "name": "Tab", "type": 1, "isHiddenWhenLocked": true, "value": workbookTabs[0].name},
			},
		},
	}
	var links []obj
	for _, tab := range workbookTabs {
		links = append(links, obj{"id": "f2s-link-" + slug(tab.name), "cellValue": "Tab", "linkTarget": "parameter", "linkLabel": tab.name,
			"subTarget": tab.name, "style": "link"})
	}
	items := []obj{
		{"type": 1, "name": "title", "content": obj{"json": "# feeds2sentinel\nPublic threat-intel feeds uploaded to Microsoft Sentinel: " +
			"pipeline health, the indicators in the workspace and the alerts they produce. Queries are checked offline by infra/kql_test.go."}},
		params,
		{"type": 11, "name": "tabs", "content": obj{"version": "LinkItem/1.0", "style": "tabs", "links": links}},
	}
	for _, tab := range workbookTabs {
		group := []obj{{"type": 1, "name": slug(tab.name) + "-intro", "content": obj{"json": tab.intro}}}
		for _, q := range tab.tiles {
			text := "let F2SSourceSystem = \"{SourceSystem}\";\n"
			if q.prelude {
				text += prelude
			}
			text += q.query
			group = append(group, obj{"type": 3, "name": slug(q.title), "content": obj{
				"version": "KqlItem/1.0", "query": text, "size": 0, "title": q.title,
				"timeContextFromParameter": "TimeRange", "queryType": 0,
				"resourceType": "microsoft.operationalinsights/workspaces", "crossComponentResources": []string{"{Workspace}"},
				"visualization": q.visualization,
			}})
		}
		items = append(items, obj{"type": 12, "name": slug(tab.name), "content": obj{"version": "NotebookGroup/1.0", "groupType": "editable", "items": group},
			"conditionalVisibility": obj{"parameterName": "Tab", "comparison": "isEqualTo", "value": tab.name}})
	}
	wb := obj{"version": "Notebook/1.0", "items": items, "fallbackResourceIds": []string{},
		"$schema": "https://github.com/Microsoft/Application-Insights-Workbooks/blob/master/schema/workbook.json"}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(wb); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func slug(s string) string {
	return strings.ToLower(strings.NewReplacer(" ", "-", ":", "", ",", "", "'", "").Replace(s))
}

// TestWorkbookGolden keeps workbooks/feeds2sentinel.json equal to what
// buildWorkbook renders; -update rewrites it.
func TestWorkbookGolden(t *testing.T) {
	got := buildWorkbook(t)
	if *updateGolden {
		if err := os.WriteFile(workbookPath, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(workbookPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is not what the layout in workbook_test.go renders; run go test ./infra -run TestWorkbookGolden -update", workbookPath)
	}
}

// workbookQuery is a Logs query found in the workbook JSON.
type workbookQuery struct {
	name, text string
}

// workbookQueries returns every Logs query (queryType 0) of the workbook
// file, at any depth: tiles and query-driven parameters. Resource Graph
// queries (queryType 1) are a different schema and are not returned.
func workbookQueries(t *testing.T) []workbookQuery {
	t.Helper()
	var wb map[string]any
	if err := json.Unmarshal([]byte(readText(t, workbookPath)), &wb); err != nil {
		t.Fatalf("%s: %v", workbookPath, err)
	}
	if wb["version"] != "Notebook/1.0" {
		t.Errorf("%s: version %v, want Notebook/1.0", workbookPath, wb["version"])
	}
	var qs []workbookQuery
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case map[string]any:
			if q, ok := x["query"].(string); ok && x["queryType"] == float64(0) {
				name := path
				if n, ok := x["name"].(string); ok {
					name += "/" + n
				} else if n, ok := x["title"].(string); ok {
					name += "/" + n
				}
				qs = append(qs, workbookQuery{name: name, text: q})
			}
			for k, e := range x {
				walk(path+"."+k, e)
			}
		case []any:
			for i, e := range x {
				walk(fmt.Sprintf("%s[%d]", path, i), e)
			}
		}
	}
	walk("workbook", wb)
	return qs
}

// workbookParams stand in for the workbook's parameter substitution so that
// the language service sees what Log Analytics runs.
var workbookParams = strings.NewReplacer(
	"{TimeRange:grain}", "1h",
	"{TimeRange}", "> ago(7d)",
	"{SourceSystem}", "feeds2sentinel",
)

func TestWorkbookStructure(t *testing.T) {
	qs := workbookQueries(t)
	if len(qs) < 10 {
		t.Fatalf("found only %d Logs queries in %s", len(qs), workbookPath)
	}
	src := readText(t, workbookPath)
	for _, want := range []string{`"style": "tabs"`, `"resourceType": "microsoft.operationalinsights/workspaces"`, `"{Workspace}"`,
		"F2SRuns_CL", "ThreatIntelIndicators", "SecurityAlert", "SecurityIncident"} {
		if !strings.Contains(src, want) {
			t.Errorf("%s lacks %s", workbookPath, want)
		}
	}
	for _, q := range qs {
		if strings.Contains(q.text, "ThreatIntelligenceIndicator\n") || strings.Contains(q.text, "ThreatIntelligenceIndicator ") {
			t.Errorf("%s reads the legacy ThreatIntelligenceIndicator table", q.name)
		}
		if rest := workbookParams.Replace(q.text); strings.Contains(rest, "{") && !strings.Contains(rest, "dynamic(") {
			t.Errorf("%s uses a workbook parameter the checker does not substitute:\n%s", q.name, rest)
		}
	}
}
