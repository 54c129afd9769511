package infra

import (
	"strings"
	"testing"

	"github.com/feeds2sentinel/feeds2sentinel/internal/runrecord"
	"github.com/feeds2sentinel/feeds2sentinel/internal/runrecord/ingestfake"
)

// TestRunRecords: the run-records module is off by default (it needs rights
// on the Sentinel workspace the deployer may not have), deployed with the
// workspace, and wires the settings only when on; its rule is Direct, sends
// the stream the code writes into the table unchanged, and the app may
// write to that rule and nothing more.
func TestRunRecords(t *testing.T) {
	t.Parallel()
	main := readText(t, "main.bicep")
	if p := params(main)["runRecords"]; p.typ != "bool" || p.def != "false" {
		t.Errorf("param runRecords = %+v, want bool = false", p)
	}
	requireAll(t, "main.bicep runrecords module", main,
		"module runRecordsTable 'modules/runrecords.bicep' = if (runRecords) {",
		"  scope: resourceGroup(sentinelParts[2], sentinelParts[4])\n  params: {\n    workspaceName: sentinelParts[8]")
	if got := defaultOf(t, "RUN_RECORDS_STREAM"); got != runrecord.Stream {
		t.Errorf("RUN_RECORDS_STREAM defaults to %s, the code writes %s", got, runrecord.Stream)
	}
	set := appSettings(t)
	for name, want := range map[string]string{
		"RUN_RECORDS_ENDPOINT": "runRecords ? runRecordsTable.outputs.endpoint : ''",
		"RUN_RECORDS_DCR_ID":   "runRecords ? runRecordsTable.outputs.immutableId : ''",
		"RUN_RECORDS_STREAM":   "runRecords ? runRecordsTable.outputs.stream : '" + runrecord.Stream + "'",
	} {
		if got := set[name]; got != want {
			t.Errorf("%s = %s, want %s", name, got, want)
		}
	}

	src := readText(t, "modules/runrecords.bicep")
	stream, cols, err := ingestfake.StreamFromBicep(src)
	if err != nil {
		t.Fatal(err)
	}
	if stream != runrecord.Stream {
		t.Errorf("stream %s, the code writes %s", stream, runrecord.Stream)
	}
	if len(cols) == 0 || cols[0].Name != "TimeGenerated" || cols[0].Type != "datetime" {
		t.Errorf("the first column is %+v, want TimeGenerated datetime", cols)
	}
	dcr := resourceBlock(src, "dcr")
	requireAll(t, "runrecords.bicep dcr", dcr,
		"'Microsoft.Insights/dataCollectionRules@", "kind: 'Direct'", "location: workspace.location",
		"workspaceResourceId: workspace.id", "transformKql: 'source'",
		"outputStream: '"+runrecord.Stream+"'", "'"+runrecord.Stream+"': {\n        columns: streamColumns")
	table := resourceBlock(src, "table")
	requireAll(t, "runrecords.bicep table", table,
		"'Microsoft.OperationalInsights/workspaces/tables@", "parent: workspace",
		"name: '"+runrecord.Table+"'", "plan: 'Analytics'", "columns: tableColumns")
	requireAll(t, "runrecords.bicep", src,
		"var tableColumns = map(streamColumns, c => {", "type: c.type == 'datetime' ? 'dateTime' : c.type",
		"existing = {\n  name: workspaceName")
	if !strings.HasPrefix(runrecord.Stream, "Custom-") || runrecord.Stream != "Custom-"+runrecord.Table {
		t.Errorf("stream %s does not feed table %s", runrecord.Stream, runrecord.Table)
	}
	role := resourceBlock(src, "publisher")
	requireAll(t, "runrecords.bicep role", role, "scope: dcr", "metricsPublisher", "principalId: principalId")
	if !strings.Contains(src, "var metricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb' // Monitoring Metrics Publisher") {
		t.Error("runrecords.bicep does not grant Monitoring Metrics Publisher")
	}
	for _, out := range []string{"output endpoint string = dcr.properties.endpoints.logsIngestion",
		"output immutableId string = dcr.properties.immutableId", "output stream string = '" + runrecord.Stream + "'"} {
		if !strings.Contains(src, out) {
			t.Errorf("runrecords.bicep lacks %q", out)
		}
	}
}
