package config

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/feeds2sentinel/feeds2sentinel/internal/feed"
	"github.com/feeds2sentinel/feeds2sentinel/internal/ioc"
)

func TestLoadDefaults(t *testing.T) {
	c, err := Load(map[string]string{}, ModeLocal)
	if err != nil {
		t.Fatal(err)
	}
	if c.Sentinel.API != "stix-objects" || c.Sentinel.SourceSystem != "feeds2sentinel" || c.State.Kind != "file" || c.ServiceBus.Queue != "sentinel-upload" {
		t.Errorf("defaults: %+v %+v %+v", c.Sentinel, c.State, c.ServiceBus)
	}
	if c.ServiceBus.ParkedQueue != "sentinel-upload-parked" {
		t.Errorf("parked queue = %q", c.ServiceBus.ParkedQueue)
	}
	if len(c.Feeds) != len(builtinFeeds(feed.Builtin())) {
		t.Errorf("feeds = %d", len(c.Feeds))
	}
	if c.RunRecords != (RunRecords{Stream: "Custom-F2SRuns_CL"}) {
		t.Errorf("run records = %+v, want off with the default stream", c.RunRecords)
	}
	if f, ok := c.Feed("threatfox"); !ok || !f.Enabled || f.Days != 1 || f.TLP != "clear" {
		t.Errorf("threatfox = %+v", f)
	}
}

func TestLoadErrorsNameTheSetting(t *testing.T) {
	tests := []struct {
		env  map[string]string
		mode Mode
		want []string
	}{
		{map[string]string{"SENTINEL_WORKSPACE_ID": "/subscriptions/x/resourceGroups/y"}, ModeLocal, []string{"SENTINEL_WORKSPACE_ID", "GUID"}},
		{map[string]string{"SENTINEL_API": "graph"}, ModeLocal, []string{"SENTINEL_API", "stix-objects, legacy"}},
		{map[string]string{"SENTINEL_SOURCE_SYSTEM": "Microsoft Sentinel"}, ModeLocal, []string{"SENTINEL_SOURCE_SYSTEM"}},
		{map[string]string{"FEED_URLHAUS_ENABLED": "yes please"}, ModeLocal, []string{"FEED_URLHAUS_ENABLED", "true or false"}},
		{map[string]string{"FEED_URLHAUS_SCHEDULE": "*/5 * * * *"}, ModeLocal, []string{"FEED_URLHAUS_SCHEDULE", "6-field"}},
		{map[string]string{"FEED_THREATFOX_CONFIDENCE": "150"}, ModeLocal, []string{"FEED_THREATFOX_CONFIDENCE", "0 to 100"}},
		{map[string]string{"FEED_THREATFOX_LIFETIME_IP": "forever"}, ModeLocal, []string{"FEED_THREATFOX_LIFETIME_IP", "duration"}},
		{map[string]string{"FEED_THREATFOX_LIFETIME_IP": "100000d"}, ModeLocal, []string{"FEED_THREATFOX_LIFETIME_IP", "1825d"}},
		{map[string]string{"MANUAL_LIFETIME": "1826d"}, ModeLocal, []string{"MANUAL_LIFETIME", "1825d"}},
		{map[string]string{"FEED_THREATFOX_LIFETIME_HASH": "1825d"}, ModeLocal, nil},
		{map[string]string{"FEED_SSLBL_URL": "not a url"}, ModeLocal, []string{"FEED_SSLBL_URL", "URL"}},
		{map[string]string{"FEED_THREATFOX_CSV_MAX_BYTES": "1GiB"}, ModeLocal, []string{"FEED_THREATFOX_CSV_MAX_BYTES", "whole number from 1048576"}},
		{map[string]string{"FEED_URLHAUS_MAX_BYTES": "1000"}, ModeLocal, []string{"FEED_URLHAUS_MAX_BYTES", "whole number from 1048576"}},
		{map[string]string{"DEFAULT_TLP": "purple"}, ModeLocal, []string{"DEFAULT_TLP", "amber+strict"}},
		{map[string]string{"INDICATOR_REFRESH_INTERVAL": "20d"}, ModeLocal, []string{"INDICATOR_REFRESH_INTERVAL", "14-day"}},
		{map[string]string{"STATE_STORE": "table"}, ModeLocal, []string{"STATE_STORE", "STATE_TABLE_SERVICE_URL"}},
		{map[string]string{"ServiceBusConnection__fullyQualifiedNamespace": "Endpoint=sb://x/;SharedAccessKey=y"}, ModeLocal, []string{"ServiceBusConnection__fullyQualifiedNamespace", "not a connection string"}},
		{map[string]string{}, ModeHost, []string{"SENTINEL_WORKSPACE_ID", "ServiceBusConnection__fullyQualifiedNamespace"}},
		{map[string]string{"FEED_MYLIST_TYPE": "ip"}, ModeLocal, nil},
		{map[string]string{"FEED_THREATFOX_URL": "http://threatfox-api.abuse.ch/api/v1/"}, ModeLocal, []string{"FEED_THREATFOX_URL", "https", "Auth-Key", "loopback"}},
		{map[string]string{"FEED_SSLBL_URL": "HTTP://mirror.example/sslbl.csv"}, ModeLocal, []string{"FEED_SSLBL_URL", "https"}},
		{map[string]string{"FEED_URLHAUS_URL": "http://[::1]:8080/csv", "FEED_THREATFOX_URL": "http://localhost:1/", "FEED_FEODOTRACKER_URL": "http://127.0.0.2/x"}, ModeLocal, nil},
		{map[string]string{"FEED_OPENPHISH_URL": "http://mirror.example/feed.txt", "FEED_MYLIST_URL": "http://example.org/l.txt"}, ModeLocal, nil},
		{map[string]string{"TRUST_CLIENT_PRINCIPAL_HEADER": "maybe"}, ModeLocal, []string{"TRUST_CLIENT_PRINCIPAL_HEADER", "true or false"}},
		{map[string]string{"FEED_MYLIST_URL": "https://example.org/l.txt", "FEED_MYLIST_TYPE": "ja3"}, ModeLocal, []string{"FEED_MYLIST_TYPE"}},
		{map[string]string{"RUN_RECORDS_ENDPOINT": "https://dcr-x.eastus-1.ingest.monitor.azure.com"}, ModeLocal, []string{"RUN_RECORDS_DCR_ID", "immutable id"}},
		{map[string]string{"RUN_RECORDS_ENDPOINT": "http://dce.example", "RUN_RECORDS_DCR_ID": "dcr-00112233445566778899aabbccddeeff"}, ModeLocal, []string{"RUN_RECORDS_ENDPOINT", "https"}},
		{map[string]string{"RUN_RECORDS_ENDPOINT": "https://x.example", "RUN_RECORDS_DCR_ID": "dcr-00112233445566778899aabbccddeeff", "RUN_RECORDS_STREAM": "F2SRuns_CL"}, ModeLocal, []string{"RUN_RECORDS_STREAM", "Custom-F2SRuns_CL"}},
		{map[string]string{"RUN_RECORDS_ENDPOINT": "http://127.0.0.1:9/", "RUN_RECORDS_DCR_ID": "dcr-00112233445566778899aabbccddeeff"}, ModeLocal, nil},
		{map[string]string{"RUN_RECORDS_DCR_ID": "whatever", "RUN_RECORDS_STREAM": "x"}, ModeLocal, nil}, // off: not checked
	}
	for _, tt := range tests {
		_, err := Load(tt.env, tt.mode)
		if len(tt.want) == 0 {
			if err != nil {
				t.Errorf("Load(%v) = %v, want nil", tt.env, err)
			}
			continue
		}
		if err == nil || !errors.Is(err, ErrInvalid) {
			t.Errorf("Load(%v) = %v, want a SettingError", tt.env, err)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Load(%v) error %q lacks %q", tt.env, err, w)
			}
		}
	}
}

func TestUserListsAndLifetimes(t *testing.T) {
	c, err := Load(map[string]string{
		"FEED_MY_BLOCKS_URL":           "https://example.org/blocks.txt",
		"FEED_MY_BLOCKS_TYPE":          "cidr",
		"FEED_MY_BLOCKS_COMPLETE":      "true",
		"FEED_THREATFOX_LIFETIME_HASH": "90d",
		"FEED_URLHAUS_LABELS":          "a, b ,,c",
		"FEED_THREATFOX_CSV_URL":       "https://threatfox.abuse.ch/export/csv/full/",
		"FEED_THREATFOX_CSV_MAX_BYTES": "3221225472",
		"FEED_MY_BLOCKS_MAX_BYTES":     "1048576",
	}, ModeLocal)
	if err != nil {
		t.Fatal(err)
	}
	f, ok := c.Feed("my-blocks")
	if !ok || !f.User || !f.Complete || f.Type != ioc.TypeCIDRv4 && f.Type != ioc.TypeCIDRv6 || f.Schedule != defaultUserListsSchedule {
		t.Errorf("user list = %+v", f)
	}
	tf, _ := c.Feed("threatfox")
	if tf.Lifetimes[ioc.TypeSHA256] != 90*24*time.Hour || tf.Lifetimes[ioc.TypeMD5] != 90*24*time.Hour {
		t.Errorf("lifetimes = %v", tf.Lifetimes)
	}
	if u, _ := c.Feed("urlhaus"); strings.Join(u.Labels, "|") != "a|b|c" {
		t.Errorf("labels = %q", u.Labels)
	}
	if tc, ok := c.Feed("threatfox-csv"); !ok || tc.MaxBytes != 3<<30 {
		t.Errorf("threatfox-csv = %+v, want MaxBytes 3 GiB", tc)
	}
	if f.MaxBytes != 1<<20 {
		t.Errorf("user list MaxBytes = %d, want 1 MiB", f.MaxBytes)
	}
	if u, _ := c.Feed("urlhaus"); u.MaxBytes != 0 {
		t.Errorf("urlhaus MaxBytes = %d, want 0 (the source's default)", u.MaxBytes)
	}
	if len(c.Feeds) != len(builtinFeeds(feed.Builtin()))+1 {
		t.Errorf("FEED_THREATFOX_CSV_URL must not create a user list: %d feeds", len(c.Feeds))
	}
}

func TestTrustPrincipalHeader(t *testing.T) {
	for env, want := range map[string]bool{"": false, "false": false, "true": true} {
		c, err := Load(map[string]string{"TRUST_CLIENT_PRINCIPAL_HEADER": env}, ModeLocal)
		if err != nil || c.Submit.TrustPrincipalHeader != want {
			t.Errorf("TRUST_CLIENT_PRINCIPAL_HEADER=%q: %v, %v; want %v", env, c.Submit.TrustPrincipalHeader, err, want)
		}
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"14d": 14 * 24 * time.Hour, "1d12h": 36 * time.Hour, "90m": 90 * time.Minute} {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"xd", "-1d", "200000d"} {
		if _, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q): want an error", in)
		}
	}
}
