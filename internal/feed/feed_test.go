package feed

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/feeds2sentinel/feeds2sentinel/internal/ioc"
)

var update = flag.Bool("update", false, "update golden files")

// sample is a testdata payload and the parser it belongs to.
type sampleCase struct {
	file  string
	parse Parser
	// list formats cannot detect truncation (undetectable) and accept an
	// empty payload (emptyOK).
	undetectable, emptyOK bool
}

func sampleCases() []sampleCase {
	return []sampleCase{
		{file: "threatfox_get_iocs_response.json", parse: ParseThreatFoxJSON},
		{file: "threatfox_iocs_records.ndjson", parse: ParseThreatFoxJSON},
		{file: "threatfox_export_csv_recent_2026_fixture.csv", parse: ParseThreatFoxCSV},
		{file: "threatfox_export_csv_full_2024_head.csv", parse: ParseThreatFoxCSV},
		{file: "urlhaus_csv_recent.csv", parse: ParseURLhausCSV},
		{file: "urlhaus_csv_2019_header_constructed.csv", parse: ParseURLhausCSV},
		{file: "urlhaus_api_urls_recent.json", parse: ParseURLhausAPI},
		{file: "feodo_ipblocklist.json", parse: ParseFeodoTracker},
		{file: "malwarebazaar_api_get_recent.json", parse: ParseMalwareBazaar},
		{file: "malwarebazaar_export_csv_constructed.csv", parse: ParseMalwareBazaar},
		{file: "sslbl_sslblacklist.csv", parse: ParseSSLBL},
		{file: "openphish_feed.txt", parse: ParseOpenPhish, undetectable: true, emptyOK: true},
		{file: "spamhaus_drop_v4.json", parse: ParseSpamhausDROP},
		{file: "spamhaus_drop_legacy.txt", parse: ParseSpamhausDROP, undetectable: true},
		{file: "blocklistde_imap.txt", parse: ListParser("blocklistde", ioc.TypeIPv4), undetectable: true, emptyOK: true},
		{file: "cins_ci-badguys.txt", parse: ListParser("cins", ""), undetectable: true, emptyOK: true},
		{file: "et_compromised-ips.txt", parse: ListParser("et", ""), undetectable: true, emptyOK: true},
	}
}

func readSample(t testing.TB, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// collect runs parse over data and returns what it emitted.
func collect(parse Parser, data []byte) ([]*ioc.Record, Stats, error) {
	var recs []*ioc.Record
	st, err := parse(context.Background(), bytes.NewReader(data), func(r *ioc.Record) error {
		recs = append(recs, r)
		return nil
	})
	return recs, st, err
}

type golden struct {
	Stats   Stats
	Records []*ioc.Record
}

func TestGolden(t *testing.T) {
	t.Parallel()
	for _, tc := range sampleCases() {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			recs, st, err := collect(tc.parse, readSample(t, tc.file))
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if st.Records != len(recs) || len(recs) == 0 {
				t.Fatalf("Stats.Records = %d, emitted %d", st.Records, len(recs))
			}
			got, err := json.MarshalIndent(golden{st, recs}, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", tc.file+".golden.json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("output differs from %s (run go test -update and review the diff):\n%s", path, got)
			}
		})
	}
}

// TestPayloadShapes runs every parser over damaged forms of its sample.
func TestPayloadShapes(t *testing.T) {
	t.Parallel()
	html := []byte("<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head></html>\n")
	for _, tc := range sampleCases() {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			data := readSample(t, tc.file)
			want, _, err := collect(tc.parse, data)
			if err != nil {
				t.Fatal(err)
			}

			_, _, err = collect(tc.parse, html)
			if !errors.Is(err, ErrBadPayload) || !strings.Contains(err.Error(), "502 Bad Gateway") {
				t.Errorf("HTML page: err = %v, want ErrBadPayload quoting the page", err)
			}

			_, _, err = collect(tc.parse, []byte("PK\x03\x04\x14\x00\x00\x00"))
			if !errors.Is(err, ErrZipped) {
				t.Errorf("zip: err = %v, want ErrZipped", err)
			}

			got, _, err := collect(tc.parse, nil)
			if tc.emptyOK {
				if err != nil || len(got) != 0 {
					t.Errorf("empty list: %d records, err %v; want none, nil", len(got), err)
				}
			} else if !errors.Is(err, ErrBadPayload) {
				t.Errorf("empty payload: err = %v, want ErrBadPayload", err)
			}

			if !tc.undetectable {
				cut := data[:len(data)/2]
				if _, _, err := collect(tc.parse, cut); !errors.Is(err, ErrBadPayload) {
					t.Errorf("truncated payload: err = %v, want ErrBadPayload", err)
				}
			}

			for name, variant := range map[string][]byte{
				"BOM":  append([]byte("\xef\xbb\xbf"), data...),
				"CRLF": bytes.ReplaceAll(bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n")), []byte("\n"), []byte("\r\n")),
				"LF":   bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n")),
			} {
				got, _, err := collect(tc.parse, variant)
				if err != nil {
					t.Errorf("%s: %v", name, err)
					continue
				}
				if !sameRecords(got, want) {
					t.Errorf("%s: records differ from the plain sample", name)
				}
			}
		})
	}
}

func sameRecords(a, b []*ioc.Record) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

func TestEmitErrorStops(t *testing.T) {
	t.Parallel()
	stop := errors.New("stop")
	for _, tc := range sampleCases() {
		n := 0
		_, err := tc.parse(context.Background(), bytes.NewReader(readSample(t, tc.file)), func(*ioc.Record) error {
			n++
			return stop
		})
		if !errors.Is(err, stop) || n != 1 {
			t.Errorf("%s: err = %v after %d calls, want stop after 1", tc.file, err, n)
		}
	}
}

func TestCanceledContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range sampleCases() {
		_, err := tc.parse(ctx, bytes.NewReader(readSample(t, tc.file)), func(*ioc.Record) error { return nil })
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s: err = %v, want context.Canceled", tc.file, err)
		}
	}
}

// errReader fails after its data.
type errReader struct {
	data []byte
	err  error
}

func (r *errReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestReadErrorIsNotBadPayload(t *testing.T) {
	t.Parallel()
	boom := errors.New("connection reset")
	for _, tc := range sampleCases() {
		data := readSample(t, tc.file)
		_, err := tc.parse(context.Background(), &errReader{data: data[:len(data)/2], err: boom}, func(*ioc.Record) error { return nil })
		if !errors.Is(err, boom) || errors.Is(err, ErrBadPayload) {
			t.Errorf("%s: err = %v, want the read error", tc.file, err)
		}
	}
}
