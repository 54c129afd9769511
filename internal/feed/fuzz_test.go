package feed

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/feeds2sentinel/feeds2sentinel/internal/ioc"
)

// fuzzParser seeds f with samples and checks that parse never panics and
// that on success every record has a Source and a Value and the counts add
// up.
func fuzzParser(f *testing.F, parse Parser, samples ...string) {
	for _, s := range samples {
		f.Add(readSample(f, s))
	}
	f.Add([]byte{})
	f.Add([]byte("<html>"))
	for _, p := range echoPayloads { // a server echoing the Auth-Key
		f.Add([]byte(expand(p)))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		n := 0
		st, err := parse(context.Background(), bytes.NewReader(data), func(r *ioc.Record) error {
			n++
			if r.Source == "" || r.Value == "" {
				t.Fatalf("record without Source or Value: %+v", r)
			}
			return nil
		})
		if err != nil {
			if !errors.Is(err, ErrBadPayload) && !errors.Is(err, ErrAuth) && !errors.Is(err, ErrZipped) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			return
		}
		if st.Records != n {
			t.Fatalf("Stats.Records = %d, emitted %d", st.Records, n)
		}
	})
}

func FuzzThreatFoxJSON(f *testing.F) {
	fuzzParser(f, ParseThreatFoxJSON, "threatfox_get_iocs_response.json", "threatfox_iocs_records.ndjson")
}

func FuzzThreatFoxCSV(f *testing.F) {
	fuzzParser(f, ParseThreatFoxCSV, "threatfox_export_csv_recent_2026_fixture.csv", "threatfox_export_csv_full_2024_head.csv")
}

func FuzzURLhausCSV(f *testing.F) {
	fuzzParser(f, ParseURLhausCSV, "urlhaus_csv_recent.csv", "urlhaus_csv_2019_header_constructed.csv")
}

func FuzzURLhausAPI(f *testing.F) {
	fuzzParser(f, ParseURLhausAPI, "urlhaus_api_urls_recent.json")
}

func FuzzFeodoTracker(f *testing.F) {
	fuzzParser(f, ParseFeodoTracker, "feodo_ipblocklist.json")
}

func FuzzMalwareBazaar(f *testing.F) {
	fuzzParser(f, ParseMalwareBazaar, "malwarebazaar_api_get_recent.json", "malwarebazaar_export_csv_constructed.csv")
}

func FuzzSSLBL(f *testing.F) {
	fuzzParser(f, ParseSSLBL, "sslbl_sslblacklist.csv")
}

func FuzzOpenPhish(f *testing.F) {
	fuzzParser(f, ParseOpenPhish, "openphish_feed.txt")
}

func FuzzSpamhausDROP(f *testing.F) {
	fuzzParser(f, ParseSpamhausDROP, "spamhaus_drop_v4.json", "spamhaus_drop_legacy.txt")
}

func FuzzUserList(f *testing.F) {
	fuzzParser(f, ListParser("mylist", ""), "cins_ci-badguys.txt", "blocklistde_imap.txt")
}

// FuzzScannerSkip checks the JSON scanner against encoding/json: it must
// accept exactly the valid JSON values.
func FuzzScannerSkip(f *testing.F) {
	for _, s := range []string{`{"a":[1,2.5e3,"x\u00e9\ud83d\ude00"]}`, `[]`, `"\ud800"`, `-0.1`, `{"a":}`, `[1,]`, `nul`, `01`} {
		f.Add([]byte(s))
	}
	f.Add(readSample(f, "threatfox_get_iocs_response.json"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := newScanner("test", bytes.NewReader(data))
		err := s.skip(0)
		if err == nil {
			err = s.done()
		}
		valid := json.Valid(data)
		if (err == nil) != valid {
			// encoding/json limits nesting to 10000; the scanner to maxDepth.
			if valid && bytes.Count(data, []byte("["))+bytes.Count(data, []byte("{")) > maxDepth {
				return
			}
			t.Fatalf("scanner err = %v, json.Valid = %v for %q", err, valid, data)
		}
	})
}
