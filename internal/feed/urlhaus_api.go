package feed

import (
	"context"
	"io"
	"time"

	"github.com/feeds2sentinel/feeds2sentinel/internal/ioc"
)

const expectURLhausAPI = `URLhaus API JSON {"query_status":"ok","urls":[...]}`

// ParseURLhausAPI parses a URLhaus API urls/recent response
// {"query_status":"ok","urls":[...]}. Each element becomes a Type url
// record: id → ID, url → Value, url_status → Status, date_added →
// FirstSeen, threat → ThreatType, reporter, tags (null = none),
// urlhaus_reference → RecordURL; host, blacklists and larted are not used.
// Offline entries get ValidUntil (see OfflineValidity).
func ParseURLhausAPI(ctx context.Context, r io.Reader, emit Emit) (Stats, error) {
	const format = NameURLhausAPI
	br, err := open(r, format, expectURLhausAPI)
	if err != nil {
		return Stats{}, err
	}
	e := newEmitter(ctx, emit)
	j := &jsonRecord{s: newScanner(format, br), st: &e.stats}
	err = envelope(j.s, expectURLhausAPI, "urls", func() error {
		return urlhausRecord(e, j)
	})
	return e.stats, err
}

func urlhausRecord(e *emitter, j *jsonRecord) error {
	var id, url, status, threat, reporter, ref span
	var tags [2]int
	var added time.Time
	err := j.object("URLhaus URL object", func(key []byte) (err error) {
		switch string(key) {
		case "id":
			id, err = j.str()
		case "url":
			url, err = j.str()
		case "url_status":
			status, err = j.str()
		case "threat":
			threat, err = j.str()
		case "reporter":
			reporter, err = j.str()
		case "urlhaus_reference", "urlhaus_link":
			ref, err = j.str()
		case "tags":
			tags, err = j.list()
		case "date_added", "dateadded":
			added, err = j.time("date_added")
		default:
			err = j.s.skip(0)
		}
		return err
	})
	if err != nil {
		return err
	}
	if url.a == url.b {
		e.stats.skip("empty_value")
		return nil
	}
	if ref.a == ref.b && id.b > id.a {
		ref = j.wrap("https://urlhaus.abuse.ch/url/", id, "/")
	}
	s := string(j.buf)
	r := e.record()
	r.Source = NameURLhausAPI
	r.ID = id.of(s)
	r.Value = url.of(s)
	r.Type = ioc.TypeURL
	r.Status = status.of(s)
	r.ThreatType = threat.of(s)
	r.Reporter = reporter.of(s)
	r.RecordURL = ref.of(s)
	r.Tags = e.tags(s, j.spans, tags, "")
	r.FirstSeen = added
	setOfflineValidity(r)
	return e.send(r)
}

// urlhausAPISource declares the URLhausAPI feed (registered in Builtin).
func urlhausAPISource() Source {
	return Source{
		Name:       NameURLhausAPI,
		DefaultURL: "https://urlhaus-api.abuse.ch/v1/urls/recent/",
		AltURLs:    []string{"https://urlhaus-api.abuse.ch/v1/urls/recent/limit/1000/"},
		Method:     "GET", AbuseCH: true, RequiresKey: true, MinInterval: defaultMinInterval,
		MaxBytes:          smallFeedMaxBytes, // at most 1000 URLs
		DefaultConfidence: 80,
		Parse:             ParseURLhausAPI,
		TLP:               "clear",
		Docs: "URLhaus API urls/recent (abuse.ch): up to 1000 URLs added in the last 3 days. Requires an Auth-Key; " +
			"auth query_status values fail with ErrAuth. Offline URLs are kept with Status offline and a short validity.",
		Function: "FeedURLhausAPI",
		Schedule: "0 */30 * * * *",
		Enabled:  false,
	}
}
