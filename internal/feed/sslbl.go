package feed

import (
	"context"
	"io"
	"strings"
	"time"

	"github.com/feeds2sentinel/feeds2sentinel/internal/ioc"
)

const expectSSLBL = "SSLBL CSV with a '# Listingdate,SHA1,Listingreason' header"

// ParseSSLBL parses the SSLBL SSL certificate blacklist (sslblacklist.csv:
// banner, '# Listingdate,SHA1,Listingreason' header, unquoted rows). Each
// row becomes a Type x509-sha1 record: SHA1 → Value and ID, Listingdate →
// FirstSeen, ThreatType botnet_cc, MalwarePrintable the family from the
// "<Family> C&C" reason (the reason itself in Description), RecordURL
// https://sslbl.abuse.ch/ssl-certificates/sha1/<sha1>/.
func ParseSSLBL(ctx context.Context, r io.Reader, emit Emit) (Stats, error) {
	t, err := openTable(r, NameSSLBL, expectSSLBL, "sha1")
	if err != nil {
		return Stats{}, err
	}
	cDate, cSHA1, cReason := t.col("listingdate"), t.col("sha1"), t.col("listingreason")
	e := newEmitter(ctx, emit)
	err = t.each(func(rec []string) error {
		sha1 := field(rec, cSHA1)
		if sha1 == "" {
			e.stats.skip("empty_value")
			return nil
		}
		reason := field(rec, cReason)
		r := e.record()
		r.Source = NameSSLBL
		r.ID = sha1
		r.Value = sha1
		r.Type = ioc.TypeX509SHA1
		r.ThreatType = "botnet_cc"
		r.FirstSeen = csvTime(&e.stats, rec, cDate, "listingdate")
		r.Description = reason
		r.MalwarePrintable = strings.TrimSpace(strings.TrimSuffix(reason, " C&C"))
		r.RecordURL = "https://sslbl.abuse.ch/ssl-certificates/sha1/" + sha1 + "/"
		return e.send(r)
	})
	return e.stats, err
}

// sslblSource declares the SSLBL feed (registered in Builtin).
func sslblSource() Source {
	return Source{
		Name:       NameSSLBL,
		DefaultURL: "https://sslbl.abuse.ch/blacklist/sslblacklist.csv",
		Method:     "GET", AbuseCH: true, MinInterval: 5 * time.Minute,
		MaxBytes:          smallFeedMaxBytes,
		Complete:          true,
		DefaultConfidence: 90,
		Parse:             ParseSSLBL,
		TLP:               "clear",
		Docs: "SSLBL SSL certificate blacklist (abuse.ch): SHA-1 fingerprints of botnet C&C certificates, regenerated every 5 minutes " +
			"(do not fetch more often). The complete current list. Auth-Key sent when configured.",
		Function: "FeedSSLBL",
		Schedule: "0 20 * * * *",
		Enabled:  true,
	}
}
