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
	// Function is the name of the feed's timer function, e.g.
	// "FeedThreatFox" (built-in sources; user lists share FeedUserLists).
	Function string
	// Schedule is the default NCRONTAB schedule (UTC) of the timer,
	// FEED_<NAME>_SCHEDULE; keep it no more frequent than MinInterval.
	Schedule string
	// Enabled says the feed runs unless FEED_<NAME>_ENABLED=false.
	Enabled bool
	// Days is the default look-back of an API feed that asks for the
	// last N days (FEED_<NAME>_DAYS); 0 for feeds without one.
	Days int
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
// a new slice that the caller may modify. It is the source registry: a
// source is declared once, in its own file, and registered here by one
// line; the function table, the settings and their defaults, the generated
// function.json files, `handler feeds`, the README and the Bicep derive
// from it or are tested against it.
func Builtin() []Source {
	return []Source{
		threatFoxSource(),
		threatFoxCSVSource(),
		urlhausSource(),
		urlhausAPISource(),
		feodoSource(),
		malwareBazaarSource(),
		sslblSource(),
		openPhishSource(),
		spamhausSource(),
	}
}
