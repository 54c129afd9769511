package config

import (
	"strconv"

	"github.com/feeds2sentinel/feeds2sentinel/internal/app"
	"github.com/feeds2sentinel/feeds2sentinel/internal/feed"
	"github.com/feeds2sentinel/feeds2sentinel/internal/sentinel"
)

// Setting documents one app setting.
type Setting struct {
	Name    string
	Default string // "" = none
	Doc     string
	Secret  bool // never logged; in Azure a Key Vault reference
	Azure   bool // must be set in Azure (infra sets it)
}

// Settings returns every setting the code reads, global ones first, then
// the per-feed settings of every built-in feed. User-defined lists use the
// same FEED_<NAME>_… names.
func Settings() []Setting {
	return SettingsFor(feed.Builtin())
}

// SettingsFor is Settings for an app whose built-in sources are sources.
func SettingsFor(sources []feed.Source) []Setting {
	s := []Setting{
		{Name: "SENTINEL_WORKSPACE_ID", Doc: "Sentinel (Log Analytics) workspace ID, a GUID. Empty in local mode: the STIX objects are written to a bundle file instead.", Azure: true},
		{Name: "SENTINEL_API", Default: "stix-objects", Doc: "`stix-objects` (STIX objects upload API, 2024-02-01-preview) or `legacy` (upload-indicators API).", Azure: true},
		{Name: "SENTINEL_ENDPOINT", Doc: "Base URL override for the upload API. A plain-http loopback URL sends no bearer token (local testing against a fake)."},
		{Name: "SENTINEL_SOURCE_SYSTEM", Default: "feeds2sentinel", Doc: "`sourcesystem` of every upload (1-256 characters, not `Microsoft Sentinel`). Keep it stable: Sentinel keys objects by source system and id.", Azure: true},
		{Name: "SENTINEL_REQUESTS_PER_MINUTE", Default: strconv.Itoa(sentinel.DefaultRequestsPerMinute), Doc: "Most upload requests started in any 60 seconds (an exact sliding window; Sentinel allows 100 per minute per identity, and a 429 makes the client back off; uploads are serialized through one session, so this bounds the whole app).", Azure: true},
		{Name: "ServiceBusConnection__fullyQualifiedNamespace", Doc: "Service Bus namespace host (identity-based connection). Empty in local mode: a local spool directory is the queue.", Azure: true},
		{Name: "SERVICEBUS_QUEUE", Default: "sentinel-upload", Doc: "Queue the feed functions send to and UploadIndicators is triggered by.", Azure: true},
		{Name: "SERVICEBUS_PARKED_QUEUE", Default: "<SERVICEBUS_QUEUE>-parked", Doc: "Queue holding batches Sentinel rejected permanently (400/401/403/404), with the reason; `handler replay` moves them back.", Azure: true},
		{Name: "SERVICEBUS_MAX_DELIVERY_COUNT", Default: "10", Doc: "The upload queue's maxDeliveryCount (infra sets both): the last failed delivery is counted as dead-lettered in the status.", Azure: true},
		{Name: "ABUSECH_AUTH_KEY", Doc: "abuse.ch Auth-Key (free at https://auth.abuse.ch/). Without it, sources that require it are skipped with a hint.", Secret: true, Azure: true},
		{Name: "AZURE_CLIENT_ID", Doc: "Client ID of the user-assigned managed identity (azidentity convention).", Azure: true},
		{Name: "STATE_STORE", Default: "table if a table service is configured, else file", Doc: "`table` (Azure Table Storage) or `file` (local file)."},
		{Name: "STATE_TABLE_SERVICE_URL", Default: "https://<AzureWebJobsStorage__accountName>.table.core.windows.net/", Doc: "Table service URL of the state store (identity-based)."},
		{Name: "STATE_TABLE_NAME", Default: "feeds2sentinel", Doc: "Table holding indicator state, run status and fetch cursors.", Azure: true},
		{Name: "STATE_CONNECTION_STRING", Doc: "Development only (Azurite): a storage connection string for the state store."},
		{Name: "STATE_FILE", Default: "<F2S_DATA_DIR>/state.db", Doc: "Local state database (embedded bbolt file; a state.jsonl of an earlier version beside it is migrated once)."},
		{Name: "AzureWebJobsStorage__accountName", Doc: "Functions host storage account; its table service is the default state store.", Azure: true},
		{Name: "INDICATOR_REFRESH_INTERVAL", Default: "7d", Doc: "Re-upload an indicator still reported by a source this long after its last upload (at most 13d: TI map rules look back 14 days).", Azure: true},
		{Name: "REVOCATION_HOLD_FRACTION", Default: "0.5", Doc: "A complete-list sweep that would revoke more than this share of the list's indicators (and more than 20) is held as a likely broken list; 1 disables the hold."},
		{Name: "REVOCATION_GRACE_PERIOD", Default: "48h", Doc: "How long a complete-list source may stop listing an indicator before it is revoked.", Azure: true},
		{Name: "ALLOWLIST_EXTRA", Doc: "Extra allowlist entries (IP, CIDR, domain, *.domain), comma-separated.", Azure: true},
		{Name: "ALLOWLIST_REPLACE_BUILTIN", Default: "false", Doc: "true = use only ALLOWLIST_EXTRA, not the built-in allowlist.", Azure: true},
		{Name: "DEFAULT_TLP", Default: "clear", Doc: "TLP 2.0 marking of feed indicators: clear, green, amber, amber+strict, red.", Azure: true},
		{Name: "SUBMIT_MAX_BYTES", Default: "5242880", Doc: "Largest accepted submission body (bytes)."},
		{Name: "SUBMIT_MAX_ITEMS", Default: "10000", Doc: "Most items in one submission."},
		{Name: "MANUAL_CONFIDENCE", Default: "70", Doc: "Confidence of submitted indicators that state none.", Azure: true},
		{Name: "MANUAL_LIFETIME", Default: "30d", Doc: "Lifetime of submitted indicators that state none.", Azure: true},
		{Name: "MANUAL_SOURCE", Default: "manual", Doc: "Source name of submissions that give none."},
		{Name: "TRUST_CLIENT_PRINCIPAL_HEADER", Default: "false", Doc: "true only when App Service authentication (Easy Auth) fronts the app: submissions are then attributed to the caller named by its `X-MS-CLIENT-PRINCIPAL-NAME` header. Otherwise the header, which any client can send, is ignored. infra sets it with `enableAppServiceAuth`.", Azure: true},
		{Name: "RUN_RECORDS_ENDPOINT", Doc: "Logs ingestion endpoint of the run-records data collection rule (its `logsIngestion` endpoint, or a data collection endpoint): each feed run, upload batch and submission writes one row to the `F2SRuns_CL` table of the Sentinel workspace. Empty: no run records. A failed write is logged and counted, never fails the pipeline. infra sets it with `runRecords`.", Azure: true},
		{Name: "RUN_RECORDS_DCR_ID", Doc: "Immutable id (`dcr-…`) of the run-records data collection rule; required with RUN_RECORDS_ENDPOINT.", Azure: true},
		{Name: "RUN_RECORDS_STREAM", Default: defaultRunRecordsStream, Doc: "Stream of the data collection rule the run records are sent to.", Azure: true},
		{Name: "F2S_DATA_DIR", Default: ".f2s", Doc: "Local mode: directory of the spool, state file and STIX bundle."},
		{Name: "LOG_LEVEL", Default: "info", Doc: "debug, info, warn or error."},
		{Name: "INVOCATION_TIMEOUT", Default: "9m", Doc: "Deadline of one function invocation (below host.json functionTimeout)."},
	}
	for _, src := range sources {
		s = append(s, feedSettings(src)...)
	}
	s = append(s, Setting{Name: feed.SettingName(app.UserListsFeed, "SCHEDULE"), Default: defaultUserListsSchedule,
		Doc: "NCRONTAB schedule of FeedUserLists, which runs every user-defined list (FEED_<NAME>_URL with a name that is not built in).", Azure: true})
	return s
}

// urlDoc documents a feed's URL override.
func urlDoc(src feed.Source) string {
	if src.AbuseCH {
		return "Override the " + src.Name + " URL: https (it carries the Auth-Key; plain http only to a loopback address)."
	}
	return "Override the " + src.Name + " URL."
}

// feedSettings documents the settings of one source, with the defaults
// its declaration gives.
func feedSettings(src feed.Source) []Setting {
	f := builtinFeeds([]feed.Source{src})[0]
	n := func(suffix string) string { return feed.SettingName(f.Name, suffix) }
	enabled := "false"
	if f.Enabled {
		enabled = "true"
	}
	out := []Setting{
		{Name: n("ENABLED"), Default: enabled, Doc: "Run the " + f.Name + " feed.", Azure: true},
		{Name: n("SCHEDULE"), Default: f.Schedule, Doc: "NCRONTAB schedule (UTC) of the " + f.Name + " timer.", Azure: true},
		{Name: n("URL"), Default: "built in", Doc: urlDoc(src)},
		{Name: n("CONFIDENCE"), Default: "source default", Doc: "Confidence when the record has none."},
		{Name: n("MIN_CONFIDENCE"), Default: "0", Doc: "Drop records below this confidence (logged, counted)."},
		{Name: n("LABELS"), Doc: "Extra labels, comma-separated."},
		{Name: n("TLP"), Default: "DEFAULT_TLP", Doc: "TLP marking of this feed's indicators."},
	}
	maxBytes := "source default"
	if src.MaxBytes > 0 {
		maxBytes = strconv.FormatInt(src.MaxBytes, 10)
	}
	out = append(out, Setting{Name: n("MAX_BYTES"), Default: maxBytes, Doc: "Largest payload accepted from the " + f.Name +
		" feed, in bytes after decompression (a zip archive and its member each); the default is sized for the largest full dump its URLs serve. A larger payload fails the run with an error naming this setting."})
	out = append(out, Setting{Name: n("LIFETIME_<TYPE>"), Default: "IP 14d, CIDR 14d, DOMAIN 30d, URL 30d, HASH 365d, EMAIL 30d, X509 365d", Doc: "Validity after last seen, per type (IP, CIDR, DOMAIN, URL, HASH, EMAIL, X509)."})
	if f.Days > 0 {
		out = append(out, Setting{Name: n("DAYS"), Default: strconv.Itoa(f.Days), Doc: "Look-back of the " + f.Name + " API in days (1-7); the first run asks for 7 and a run after downtime for the whole gap."})
	}
	return out
}
