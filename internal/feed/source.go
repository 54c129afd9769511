package feed

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/feeds2sentinel/feeds2sentinel/internal/ioc"
)

// The built-in feed names. They are stable: state, schedules and app
// settings are keyed by them.
const (
	NameThreatFox     = "threatfox"
	NameThreatFoxCSV  = "threatfox-csv"
	NameURLhaus       = "urlhaus"
	NameURLhausAPI    = "urlhaus-api"
	NameFeodoTracker  = "feodotracker"
	NameMalwareBazaar = "malwarebazaar"
	NameSSLBL         = "sslbl"
	NameOpenPhish     = "openphish"
	NameSpamhausDROP  = "spamhaus-drop"
)

// Settings are one feed's settings, as the app settings FEED_<NAME>_*
// give them (package config reads them).
type Settings struct {
	Name          string
	User          bool // a user-defined list
	Enabled       bool
	Schedule      string
	URL           string // "" = the source's default
	Confidence    int    // 0 = the source's default
	MinConfidence int
	Lifetimes     map[ioc.Type]time.Duration
	Labels        []string
	TLP           string
	Days          int      // threatfox API look-back
	MaxBytes      int64    // FEED_<NAME>_MAX_BYTES fetch limit; 0 = the source's default
	Complete      bool     // user lists: the list is complete (revocation)
	Type          ioc.Type // user lists: all lines are of this type
}

// SettingName returns the app setting of a feed and a suffix:
// SettingName("threatfox-csv", "SCHEDULE") is FEED_THREATFOX_CSV_SCHEDULE.
// It is the only place that builds these names.
func SettingName(feed, suffix string) string {
	return "FEED_" + strings.ToUpper(strings.ReplaceAll(feed, "-", "_")) + "_" + suffix
}

// The abuse.ch Auth-Key: the setting that holds it and where to get one.
// Sources with AbuseCH set send it.
const (
	AbuseCHKeySetting = "ABUSECH_AUTH_KEY"
	AbuseCHKeyURL     = "https://auth.abuse.ch/"
)

// defaultMinInterval is the polling floor of feeds that state none.
const defaultMinInterval = 5 * time.Minute

// Payload size units for Source.MaxBytes.
const (
	mib = 1 << 20
	gib = 1 << 30
)

// DefaultUserListMaxBytes is the fetch limit of user-defined lists.
const DefaultUserListMaxBytes = 512 * mib

// smallFeedMaxBytes is the fetch limit of feeds whose payload is a few
// MiB at most (blocklists, the last 1000 URLs): ample headroom, and a
// runaway or hostile response is cut off early.
const smallFeedMaxBytes = 64 * mib

// Source describes a feed: where it lives, how to request it, how often it
// may be fetched and how to parse it. Sources are plain values; build them
// with Builtin or NewUserList and pass them down explicitly.
type Source struct {
	// Name is the stable feed name, e.g. "threatfox".
	Name string
	// DefaultURL is where the feed is fetched unless configured otherwise.
	DefaultURL string
	// AltURLs are other documented URLs serving the same format (for
	// example a full dump, which abuse.ch serves as a ZIP: see ErrZipped).
	AltURLs []string
	// Method is the HTTP method, "GET" or "POST".
	Method string
	// Body builds the request body and its content type for POST feeds;
	// nil for GET feeds.
	Body func(opts BodyOptions) (body []byte, contentType string)
	// AbuseCH says the feed is run by abuse.ch: send the Auth-Key header.
	AbuseCH bool
	// RequiresKey says the endpoint fails without an Auth-Key, so a missing
	// key is a configuration error rather than something to try.
	RequiresKey bool
	// MinInterval is the shortest allowed time between two fetches.
	MinInterval time.Duration
	// MaxBytes is the largest payload a fetch of this feed accepts, after
	// decompression (for a zip, also the archive): sized with headroom
	// for the largest full dump any of its URLs serves. The app setting
	// FEED_<NAME>_MAX_BYTES overrides it.
	MaxBytes int64
	// Complete says the feed publishes the complete current list, so the
	// lifecycle layer may revoke indicators that disappear from it. Use
	// CompleteAt when the URL may be configured.
	Complete bool
	// CompleteURLs are URLs whose payload is a complete list even though
	// DefaultURL's is not (URLhaus csv_online).
	CompleteURLs []string
	// DefaultConfidence (0-100) applies to records that carry none.
	DefaultConfidence int
	// Parse parses a payload of this feed.
	Parse Parser
	// Labels are added to every indicator from this feed.
	Labels []string
	// TLP is the feed's TLP marking: clear, green, amber, amber+strict, red.
	TLP string
	// Docs is one paragraph for humans: what the feed is, its auth, and how
	// statuses are handled.
	Docs string
}

// BodyOptions parameterize the request body of POST feeds. The zero value
// asks for the default window.
type BodyOptions struct {
	// Days is the ThreatFox get_iocs window, clamped to 1-7; 0 means 1
	// (the incremental pull; use 7 for a first run).
	Days int
}

// CompleteAt reports whether the payload at u is a complete current list:
// the source is Complete, or u is one of its CompleteURLs.
func (s Source) CompleteAt(u string) bool {
	return s.Complete || slices.Contains(s.CompleteURLs, u)
}

// Lookup returns the source named name.
func Lookup(sources []Source, name string) (Source, bool) {
	for _, s := range sources {
		if s.Name == name {
			return s, true
		}
	}
	return Source{}, false
}

// threatFoxBody is the get_iocs request: {"query":"get_iocs","days":N}.
func threatFoxBody(opts BodyOptions) ([]byte, string) {
	days := min(max(opts.Days, 1), 7)
	b, _ := json.Marshal(struct {
		Query string `json:"query"`
		Days  int    `json:"days"`
	}{"get_iocs", days})
	return b, "application/json"
}

// bazaarBody is the get_recent request, form-encoded.
func bazaarBody(BodyOptions) ([]byte, string) {
	v := url.Values{"query": {"get_recent"}, "selector": {"time"}}
	return []byte(v.Encode()), "application/x-www-form-urlencoded"
}

// Builtin returns the built-in feeds, in a stable order. Each call returns
// a new slice that the caller may modify.
func Builtin() []Source {
	return []Source{{
		Name:              NameThreatFox,
		DefaultURL:        "https://threatfox-api.abuse.ch/api/v1/",
		Method:            "POST",
		Body:              threatFoxBody,
		AbuseCH:           true,
		RequiresKey:       true,
		MinInterval:       defaultMinInterval,
		MaxBytes:          256 * mib, // get_iocs: at most 7 days, tens of MiB of JSON
		DefaultConfidence: 50,
		Parse:             ParseThreatFoxJSON,
		TLP:               "clear",
		Docs: "ThreatFox API (abuse.ch) get_iocs: IOCs added in the last 1-7 days (Days option). " +
			"Requires an abuse.ch Auth-Key; auth query_status values fail with ErrAuth, no_result is an empty success. " +
			"Record confidence_level is used when given. Not a complete list: nothing is revoked when IOCs age out.",
	}, {
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
	}, {
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
	}, {
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
	}, {
		Name:       NameFeodoTracker,
		DefaultURL: "https://feodotracker.abuse.ch/downloads/ipblocklist.json",
		Method:     "GET", AbuseCH: true, MinInterval: defaultMinInterval,
		MaxBytes:          smallFeedMaxBytes,
		Complete:          true,
		DefaultConfidence: 90,
		Parse:             ParseFeodoTracker,
		TLP:               "clear",
		Docs: "Feodo Tracker (abuse.ch) botnet C2 IP blocklist, JSON: the complete current list, so C2s that disappear may be revoked. " +
			"Auth-Key sent when configured. Offline C2s are kept with Status offline and a short validity.",
	}, {
		Name:       NameMalwareBazaar,
		DefaultURL: "https://mb-api.abuse.ch/api/v1/",
		AltURLs:    []string{"https://bazaar.abuse.ch/export/csv/recent/", "https://bazaar.abuse.ch/export/csv/full/"},
		Method:     "POST", Body: bazaarBody, AbuseCH: true, RequiresKey: true, MinInterval: defaultMinInterval,
		// The full CSV export: every sample ever submitted (well over a
		// million) at about 450 bytes a row.
		MaxBytes:          2 * gib,
		DefaultConfidence: 80,
		Parse:             ParseMalwareBazaar,
		TLP:               "clear",
		Docs: "MalwareBazaar (abuse.ch) recent samples via the API (get_recent, selector=time; requires an Auth-Key) " +
			"or the CSV export (GET the alternative URLs). One indicator per hash (SHA-256, SHA-1, MD5). " +
			"no_result(s) is an empty success; auth statuses fail with ErrAuth. Not a complete list.",
	}, {
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
	}, {
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
	}, {
		Name:              NameSpamhausDROP,
		DefaultURL:        "https://www.spamhaus.org/drop/drop_v4.json",
		AltURLs:           []string{"https://www.spamhaus.org/drop/drop_v6.json", "https://www.spamhaus.org/drop/drop.txt"},
		Method:            "GET",
		MinInterval:       time.Hour,
		MaxBytes:          smallFeedMaxBytes,
		Complete:          true,
		DefaultConfidence: 90,
		Parse:             ParseSpamhausDROP,
		TLP:               "clear",
		Docs: "Spamhaus DROP (Don't Route Or Peer): netblocks hijacked or run by criminals, NDJSON with a metadata line " +
			"whose record count is checked (legacy drop.txt also accepted). Automated downloads must be at least one hour apart. " +
			"No auth. The complete current list.",
	}}
}
