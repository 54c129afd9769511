package feed

import (
	"context"
	"io"
	"time"

	"github.com/feeds2sentinel/feeds2sentinel/internal/ioc"
)

// OfflineValidity is how long after it was last seen online an entry that
// its source marks offline stays valid: parsers set Record.ValidUntil to
// last_online (or, when unknown, the date added) plus OfflineValidity for
// offline URLhaus and Feodo Tracker entries, so the pipeline lets them
// expire soon instead of applying the full lifetime policy.
const OfflineValidity = 7 * 24 * time.Hour

const expectURLhausCSV = "URLhaus CSV dump with a '# id,dateadded,url,url_status,...' header"

// ParseURLhausCSV parses the URLhaus CSV dumps (csv_recent, csv_online and
// the unpacked full dump). Columns are found by header name (url is
// required; older dumps without last_online are fine). Each row becomes a
// Type url record: id → ID, dateadded → FirstSeen, last_online → LastSeen,
// url_status → Status, threat → ThreatType, tags ("None" = none),
// urlhaus_link → RecordURL, reporter. Offline rows are emitted with
// Status "offline" and ValidUntil set (see OfflineValidity).
func ParseURLhausCSV(ctx context.Context, r io.Reader, emit Emit) (Stats, error) {
	t, err := openTable(r, NameURLhaus, expectURLhausCSV, "url")
	if err != nil {
		return Stats{}, err
	}
	var (
		cID       = t.col("id")
		cAdded    = t.col("dateadded")
		cURL      = t.col("url")
		cStatus   = t.col("url_status")
		cLast     = t.col("last_online")
		cThreat   = t.col("threat")
		cTags     = t.col("tags")
		cLink     = t.col("urlhaus_link")
		cReporter = t.col("reporter")
	)
	e := newEmitter(ctx, emit)
	err = t.each(func(rec []string) error {
		value := field(rec, cURL)
		if value == "" {
			e.stats.skip("empty_value")
			return nil
		}
		r := e.record()
		r.Source = NameURLhaus
		r.ID = field(rec, cID)
		r.Value = value
		r.Type = ioc.TypeURL
		r.FirstSeen = csvTime(&e.stats, rec, cAdded, "dateadded")
		r.LastSeen = csvTime(&e.stats, rec, cLast, "last_online")
		r.Status = field(rec, cStatus)
		r.ThreatType = field(rec, cThreat)
		r.Tags = e.list(field(rec, cTags), "")
		r.RecordURL = field(rec, cLink)
		if r.RecordURL == "" && r.ID != "" {
			r.RecordURL = "https://urlhaus.abuse.ch/url/" + r.ID + "/"
		}
		r.Reporter = field(rec, cReporter)
		setOfflineValidity(r)
		return e.send(r)
	})
	return e.stats, err
}

// setOfflineValidity sets ValidUntil for a record whose Status is offline.
func setOfflineValidity(r *ioc.Record) {
	if r.Status != "offline" {
		return
	}
	base := r.LastSeen
	if base.IsZero() {
		base = r.FirstSeen
	}
	if !base.IsZero() {
		r.ValidUntil = base.Add(OfflineValidity)
	}
}

// urlhausSource declares the URLhaus feed (registered in Builtin).
func urlhausSource() Source {
	return Source{
		Name:       NameURLhaus,
		DefaultURL: "https://urlhaus.abuse.ch/downloads/csv_recent/",
		AltURLs: []string{"https://urlhaus.abuse.ch/downloads/csv_online/",
			"https://urlhaus.abuse.ch/downloads/csv/"},
		CompleteURLs: []string{"https://urlhaus.abuse.ch/downloads/csv_online/"},
		Method:       "GET", AbuseCH: true, MinInterval: defaultMinInterval,
		// The full dump: every URL ever listed, ids near 3.9 million by
		// 2026-09 at about 190 bytes a row, some 0.7 GiB and growing.
		MaxBytes:          2 * gib,
		DefaultConfidence: 80,
		Parse:             ParseURLhausCSV,
		TLP:               "clear",
		Docs: "URLhaus CSV dump (abuse.ch) of malware distribution URLs: csv_recent (default), csv_online (online URLs only; " +
			"a complete list, so vanished URLs may be revoked) or the full dump (ZIP). Auth-Key sent when configured. " +
			"Offline URLs are kept with Status offline and a short validity.",
		Function: "FeedURLhaus",
		Schedule: "0 */15 * * * *",
		Enabled:  true,
	}
}
