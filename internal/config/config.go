// Package config reads every setting of feeds2sentinel once, from the
// process environment (Azure app settings arrive as environment variables),
// into one typed, validated Config. A missing or malformed setting is an
// error that names the setting and says what is expected.
//
// The table of settings is Settings(); the README's settings table,
// local.settings.json.example and infra/ are checked against it by tests.
package config

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/feeds2sentinel/feeds2sentinel/internal/app"
	"github.com/feeds2sentinel/feeds2sentinel/internal/feed"
	"github.com/feeds2sentinel/feeds2sentinel/internal/ingest"
	"github.com/feeds2sentinel/feeds2sentinel/internal/invoke"
	"github.com/feeds2sentinel/feeds2sentinel/internal/ioc"
	"github.com/feeds2sentinel/feeds2sentinel/internal/queue"
	"github.com/feeds2sentinel/feeds2sentinel/internal/sentinel"
	"github.com/feeds2sentinel/feeds2sentinel/internal/stix"
)

// ErrInvalid is matched by every *SettingError.
var ErrInvalid = errors.New("invalid setting")

// SettingError reports one bad setting.
type SettingError struct {
	Setting string // the app setting name
	Value   string // the value as given (empty for secrets)
	Want    string // what is expected
}

// Error implements error.
func (e *SettingError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("setting %s: %s", e.Setting, e.Want)
	}
	return fmt.Sprintf("setting %s=%q: %s", e.Setting, e.Value, e.Want)
}

// Is reports whether target is ErrInvalid.
func (e *SettingError) Is(target error) bool { return target == ErrInvalid }

// Mode says what the process is for; some settings are required only in
// some modes.
type Mode int

// The modes.
const (
	// ModeLocal is a person running a subcommand (sync, convert, submit):
	// everything has an embedded default.
	ModeLocal Mode = iota
	// ModeHost is the process started by the Functions host: Service Bus
	// and the Sentinel workspace are required.
	ModeHost
)

// Config is every setting, validated.
type Config struct {
	// Sources are the built-in sources the feeds are configured for (the
	// registry's, feed.Builtin).
	Sources    []feed.Source
	Sentinel   Sentinel
	ServiceBus ServiceBus
	State      State
	Policy     Policy
	Submit     Submit
	RunRecords RunRecords
	// AbuseCHAuthKey is the abuse.ch Auth-Key (secret; never logged).
	AbuseCHAuthKey string
	// AzureClientID selects a user-assigned managed identity.
	AzureClientID string
	// DataDir is where local mode keeps its spool, state and bundle.
	DataDir string
	// Feeds holds the built-in feeds (always present, maybe disabled) and
	// the user-defined lists, sorted by name.
	Feeds []Feed
	// LogLevel is debug, info, warn or error.
	LogLevel string
	// InvocationTimeout bounds one function invocation.
	InvocationTimeout time.Duration
}

// Sentinel holds the upload API settings.
type Sentinel struct {
	WorkspaceID       string // SENTINEL_WORKSPACE_ID; "" = write a local bundle
	API               string // stix-objects or legacy
	Endpoint          string // base URL override
	SourceSystem      string
	RequestsPerMinute int
}

// ServiceBus holds the queue settings. Namespace "" means the local spool.
type ServiceBus struct {
	Namespace        string
	Queue            string
	ParkedQueue      string
	MaxDeliveryCount int
}

// State holds the state store settings.
type State struct {
	Kind             string // "table" or "file"
	TableServiceURL  string
	TableName        string
	ConnectionString string // development (Azurite) only
	File             string
	RefreshInterval  time.Duration
	RevokeGrace      time.Duration
	RevokeHold       float64 // share of a list a sweep may revoke at once
}

// Policy holds the allowlist and TLP defaults.
type Policy struct {
	AllowlistExtra   string // extra entries, as ioc.ParseAllowlist reads them
	AllowlistReplace bool   // drop the built-in allowlist
	DefaultTLP       string
}

// Submit holds the HTTP submission settings.
type Submit struct {
	MaxBytes   int64
	MaxItems   int
	Confidence int
	Lifetime   time.Duration
	Source     string
	// TrustPrincipalHeader says App Service authentication fronts the app,
	// so the X-MS-CLIENT-PRINCIPAL-NAME header it sets names the caller.
	// Otherwise any client could send the header: it is ignored.
	TrustPrincipalHeader bool
}

// RunRecords holds the Logs Ingestion settings of the run records.
// Endpoint "" means off.
type RunRecords struct {
	Endpoint string // DCR logs ingestion endpoint or DCE URL
	RuleID   string // the DCR's immutable id, dcr-…
	Stream   string
}

// Feed holds one feed's settings: the feed package's Settings, read from
// the app settings by Load.
type Feed = feed.Settings

// defaultUserListsSchedule is when FeedUserLists runs every user list.
const defaultUserListsSchedule = "0 50 * * * *"

// The range of FEED_<NAME>_MAX_BYTES: 1 MiB to 64 GiB.
const (
	minFeedMaxBytes = 1 << 20
	maxFeedMaxBytes = 64 << 30
)

// builtinFeeds returns the settings defaults of built-in sources, as the
// source registry (feed.Builtin) declares them.
func builtinFeeds(sources []feed.Source) []Feed {
	var out []Feed
	for _, src := range sources {
		out = append(out, Feed{Name: src.Name, Enabled: src.Enabled, Schedule: src.Schedule, Days: src.Days})
	}
	return out
}

// keyed reports whether the source name sends the abuse.ch Auth-Key.
func keyed(sources []feed.Source, name string) bool {
	src, ok := feed.Lookup(sources, name)
	return ok && src.AbuseCH
}

// BuiltinFeedNames returns the names of the built-in feeds.
func BuiltinFeedNames() []string {
	var names []string
	for _, f := range builtinFeeds(feed.Builtin()) {
		names = append(names, f.Name)
	}
	return names
}

var (
	dcrIDRE    = regexp.MustCompile(`^dcr-[0-9a-f]{32}$`)
	guidRE     = regexp.MustCompile(`^[{]?[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}[}]?$`)
	userFeedRE = regexp.MustCompile(`^FEED_([A-Z0-9_]+)_URL$`)
	cronRE     = regexp.MustCompile(`^\S+( \S+){5}$`)
)

// Load reads the configuration from env (name → value, as os.Environ gives
// it). Every problem is reported, joined, so one run shows them all.
func Load(env map[string]string, mode Mode) (*Config, error) {
	return LoadSources(env, mode, feed.Builtin())
}

// LoadSources is Load for an app whose built-in sources are sources (the
// registry's, or a test's with one more).
func LoadSources(env map[string]string, mode Mode, sources []feed.Source) (*Config, error) {
	r := reader{env: env}
	c := &Config{Sources: sources}
	c.Sentinel = Sentinel{
		WorkspaceID:       r.str("SENTINEL_WORKSPACE_ID", ""),
		API:               r.oneOf("SENTINEL_API", "stix-objects", "stix-objects", "legacy"),
		Endpoint:          r.url("SENTINEL_ENDPOINT"),
		SourceSystem:      r.str("SENTINEL_SOURCE_SYSTEM", "feeds2sentinel"),
		RequestsPerMinute: r.intRange("SENTINEL_REQUESTS_PER_MINUTE", sentinel.DefaultRequestsPerMinute, 1, sentinel.DefaultRequestsPerMinute),
	}
	if w := c.Sentinel.WorkspaceID; w != "" && !guidRE.MatchString(w) {
		r.fail("SENTINEL_WORKSPACE_ID", w, "the workspace ID, a GUID such as 00000000-0000-0000-0000-000000000000 (Log Analytics workspace > Overview > Workspace ID), not the resource ID")
	}
	if s := c.Sentinel.SourceSystem; len(s) > 256 || strings.EqualFold(strings.TrimSpace(s), "Microsoft Sentinel") || strings.TrimSpace(s) == "" {
		r.fail("SENTINEL_SOURCE_SYSTEM", s, `a name of 1-256 characters other than "Microsoft Sentinel"`)
	}
	ns := r.str("ServiceBusConnection__fullyQualifiedNamespace", "")
	c.ServiceBus = ServiceBus{Namespace: ns, Queue: r.str("SERVICEBUS_QUEUE", "sentinel-upload")}
	c.ServiceBus.ParkedQueue = r.str("SERVICEBUS_PARKED_QUEUE", c.ServiceBus.Queue+"-parked")
	c.ServiceBus.MaxDeliveryCount = r.intRange("SERVICEBUS_MAX_DELIVERY_COUNT", queue.DefaultMaxDeliveryCount, 1, 2000)
	if ns != "" && strings.ContainsAny(ns, "; ") {
		r.fail("ServiceBusConnection__fullyQualifiedNamespace", ns, "a namespace host name such as myns.servicebus.windows.net (identity-based; not a connection string)")
	}
	c.AbuseCHAuthKey = strings.TrimSpace(env[feed.AbuseCHKeySetting])
	c.AzureClientID = r.str("AZURE_CLIENT_ID", "")
	c.DataDir = r.str("F2S_DATA_DIR", ".f2s")
	c.LogLevel = r.oneOf("LOG_LEVEL", "info", "debug", "info", "warn", "error")
	c.InvocationTimeout = r.duration("INVOCATION_TIMEOUT", invoke.DefaultTimeout)

	c.State = State{
		TableServiceURL:  r.url("STATE_TABLE_SERVICE_URL"),
		TableName:        r.str("STATE_TABLE_NAME", "feeds2sentinel"),
		ConnectionString: r.str("STATE_CONNECTION_STRING", ""),
		File:             r.str("STATE_FILE", ""),
		RefreshInterval:  r.duration("INDICATOR_REFRESH_INTERVAL", ingest.DefaultRefreshInterval),
		RevokeGrace:      r.duration("REVOCATION_GRACE_PERIOD", ingest.DefaultRevokeGrace),
		RevokeHold:       r.fraction("REVOCATION_HOLD_FRACTION", 0.5),
	}
	if c.State.TableServiceURL == "" {
		if acct := r.str("AzureWebJobsStorage__accountName", ""); acct != "" {
			c.State.TableServiceURL = "https://" + acct + ".table.core.windows.net/"
		}
	}
	defKind := "file"
	if c.State.TableServiceURL != "" || c.State.ConnectionString != "" {
		defKind = "table"
	}
	c.State.Kind = r.oneOf("STATE_STORE", defKind, "table", "file")
	if c.State.Kind == "table" && c.State.TableServiceURL == "" && c.State.ConnectionString == "" {
		r.fail("STATE_STORE", "table", "STATE_TABLE_SERVICE_URL, AzureWebJobsStorage__accountName or STATE_CONNECTION_STRING to locate the table service")
	}
	if c.State.RefreshInterval > 13*24*time.Hour {
		r.fail("INDICATOR_REFRESH_INTERVAL", env["INDICATOR_REFRESH_INTERVAL"], "at most 13 days, so indicators are refreshed inside Sentinel's 14-day TI map look-back")
	}

	c.Policy = Policy{
		AllowlistExtra:   r.str("ALLOWLIST_EXTRA", ""),
		AllowlistReplace: r.boolean("ALLOWLIST_REPLACE_BUILTIN", false),
		DefaultTLP:       r.tlp("DEFAULT_TLP", "clear"),
	}
	c.Submit = Submit{
		MaxBytes:   int64(r.intRange("SUBMIT_MAX_BYTES", 5<<20, 1024, 100<<20)),
		MaxItems:   r.intRange("SUBMIT_MAX_ITEMS", 10000, 1, 100000),
		Confidence: r.intRange("MANUAL_CONFIDENCE", 70, 0, 100),
		Lifetime:   r.lifetime("MANUAL_LIFETIME", 30*24*time.Hour),
		Source:     r.str("MANUAL_SOURCE", "manual"),

		TrustPrincipalHeader: r.boolean("TRUST_CLIENT_PRINCIPAL_HEADER", false),
	}

	c.RunRecords = r.runRecords()

	known := map[string]bool{}
	for _, f := range builtinFeeds(sources) {
		known[feedKey(f.Name)] = true
		f = r.feed(f)
		if keyed(sources, f.Name) && f.URL != "" {
			r.keyedURL(feed.SettingName(f.Name, "URL"), f.URL)
		}
		c.Feeds = append(c.Feeds, f)
	}
	userSched := r.str(feed.SettingName(app.UserListsFeed, "SCHEDULE"), defaultUserListsSchedule)
	var users []string
	for k := range env {
		m := userFeedRE.FindStringSubmatch(k)
		if m == nil || known[m[1]] {
			continue
		}
		users = append(users, m[1])
	}
	sort.Strings(users)
	for _, u := range users {
		name := strings.ToLower(strings.ReplaceAll(u, "_", "-"))
		if len(name) > 40 {
			r.fail(feed.SettingName(name, "URL"), "", "a list name of at most 40 characters")
			continue
		}
		f := r.feed(Feed{Name: name, User: true, Enabled: true, Schedule: userSched})
		if f.URL == "" {
			r.fail(feed.SettingName(name, "URL"), "", "the URL of the list (http, https or file)")
		}
		c.Feeds = append(c.Feeds, f)
	}

	if mode == ModeHost {
		if c.State.Kind == "file" && r.str("STATE_STORE", "") == "" {
			r.fail("STATE_STORE", "", "in Azure, the Table Storage state shared by every instance: set AzureWebJobsStorage__accountName or STATE_TABLE_SERVICE_URL (STATE_STORE=file only for a single local host)")
		}
		if c.Sentinel.WorkspaceID == "" {
			r.fail("SENTINEL_WORKSPACE_ID", "", "required in Azure: the Sentinel workspace ID (GUID)")
		}
		if c.ServiceBus.Namespace == "" {
			r.fail("ServiceBusConnection__fullyQualifiedNamespace", "", "required in Azure: the Service Bus namespace host, e.g. myns.servicebus.windows.net")
		}
	}
	if len(r.errs) > 0 {
		return nil, errors.Join(r.errs...)
	}
	return c, nil
}

// defaultRunRecordsStream is runrecord.Stream (infra's tests keep them
// equal; config stays free of the Logs Ingestion client).
const defaultRunRecordsStream = "Custom-F2SRuns_CL"

// runRecords reads the RUN_RECORDS_* settings: all of them or none.
func (r *reader) runRecords() RunRecords {
	rr := RunRecords{
		Endpoint: r.url("RUN_RECORDS_ENDPOINT"),
		RuleID:   r.str("RUN_RECORDS_DCR_ID", ""),
		Stream:   r.str("RUN_RECORDS_STREAM", defaultRunRecordsStream),
	}
	if rr.Endpoint == "" {
		return rr
	}
	if u, _ := url.Parse(rr.Endpoint); u.Scheme == "http" && !loopback(u.Hostname()) {
		r.fail("RUN_RECORDS_ENDPOINT", rr.Endpoint, "an https URL: the app sends a bearer token there (http only to localhost or a loopback address)")
	}
	if !dcrIDRE.MatchString(rr.RuleID) {
		r.fail("RUN_RECORDS_DCR_ID", rr.RuleID, "the data collection rule's immutable id, dcr- and 32 hex digits (the rule's JSON view, immutableId), required with RUN_RECORDS_ENDPOINT")
	}
	if !strings.HasPrefix(rr.Stream, "Custom-") || strings.ContainsAny(rr.Stream, "/?#% ") {
		r.fail("RUN_RECORDS_STREAM", rr.Stream, "a custom stream of the data collection rule, such as "+defaultRunRecordsStream)
	}
	return rr
}

// Feed returns the named feed's settings.
func (c *Config) Feed(name string) (Feed, bool) {
	for _, f := range c.Feeds {
		if f.Name == name {
			return f, true
		}
	}
	return Feed{}, false
}

func feedKey(name string) string { return strings.ToUpper(strings.ReplaceAll(name, "-", "_")) }

// lifetimeTypes maps the _LIFETIME_<TYPE> suffixes to observable types.
func lifetimeTypes() map[string][]ioc.Type {
	return map[string][]ioc.Type{
		"IP":     {ioc.TypeIPv4, ioc.TypeIPv6},
		"CIDR":   {ioc.TypeCIDRv4, ioc.TypeCIDRv6},
		"DOMAIN": {ioc.TypeDomain},
		"URL":    {ioc.TypeURL},
		"HASH":   {ioc.TypeMD5, ioc.TypeSHA1, ioc.TypeSHA256, ioc.TypeSHA512},
		"EMAIL":  {ioc.TypeEmail},
		"X509":   {ioc.TypeX509SHA1},
	}
}

type reader struct {
	env  map[string]string
	errs []error
}

func (r *reader) fail(name, value, want string) {
	r.errs = append(r.errs, &SettingError{Setting: name, Value: value, Want: want})
}

func (r *reader) str(name, def string) string {
	if v, ok := r.env[name]; ok && strings.TrimSpace(v) != "" {
		return strings.TrimSpace(v)
	}
	return def
}

func (r *reader) oneOf(name, def string, allowed ...string) string {
	v := strings.ToLower(r.str(name, def))
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	r.fail(name, v, "one of "+strings.Join(allowed, ", "))
	return def
}

func (r *reader) url(name string) string {
	v := r.str(name, "")
	if v == "" {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		r.fail(name, v, "an absolute http(s) URL")
		return ""
	}
	return v
}

// keyedURL refuses a plain-http URL for a source that sends a credential,
// which would cross the network in clear, unless its host is a loopback
// address (a local fake), as SENTINEL_ENDPOINT allows.
func (r *reader) keyedURL(name, v string) {
	u, err := url.Parse(v)
	if err != nil || u.Scheme != "http" {
		return
	}
	if loopback(u.Hostname()) {
		return
	}
	r.fail(name, v, "an https URL: this source sends the abuse.ch Auth-Key (ABUSECH_AUTH_KEY), which plain http would expose (http only to localhost or a loopback address)")
}

// loopback reports whether host is localhost or a loopback address.
func loopback(host string) bool {
	ip, err := netip.ParseAddr(host)
	return host == "localhost" || (err == nil && ip.IsLoopback())
}

func (r *reader) boolean(name string, def bool) bool {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.fail(name, v, "true or false")
		return def
	}
	return b
}

func (r *reader) intRange(name string, def, lo, hi int) int {
	return int(r.int64Range(name, int64(def), int64(lo), int64(hi)))
}

func (r *reader) int64Range(name string, def, lo, hi int64) int64 {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < lo || n > hi {
		r.fail(name, v, fmt.Sprintf("a whole number from %d to %d", lo, hi))
		return def
	}
	return n
}

func (r *reader) fraction(name string, def float64) float64 {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f <= 0 || f > 1 {
		r.fail(name, v, "a number above 0 and at most 1, such as 0.5")
		return def
	}
	return f
}

func (r *reader) duration(name string, def time.Duration) time.Duration {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	d, err := ParseDuration(v)
	if err != nil || d <= 0 {
		r.fail(name, v, "a positive duration such as 90m, 36h or 14d")
		return def
	}
	return d
}

func (r *reader) tlp(name, def string) string {
	if r.str(name, "") == "" {
		return def
	}
	return r.oneOf(name, def, "clear", "white", "green", "amber", "amber+strict", "red")
}

func (r *reader) list(name string) []string {
	v := r.str(name, "")
	if v == "" {
		return nil
	}
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func (r *reader) feed(f Feed) Feed {
	s := func(suffix string) string { return feed.SettingName(f.Name, suffix) }
	f.Enabled = r.boolean(s("ENABLED"), f.Enabled)
	f.Schedule = r.str(s("SCHEDULE"), f.Schedule)
	if !cronRE.MatchString(f.Schedule) {
		r.fail(s("SCHEDULE"), f.Schedule, "a 6-field NCRONTAB expression such as 0 */15 * * * * (second minute hour day month weekday, UTC)")
	}
	f.URL = r.url(s("URL"))
	f.Confidence = r.intRange(s("CONFIDENCE"), 0, 0, 100)
	f.MinConfidence = r.intRange(s("MIN_CONFIDENCE"), 0, 0, 100)
	f.Labels = r.list(s("LABELS"))
	f.MaxBytes = r.int64Range(s("MAX_BYTES"), 0, minFeedMaxBytes, maxFeedMaxBytes)
	f.TLP = r.tlp(s("TLP"), "")
	if f.TLP == "" {
		f.TLP = r.tlp("DEFAULT_TLP", "clear")
	}
	if f.Days > 0 { // a feed with a look-back (Source.Days)
		f.Days = r.intRange(s("DAYS"), f.Days, 1, 7)
	}
	for suffix, types := range lifetimeTypes() {
		d := r.lifetime(s("LIFETIME_"+suffix), 0)
		if d == 0 {
			continue
		}
		if f.Lifetimes == nil {
			f.Lifetimes = map[ioc.Type]time.Duration{}
		}
		for _, t := range types {
			f.Lifetimes[t] = d
		}
	}
	if f.User {
		f.Complete = r.boolean(s("COMPLETE"), false)
		if t := r.str(s("TYPE"), ""); t != "" {
			typ, err := ioc.ParseType(t)
			if err != nil {
				r.fail(s("TYPE"), t, "one of ip, cidr, domain, url, md5, sha1, sha256, sha512, email (or empty to detect per line)")
			}
			f.Type = typ
		}
	}
	return f
}

// MaxLifetime is the longest indicator lifetime a setting or a submission
// may give, and how far ahead a submitted valid_until may be: 5 years, the
// validity the STIX builder gives a feed record at most.
const MaxLifetime = stix.MaxValidity

// lifetime reads an indicator lifetime: a positive duration of at most
// MaxLifetime.
func (r *reader) lifetime(name string, def time.Duration) time.Duration {
	d := r.duration(name, def)
	if d > MaxLifetime {
		r.fail(name, r.str(name, ""), "a lifetime of at most 1825d (5 years)")
		return def
	}
	return d
}

// ParseDuration is time.ParseDuration plus a "d" (24h) unit: "14d",
// "1d12h" (stix.ParseLifetime).
func ParseDuration(s string) (time.Duration, error) {
	return stix.ParseLifetime(s)
}
