// check.js: parses and analyzes KQL queries offline with the Kusto language
// service (@kusto/language-service-next), against declared table and
// function schemas, and prints the diagnostics as JSON. infra/kql_test.go
// runs it; nothing here touches the network or a workspace.
//
// stdin: {"tables": {"Name": "(Col:type, ...)"},
//         "functions": {"Name": {"parameters": "(p:type=default, ...)", "schema": "(Col:type, ...)"}},
//         "queries": [{"name": "...", "text": "..."}]}
// stdout: [{"name": "...", "diagnostics": [{"severity", "code", "message", "start", "length"}]}]
//
// The package is found through NODE_PATH (the Go test sets it to the tools
// directory .ci/run installs into) or an npm install in this directory.
'use strict';

const fs = require('fs');

function load() {
  // The Bridge.NET runtime must be loaded before the language service; both
  // register themselves as globals.
  require('@kusto/language-service-next/bridge.min.js');
  require('@kusto/language-service-next/Kusto.Language.Bridge.min.js');
  return global.Kusto.Language;
}

function main() {
  let K;
  try {
    K = load();
  } catch (e) {
    process.stderr.write('check.js: cannot load @kusto/language-service-next: ' + e.message + '\n');
    process.exit(3);
  }
  const input = JSON.parse(fs.readFileSync(0, 'utf8'));
  const S = K.Symbols;
  const members = [];
  for (const [name, schema] of Object.entries(input.tables || {})) {
    members.push(new S.TableSymbol.$ctor7(name, schema, null));
  }
  for (const [name, fn] of Object.entries(input.functions || {})) {
    // A tabular function whose body is an empty datatable of the declared
    // columns: calls are checked against the parameters, the rest of the
    // query against the columns.
    const body = '{ datatable' + fn.schema + '[] }';
    members.push(new S.FunctionSymbol.$ctor16(name, fn.parameters || '()', body, null));
  }
  const db = new S.DatabaseSymbol.$ctor2('workspace', null, members);
  const globals = K.GlobalState.Default.WithDatabase(db);
  const out = [];
  for (const q of input.queries || []) {
    const diags = K.KustoCode.ParseAndAnalyze(q.text, globals).GetDiagnostics();
    const list = [];
    for (let i = 0; i < diags.Count; i++) {
      const d = diags.getItem(i);
      list.push({ severity: d.Severity, code: d.Code, message: d.Message, start: d.Start, length: d.Length });
    }
    out.push({ name: q.name, diagnostics: list });
  }
  process.stdout.write(JSON.stringify(out));
}

main();
