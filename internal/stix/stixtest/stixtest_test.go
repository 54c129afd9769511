package stixtest

import (
	"strings"
	"testing"
)

const goodIndicator = `{"type":"indicator","spec_version":"2.1","id":"indicator--8e2e2d2b-17d4-5c8d-a0a3-6a9b2f5a4c11",` +
	`"created":"2024-05-01T10:00:00.000Z","modified":"2024-05-01T10:00:00.000Z","confidence":50,` +
	`"external_references":[{"source_name":"threatfox","external_id":"1","url":"https://threatfox.abuse.ch/ioc/1/"}],` +
	`"object_marking_refs":["marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"],` +
	`"pattern":"[ipv4-addr:value = '1.2.3.4']","pattern_type":"stix","pattern_version":"2.1",` +
	`"valid_from":"2024-05-01T10:00:00.000Z","valid_until":"2024-05-15T10:00:00.000Z"}`

const goodIdentity = `{"type":"identity","spec_version":"2.1","id":"identity--8e2e2d2b-17d4-5c8d-a0a3-6a9b2f5a4c11",` +
	`"created":"2024-01-01T00:00:00.000Z","modified":"2024-01-01T00:00:00.000Z","name":"threatfox","identity_class":"organization"}`

func TestCheck(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		obj     string
		wantErr string // "" = valid
	}{
		{"indicator", goodIndicator, ""},
		{"identity", goodIdentity, ""},
		{"not json", `{`, "not JSON"},
		{"array", `[]`, "not a JSON object"},
		{"other type", `{"type":"malware"}`, "not indicator or identity"},
		{"missing pattern", strings.Replace(goodIndicator, `"pattern":`, `"x_pattern":`, 1), "schema"},
		{"empty labels", strings.Replace(goodIndicator, `"confidence":50`, `"confidence":50,"labels":[]`, 1), "schema"},
		{"confidence 101", strings.Replace(goodIndicator, `"confidence":50`, `"confidence":101`, 1), "schema"},
		{"bad id", strings.Replace(goodIndicator, `indicator--8e2e`, `indicator--xe2e`, 1), "schema"},
		{"seconds only", strings.Replace(goodIndicator, `"created":"2024-05-01T10:00:00.000Z"`, `"created":"2024-05-01T10:00:00Z"`, 1), "schema"},
		{"ext ref without id or url", strings.Replace(goodIndicator, `"external_id":"1","url":"https://threatfox.abuse.ch/ioc/1/"`, `"x":"1"`, 1), "schema"},
		{"ext ref bad url", strings.Replace(goodIndicator, `https://threatfox.abuse.ch/ioc/1/`, `not a url`, 1), "schema"},
		{"modified before created", strings.Replace(goodIndicator, `"modified":"2024-05-01T10:00:00.000Z"`, `"modified":"2024-04-01T10:00:00.000Z"`, 1), "before created"},
		{"until not after from", strings.Replace(goodIndicator, `2024-05-15T10`, `2024-05-01T10`, 1), "not after"},
		{"compound pattern", strings.Replace(goodIndicator, `'1.2.3.4']`, `'1.2.3.4' AND ipv4-addr:value = '5.6.7.8']`, 1), "invalid pattern"},
		{"unmapped path", strings.Replace(goodIndicator, `ipv4-addr:value`, `ipv4-addr:resolves_to_refs`, 1), "unsupported"},
		{"identity without name", strings.Replace(goodIdentity, `"name":"threatfox",`, ``, 1), "schema"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := check([]byte(tc.obj))
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("check: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("check: no error, want %q", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("check: %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestValidateAll(t *testing.T) {
	t.Parallel()
	ValidateAll(t, [][]byte{[]byte(goodIndicator), []byte(goodIdentity)})
}
