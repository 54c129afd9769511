package feed

import (
	"context"
	"html"
	"io"
	"time"

	"github.com/feeds2sentinel/feeds2sentinel/internal/ioc"
)

const expectOpenPhish = "OpenPhish feed.txt (one URL per line)"

// ParseOpenPhish parses the OpenPhish community feed: one URL per line,
// HTML entities decoded ("&amp;" → "&"), blank and '#' lines ignored. Each
// URL becomes a Type url record with ThreatType phishing and ID the line
// number (the feed has no ids or timestamps). Lines longer than 64 KiB are
// skipped as "line_too_long".
func ParseOpenPhish(ctx context.Context, r io.Reader, emit Emit) (Stats, error) {
	const format = NameOpenPhish
	br, err := open(r, format, expectOpenPhish)
	if err != nil {
		return Stats{}, err
	}
	e := newEmitter(ctx, emit)
	l := &lineReader{format: format, br: br}
	var buf []byte
	err = l.each(&e.stats, func(line []byte) error {
		line = trimSpan(line, span{0, len(line)}).bytes(line)
		if len(line) == 0 || line[0] == '#' {
			return nil
		}
		r := e.record()
		r.Source = NameOpenPhish
		r.Value, r.ID, buf = valueAndLine(buf, line, l.n)
		r.Value = html.UnescapeString(r.Value)
		r.Type = ioc.TypeURL
		r.ThreatType = "phishing"
		return e.send(r)
	})
	return e.stats, err
}

// openPhishSource declares the OpenPhish feed (registered in Builtin).
func openPhishSource() Source {
	return Source{
		Name:              NameOpenPhish,
		DefaultURL:        "https://openphish.com/feed.txt",
		AltURLs:           []string{"https://raw.githubusercontent.com/openphish/public_feed/refs/heads/main/feed.txt"},
		Method:            "GET",
		MinInterval:       time.Hour,
		MaxBytes:          smallFeedMaxBytes,
		DefaultConfidence: 75,
		Parse:             ParseOpenPhish,
		TLP:               "clear",
		Docs: "OpenPhish community feed: phishing URLs, one per line, no timestamps. Said to be updated every 12 hours; " +
			"fetched at most hourly so updates are picked up without hammering. No auth. Not treated as complete.",
		Function: "FeedOpenPhish",
		Schedule: "0 30 */6 * * *",
		Enabled:  true,
	}
}
