package feed

import (
	"testing"
	"time"

	"github.com/feeds2sentinel/feeds2sentinel/internal/ioc"
)

func TestURLhausCSV(t *testing.T) {
	t.Parallel()
	const header = "# id,dateadded,url,url_status,last_online,threat,tags,urlhaus_link,reporter\n"
	runCases(t, ParseURLhausCSV, map[string]struct {
		in   string
		want outcome
	}{
		"offline gets short validity": {header + `"9","2026-02-26 11:30:24","http://x.example/a,b","offline","","malware_download","None","","r"` + "\n",
			outcome{records: 1, check: func(t *testing.T, recs []*ioc.Record) {
				r := recs[0]
				want := time.Date(2026, 3, 5, 11, 30, 24, 0, time.UTC)
				if r.Status != "offline" || !r.ValidUntil.Equal(want) || r.Tags != nil || r.RecordURL != "https://urlhaus.abuse.ch/url/9/" || r.Value != "http://x.example/a,b" {
					t.Errorf("got %+v", r)
				}
			}}},
		"empty feed":      {header, outcome{}},
		"missing url":     {"# id,dateadded,link\n", outcome{err: ErrBadPayload}},
		"empty url":       {header + `"9","","","online","","","","",""` + "\n", outcome{skipped: map[string]int{"empty_value": 1}}},
		"bad timestamp":   {header + `"9","26/02/2026","http://x.example/","online","","","","",""` + "\n", outcome{records: 1, fields: map[string]int{"dateadded": 1}}},
		"extra column":    {"# id,url,new\n" + `"1","http://x.example/","z"` + "\n", outcome{records: 1}},
		"truncated quote": {header + `"9","2026-02-26 11:30:24","http://x.ex`, outcome{err: ErrBadPayload}},
	})
}

func TestURLhausAPI(t *testing.T) {
	t.Parallel()
	runCases(t, ParseURLhausAPI, map[string]struct {
		in   string
		want outcome
	}{
		"nulls": {`{"query_status":"ok","urls":[{"id":null,"url":"http://x.example/","url_status":null,"date_added":null,"tags":null,"blacklists":null,"larted":null,"new":{"x":[1]}}]}`,
			outcome{records: 1}},
		"offline": {`{"query_status":"ok","urls":[{"id":"5","url":"http://x.example/","url_status":"offline","date_added":"2021-10-05 13:57:05 UTC"}]}`,
			outcome{records: 1, check: func(t *testing.T, recs []*ioc.Record) {
				if recs[0].ValidUntil.IsZero() || recs[0].RecordURL != "https://urlhaus.abuse.ch/url/5/" {
					t.Errorf("got %+v", recs[0])
				}
			}}},
		"no_results":  {`{"query_status":"no_results"}`, outcome{}},
		"auth":        {`{"query_status":"auth_key_required"}`, outcome{err: ErrAuth}},
		"wrong shape": {`{"query_status":"ok","urls":{"a":1}}`, outcome{err: ErrBadPayload}},
		"no keys":     {`{"foo":1}`, outcome{err: ErrBadPayload}},
		"truncated":   {`{"query_status":"ok","urls":[{"id":"5"`, outcome{err: ErrBadPayload}},
	})
}

func TestFeodoTracker(t *testing.T) {
	t.Parallel()
	runCases(t, ParseFeodoTracker, map[string]struct {
		in   string
		want outcome
	}{
		"empty":  {`[]`, outcome{}},
		"object": {`{"ip_address":"1.2.3.4"}`, outcome{err: ErrBadPayload}},
		"nulls and bad port": {`[{"ip_address":"1.2.3.4","port":"x","status":null,"hostname":null,"as_number":null,"first_seen":null,"last_online":null,"malware":null,"new":[1]}]`,
			outcome{records: 1, fields: map[string]int{"port": 1}, check: func(t *testing.T, recs []*ioc.Record) {
				if recs[0].Value != "1.2.3.4" || recs[0].Description != "" {
					t.Errorf("got %+v", recs[0])
				}
			}}},
		"ipv6": {`[{"ip_address":"2001:db8::1","port":443}]`, outcome{records: 1, check: func(t *testing.T, recs []*ioc.Record) {
			if recs[0].Value != "[2001:db8::1]:443" {
				t.Errorf("value %q", recs[0].Value)
			}
		}}},
		"no ip": {`[{"port":443}]`, outcome{skipped: map[string]int{"empty_value": 1}}},
	})
}

func TestMalwareBazaar(t *testing.T) {
	t.Parallel()
	runCases(t, ParseMalwareBazaar, map[string]struct {
		in   string
		want outcome
	}{
		"no_results":       {`{"query_status":"no_results"}`, outcome{}},
		"no_api_key":       {`{"query_status":"no_api_key"}`, outcome{err: ErrAuth}},
		"user_blacklisted": {`{"query_status":"user_blacklisted"}`, outcome{err: ErrAuth}},
		"illegal":          {`{"query_status":"http_post_expected"}`, outcome{err: ErrBadPayload}},
		"md5 only": {`{"query_status":"ok","data":[{"md5_hash":"1fc1c2997c8f55ac10496b88e23f5320","signature":null,"tags":null}]}`,
			outcome{records: 1, check: func(t *testing.T, recs []*ioc.Record) {
				if recs[0].Type != ioc.TypeMD5 || recs[0].RecordURL != "" {
					t.Errorf("got %+v", recs[0])
				}
			}}},
		"csv missing sha256": {`# "first_seen_utc","md5_hash"` + "\n", outcome{err: ErrBadPayload}},
	})
}

func TestSSLBL(t *testing.T) {
	t.Parallel()
	runCases(t, ParseSSLBL, map[string]struct {
		in   string
		want outcome
	}{
		"ok": {"# Listingdate,SHA1,Listingreason\r\n2024-07-11 07:15:27,1bd1fee41dac6fda021becc6ed67c26e7e7315ed,Sliver C&C\r\n",
			outcome{records: 1, check: func(t *testing.T, recs []*ioc.Record) {
				if recs[0].MalwarePrintable != "Sliver" || recs[0].Type != ioc.TypeX509SHA1 {
					t.Errorf("got %+v", recs[0])
				}
			}}},
		"deprecated empty list": {"# ATTENTION: This list has been deprecated\n# Listingdate,SHA1,Listingreason\n", outcome{}},
		"renamed column":        {"# Listingdate,Fingerprint,Listingreason\n", outcome{err: ErrBadPayload}},
	})
}

func TestOpenPhish(t *testing.T) {
	t.Parallel()
	runCases(t, ParseOpenPhish, map[string]struct {
		in   string
		want outcome
	}{
		"entities comments blanks": {"# c\n\n  https://a.example/?x=1&amp;y=2  \r\nhttp://b.example/\n",
			outcome{records: 2, check: func(t *testing.T, recs []*ioc.Record) {
				if recs[0].Value != "https://a.example/?x=1&y=2" || recs[0].ID != "3" || recs[1].ID != "4" {
					t.Errorf("got %+v", recs[0])
				}
			}}},
	})
}

func TestSpamhausDROP(t *testing.T) {
	t.Parallel()
	runCases(t, ParseSpamhausDROP, map[string]struct {
		in   string
		want outcome
	}{
		"v6 without metadata": {`{"cidr":"2a06:e480::/29","sblid":"SBL301771","rir":"ripencc"}` + "\n", outcome{records: 1}},
		"count mismatch":      {`{"cidr":"1.2.3.0/24","sblid":"SBL1"}` + "\n" + `{"type":"metadata","records":2}` + "\n", outcome{err: ErrBadPayload}},
		"metadata only":       {`{"type":"metadata","records":0}`, outcome{skipped: map[string]int{"metadata": 1}}},
		"cut line":            {`{"cidr":"1.2.3.0/24","sbl`, outcome{err: ErrBadPayload}},
		"legacy":              {"; comment\r\n1.4.0.0/17 ; SBL256893\r\n", outcome{records: 1}},
		"legacy garbage":      {"; comment\nthis is not a list\n", outcome{err: ErrBadPayload}},
	})
	if _, _, err := collect(ParseSpamhausDROP, readSample(t, "spamhaus_drop_v4_trimmed.json")); err == nil {
		t.Error("the trimmed upstream sample (11 rows, metadata says 1355) parsed without error")
	}
}
