package config

import (
	"errors"
	"strings"
	"testing"
	"time"

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
	if len(c.Feeds) != len(builtinFeeds()) {
		t.Errorf("feeds = %d", len(c.Feeds))
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
		{map[string]string{"DEFAULT_TLP": "purple"}, ModeLocal, []string{"DEFAULT_TLP", "amber+strict"}},
		{map[string]string{"INDICATOR_REFRESH_INTERVAL": "20d"}, ModeLocal, []string{"INDICATOR_REFRESH_INTERVAL", "14-day"}},
		{map[string]string{"STATE_STORE": "table"}, ModeLocal, []string{"STATE_STORE", "STATE_TABLE_SERVICE_URL"}},
		{map[string]string{"ServiceBusConnection__fullyQualifiedNamespace": "Endpoint=sb://x/;SharedAccessKey=y"}, ModeLocal, []string{"ServiceBusConnection__fullyQualifiedNamespace", "not a connection string"}},
		{map[string]string{}, ModeHost, []string{"SENTINEL_WORKSPACE_ID", "ServiceBusConnection__fullyQualifiedNamespace"}},
		{map[string]string{"FEED_MYLIST_TYPE": "ip"}, ModeLocal, nil},
		{map[string]string{"FEED_MYLIST_URL": "https://example.org/l.txt", "FEED_MYLIST_TYPE": "ja3"}, ModeLocal, []string{"FEED_MYLIST_TYPE"}},
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
	if _, ok := c.Feed("threatfox-csv"); !ok {
		t.Error("threatfox-csv missing")
	}
	if len(c.Feeds) != len(builtinFeeds())+1 {
		t.Errorf("FEED_THREATFOX_CSV_URL must not create a user list: %d feeds", len(c.Feeds))
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
