// Package stixtest validates STIX 2.1 objects in tests: against the OASIS
// STIX 2.1 JSON schemas (embedded, draft 2020-12, no network) and against the
// rules the schemas cannot express that Sentinel and this project rely on.
// Any package's tests can use it; it does not depend on the working
// directory.
package stixtest

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/feeds2sentinel/feeds2sentinel/internal/stix"
)

// schemaFS holds the OASIS cti-stix2-json-schemas (stix2.1 branch), see
// schemas/README.md and schemas/LICENSE.
//
//go:embed schemas
var schemaFS embed.FS

// schemaBase is the prefix of every schema $id.
const schemaBase = "http://raw.githubusercontent.com/oasis-open/cti-stix2-json-schemas/stix2.1/schemas/"

// compiled compiles the indicator and identity schemas once per test binary.
var compiled = sync.OnceValues(compile)

type schemas struct {
	byType map[string]*jsonschema.Schema
}

func compile() (*schemas, error) {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	err := fs.WalkDir(schemaFS, "schemas", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") {
			return err
		}
		data, err := schemaFS.ReadFile(path)
		if err != nil {
			return err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		id, _ := doc.(map[string]any)["$id"].(string)
		if id == "" {
			return fmt.Errorf("%s: no $id", path)
		}
		return c.AddResource(id, doc)
	})
	if err != nil {
		return nil, err
	}
	s := &schemas{byType: map[string]*jsonschema.Schema{}}
	for typ, file := range map[string]string{"indicator": "sdos/indicator.json", "identity": "sdos/identity.json"} {
		sch, err := c.Compile(schemaBase + file)
		if err != nil {
			return nil, fmt.Errorf("compile %s: %w", file, err)
		}
		s.byType[typ] = sch
	}
	return s, nil
}

// Validate reports a test error unless obj is one valid STIX 2.1 indicator
// or identity: it must match the OASIS schema of its type, its timestamps
// must have millisecond precision with modified >= created, and an
// indicator's pattern must parse with stix.ParsePattern and map to an
// observable, with valid_until (when present) after valid_from.
func Validate(t testing.TB, obj []byte) {
	t.Helper()
	if err := check(obj); err != nil {
		t.Errorf("invalid STIX object: %v\n%s", err, obj)
	}
}

// ValidateAll calls Validate for each object.
func ValidateAll(t testing.TB, objs [][]byte) {
	t.Helper()
	for _, obj := range objs {
		Validate(t, obj)
	}
}

// check returns why obj is not valid, or nil.
func check(obj []byte) error {
	s, err := compiled()
	if err != nil {
		return fmt.Errorf("loading schemas: %w", err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(obj))
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	m, ok := inst.(map[string]any)
	if !ok {
		return fmt.Errorf("not a JSON object")
	}
	typ, _ := m["type"].(string)
	sch, ok := s.byType[typ]
	if !ok {
		return fmt.Errorf("type %q is not indicator or identity", typ)
	}
	if err := sch.Validate(inst); err != nil {
		return fmt.Errorf("schema: %w", err)
	}
	var x struct {
		Created    string `json:"created"`
		Modified   string `json:"modified"`
		ValidFrom  string `json:"valid_from"`
		ValidUntil string `json:"valid_until"`
		Pattern    string `json:"pattern"`
	}
	if err := json.Unmarshal(obj, &x); err != nil {
		return err
	}
	created, err := parseTime("created", x.Created)
	if err != nil {
		return err
	}
	modified, err := parseTime("modified", x.Modified)
	if err != nil {
		return err
	}
	if modified.Before(created) {
		return fmt.Errorf("modified %s is before created %s", x.Modified, x.Created)
	}
	if typ != "indicator" {
		return nil
	}
	c, err := stix.ParsePattern(x.Pattern)
	if err != nil {
		return err
	}
	if _, _, err := stix.ObservableFromComparison(c); err != nil {
		return err
	}
	from, err := parseTime("valid_from", x.ValidFrom)
	if err != nil {
		return err
	}
	if x.ValidUntil != "" {
		until, err := parseTime("valid_until", x.ValidUntil)
		if err != nil {
			return err
		}
		if !until.After(from) {
			return fmt.Errorf("valid_until %s is not after valid_from %s", x.ValidUntil, x.ValidFrom)
		}
	}
	return nil
}

func parseTime(name, s string) (time.Time, error) {
	t, err := time.Parse(stix.TimeFormat, s)
	if err != nil {
		return t, fmt.Errorf("%s %q is not %s: %w", name, s, stix.TimeFormat, err)
	}
	return t, nil
}
