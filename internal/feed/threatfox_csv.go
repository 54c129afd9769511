package feed

import (
	"context"
	"io"
	"strings"
)

const expectThreatFoxCSV = "ThreatFox CSV export with a '# \"first_seen_utc\",\"ioc_id\",\"ioc_value\",...' header"

// ParseThreatFoxCSV parses the ThreatFox CSV export: the "recent" file and
// the unpacked full dump. The header is the '#' comment naming the quoted
// columns; rows are separated by ", ". Columns are found by name
// (ioc_value and ioc_type are required; unknown columns are ignored, so the
// 2026 is_compromised column and later additions are fine); "None" and ""
// are null. A "# Number of entries: N" trailer, when present, must match
// the rows read. Fields map as in ParseThreatFoxJSON; anonymous "1" with no
// reporter gives Reporter "anonymous".
func ParseThreatFoxCSV(ctx context.Context, r io.Reader, emit Emit) (Stats, error) {
	t, err := openTable(r, NameThreatFoxCSV, expectThreatFoxCSV, "ioc_value", "ioc_type")
	if err != nil {
		return Stats{}, err
	}
	var (
		cFirst    = t.col("first_seen_utc")
		cID       = t.col("ioc_id")
		cValue    = t.col("ioc_value")
		cType     = t.col("ioc_type")
		cThreat   = t.col("threat_type")
		cMalware  = t.col("fk_malware")
		cAlias    = t.col("malware_alias")
		cPrint    = t.col("malware_printable")
		cLast     = t.col("last_seen_utc")
		cConf     = t.col("confidence_level")
		cComp     = t.col("is_compromised")
		cRef      = t.col("reference")
		cTags     = t.col("tags")
		cAnon     = t.col("anonymous")
		cReporter = t.col("reporter")
	)
	e := newEmitter(ctx, emit)
	err = t.each(func(rec []string) error {
		value := field(rec, cValue)
		if value == "" {
			e.stats.skip("empty_value")
			return nil
		}
		iocType := field(rec, cType)
		typ, ok := threatFoxType([]byte(iocType))
		if !ok {
			e.stats.skip("unsupported_ioc_type")
			return nil
		}
		if iocType == "ip:port" {
			value = bracketIPv6Port(value)
		}
		r := e.record()
		r.Source = NameThreatFoxCSV
		r.ID = field(rec, cID)
		r.Value = value
		r.Type = typ
		r.ThreatType = field(rec, cThreat)
		if m := field(rec, cMalware); m != "unknown" {
			r.Malware = m
		}
		if m := field(rec, cPrint); m != "Unknown malware" {
			r.MalwarePrintable = m
		}
		r.MalwareAliases = e.list(field(rec, cAlias), "")
		r.FirstSeen = csvTime(&e.stats, rec, cFirst, "first_seen")
		r.LastSeen = csvTime(&e.stats, rec, cLast, "last_seen")
		if cConf >= 0 {
			if n, ok := confidence([]byte(rec[cConf]), &e.stats); ok {
				r.Confidence, r.ConfidenceSet = n, true
			}
		}
		r.Reference = field(rec, cRef)
		r.Reporter = field(rec, cReporter)
		if r.Reporter == "" && field(rec, cAnon) == "1" {
			r.Reporter = "anonymous"
		}
		extra := ""
		if cComp >= 0 && isTrue([]byte(rec[cComp])) {
			extra = "compromised"
		}
		r.Tags = e.list(field(rec, cTags), extra)
		if r.ID != "" {
			r.RecordURL = "https://threatfox.abuse.ch/ioc/" + r.ID + "/"
		}
		return e.send(r)
	})
	return e.stats, err
}

// bracketIPv6Port rewrites an unbracketed IPv6 ip:port, splitting on the
// last colon: "2a02:cf40:1::5:40669" becomes "[2a02:cf40:1::5]:40669".
func bracketIPv6Port(v string) string {
	if strings.Count(v, ":") < 2 || strings.HasPrefix(v, "[") {
		return v
	}
	i := strings.LastIndexByte(v, ':')
	return "[" + v[:i] + "]" + v[i:]
}

// threatFoxCSVSource declares the ThreatFoxCSV feed (registered in Builtin).
func threatFoxCSVSource() Source {
	return Source{
		Name:       NameThreatFoxCSV,
		DefaultURL: "https://threatfox.abuse.ch/export/csv/recent/",
		AltURLs:    []string{"https://threatfox.abuse.ch/export/csv/full/"},
		Method:     "GET", AbuseCH: true, MinInterval: defaultMinInterval,
		// The full dump of July 2024: 1,217,668 entries, 596 MiB of CSV
		// (smaller since IOCs expire after six months).
		MaxBytes:          1 * gib,
		DefaultConfidence: 50,
		Parse:             ParseThreatFoxCSV,
		TLP:               "clear",
		Docs: "ThreatFox CSV export (abuse.ch): recent additions, or the full dump (a ZIP with full.csv) at the alternative URL. " +
			"Auth-Key sent when configured. Columns are read by header name; the entry-count trailer is checked. " +
			"Not a complete list.",
		Function: "FeedThreatFoxCSV",
		Schedule: "0 5 * * * *",
		Enabled:  false,
	}
}
