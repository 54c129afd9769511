package feed

import (
	"errors"
	"strings"
	"testing"

	"github.com/feeds2sentinel/feeds2sentinel/internal/ioc"
)

// outcome is what a parser run should give.
type outcome struct {
	records int
	err     error // sentinel the error must wrap; nil = success
	skipped map[string]int
	fields  map[string]int
	check   func(t *testing.T, recs []*ioc.Record)
}

func runCases(t *testing.T, parse Parser, cases map[string]struct {
	in   string
	want outcome
}) {
	t.Helper()
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			recs, st, err := collect(parse, []byte(tc.in))
			if tc.want.err == nil && err != nil || tc.want.err != nil && !errors.Is(err, tc.want.err) {
				t.Fatalf("err = %v, want %v", err, tc.want.err)
			}
			if err != nil {
				return
			}
			if len(recs) != tc.want.records {
				t.Errorf("%d records, want %d", len(recs), tc.want.records)
			}
			for k, v := range tc.want.skipped {
				if st.SkippedBy[k] != v {
					t.Errorf("SkippedBy[%q] = %d, want %d", k, st.SkippedBy[k], v)
				}
			}
			for k, v := range tc.want.fields {
				if st.FieldErrors[k] != v {
					t.Errorf("FieldErrors[%q] = %d, want %d", k, st.FieldErrors[k], v)
				}
			}
			if tc.want.check != nil && len(recs) > 0 {
				tc.want.check(t, recs)
			}
		})
	}
}

const tfRec = `{"id":"1","ioc":"evil.example","ioc_type":"domain","threat_type":"botnet_cc","malware":"win.x","confidence_level":75,"first_seen":"2022-08-05 19:43:08 UTC"}`

func TestThreatFoxJSON(t *testing.T) {
	t.Parallel()
	runCases(t, ParseThreatFoxJSON, map[string]struct {
		in   string
		want outcome
	}{
		"ok":                {`{"query_status":"ok","data":[` + tfRec + `]}`, outcome{records: 1}},
		"data first":        {`{"data":[` + tfRec + `],"query_status":"ok"}`, outcome{records: 1}},
		"no_result":         {`{"query_status":"no_result","data":"Your search did not yield any results"}`, outcome{}},
		"empty data":        {`{"query_status":"ok","data":[]}`, outcome{}},
		"null data":         {`{"query_status":"ok","data":null}`, outcome{}},
		"auth_key_required": {`{"query_status":"auth_key_required","data":null}`, outcome{err: ErrAuth}},
		"unknown_auth_key":  {`{"query_status":"unknown_auth_key"}`, outcome{err: ErrAuth}},
		"bad status after data": {`{"data":[` + tfRec + `],"query_status":"illegal_query"}`,
			outcome{err: ErrBadPayload}},
		"string data with ok":       {`{"query_status":"ok","data":"oops"}`, outcome{err: ErrBadPayload}},
		"truncated":                 {`{"query_status":"ok","data":[` + tfRec[:40], outcome{err: ErrBadPayload}},
		"trailing garbage":          {`{"query_status":"ok","data":[]} x`, outcome{err: ErrBadPayload}},
		"not json":                  {`query_status=ok`, outcome{err: ErrBadPayload}},
		"mixed envelope and record": {`{"query_status":"ok","ioc":"x.example"}`, outcome{err: ErrBadPayload}},
		"unknown fields and nesting": {`{"query_status":"ok","extra":{"a":[1,{"b":null}]},"data":[{"new_field":[{"x":1}],"ioc":"a.example","ioc_type":"domain","malware_samples":[{"sha256":"x"}]}]}`,
			outcome{records: 1}},
		"all nulls": {`{"query_status":"ok","data":[{"id":null,"ioc":"a.example","ioc_type":null,"threat_type":null,"malware":null,"malware_printable":null,"malware_alias":null,"malware_malpedia":null,"confidence_level":null,"first_seen":null,"last_seen":null,"reference":null,"reporter":null,"tags":null,"is_compromised":null}]}`,
			outcome{records: 1, check: func(t *testing.T, recs []*ioc.Record) {
				r := recs[0]
				if r.ID != "" || r.ConfidenceSet || !r.FirstSeen.IsZero() || r.Tags != nil || r.RecordURL != "" || r.Type != "" {
					t.Errorf("nulls gave %+v", r)
				}
			}}},
		"string confidence, compromised, aliases, escapes": {`{"query_status":"ok","data":[{"id":"7","ioc":"http:\/\/x.example\/a?b=1\u0026c=\u00e9","ioc_type":"url","confidence_level":"80","is_compromised":true,"malware":"unknown","malware_printable":"Unknown malware","malware_alias":"A, B,,C","tags":["t1"," t2 "]}]}`,
			outcome{records: 1, check: func(t *testing.T, recs []*ioc.Record) {
				r := recs[0]
				if r.Value != "http://x.example/a?b=1&c=é" || r.Confidence != 80 || !r.ConfidenceSet || r.Malware != "" || r.MalwarePrintable != "" ||
					strings.Join(r.MalwareAliases, "|") != "A|B|C" || strings.Join(r.Tags, "|") != "t1|t2|compromised" || r.RecordURL != "https://threatfox.abuse.ch/ioc/7/" {
					t.Errorf("got %+v", r)
				}
			}}},
		"confidence -1 and bad values": {`{"data":[{"ioc":"a.example","confidence_level":-1,"first_seen":"yesterday"},{"ioc":"b.example","confidence_level":300}]}`,
			outcome{records: 2, fields: map[string]int{"first_seen": 1, "confidence_level": 1}}},
		"skips": {`{"data":[{"ioc":"","ioc_type":"domain"},{"ioc":"abc","ioc_type":"sha3_384_hash"}]}`,
			outcome{skipped: map[string]int{"empty_value": 1, "unsupported_ioc_type": 1}}},
		"ipv6 ip:port": {`{"ioc":"2a02:cf40:1::5:40669","ioc_type":"ip:port"}` + "\n" + `{"ioc":"1.2.3.4:80","ioc_type":"ip:port"}`,
			outcome{records: 2, check: func(t *testing.T, recs []*ioc.Record) {
				if recs[0].Value != "[2a02:cf40:1::5]:40669" || recs[1].Value != "1.2.3.4:80" {
					t.Errorf("values %q %q", recs[0].Value, recs[1].Value)
				}
			}}},
		"json export": {`{"1797050":[{"ioc_value":"141.98.10.115:1430","ioc_type":"ip:port","threat_type":"botnet_cc","malware":"elf.xorddos","malware_printable":"XOR DDoS","first_seen_utc":"2026-04-24 07:29:26","confidence_level":75}]}`,
			outcome{records: 1, check: func(t *testing.T, recs []*ioc.Record) {
				if recs[0].ID != "1797050" || recs[0].FirstSeen.IsZero() {
					t.Errorf("got %+v", recs[0])
				}
			}}},
	})
}

func TestThreatFoxCSV(t *testing.T) {
	t.Parallel()
	const header = `# "first_seen_utc","ioc_id","ioc_value","ioc_type","threat_type","fk_malware","malware_alias","malware_printable","last_seen_utc","confidence_level","reference","tags","anonymous","reporter"` + "\n"
	const row = `"2024-07-16 06:45:19", "1", "x.example", "domain", "botnet_cc", "win.lokipws", "None", "Loki", "", "75", "None", "a,b", "1", "None"` + "\n"
	runCases(t, ParseThreatFoxCSV, map[string]struct {
		in   string
		want outcome
	}{
		"ok": {header + row, outcome{records: 1, check: func(t *testing.T, recs []*ioc.Record) {
			r := recs[0]
			if r.Reporter != "anonymous" || r.Reference != "" || r.MalwareAliases != nil || !r.LastSeen.IsZero() {
				t.Errorf("got %+v", r)
			}
		}}},
		"empty feed":              {header + "# Number of entries: 0\n", outcome{}},
		"trailer mismatch":        {header + row + "# Number of entries: 2\n", outcome{err: ErrBadPayload}},
		"missing required column": {`# "first_seen_utc","ioc_id","value","ioc_type"` + "\n", outcome{err: ErrBadPayload}},
		"extra columns reordered": {`# "new_col","ioc_type","ioc_value"` + "\n" + `"z", "url", "http://x.example/"` + "\n",
			outcome{records: 1}},
		"short row":   {header + `"2024-07-16 06:45:19", "1", "x.example"` + "\n", outcome{err: ErrBadPayload}},
		"bad quoting": {header + `"2024-07-16 06:45:19", "1", "x."example"` + "\n", outcome{err: ErrBadPayload}},
		"no header":   {row, outcome{err: ErrBadPayload}},
	})
	_, _, err := collect(ParseThreatFoxCSV, []byte(`# "first_seen_utc","ioc_id","value","type"`+"\n"))
	if err == nil || !strings.Contains(err.Error(), `"ioc_value", "ioc_type"`) {
		t.Errorf("missing columns error %v does not name them", err)
	}
}
