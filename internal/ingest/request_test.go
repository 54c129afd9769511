package ingest

import (
	"testing"
	"time"

	"github.com/feeds2sentinel/feeds2sentinel/internal/feed"
)

func TestRequest(t *testing.T) {
	src, _ := feed.Lookup(feed.Builtin(), "malwarebazaar")
	p := &Pipeline{AuthKey: "k"}
	tests := []struct {
		url, method string
		body        bool
	}{
		{"", "POST", true},
		{"https://bazaar.abuse.ch/export/csv/recent/", "GET", false},
		{"https://mb-api.example.net/api/v1/", "POST", true}, // a proxy of the API
	}
	for _, tt := range tests {
		req, err := p.request(FeedSpec{Source: src, Config: feed.Settings{Name: "malwarebazaar", URL: tt.url}})
		if err != nil {
			t.Fatal(err)
		}
		if req.Method != tt.method || (len(req.Body) > 0) != tt.body || req.AuthKey != "k" || req.AuthKeySetting != "ABUSECH_AUTH_KEY" {
			t.Errorf("%q: %+v", tt.url, req)
		}
	}
	// No key: the setting is still named so a 401 says what to set.
	req, _ := (&Pipeline{}).request(FeedSpec{Source: src, Config: feed.Settings{Name: "malwarebazaar"}})
	if req.AuthKey != "" || req.AuthKeySetting != "ABUSECH_AUTH_KEY" {
		t.Errorf("no key: %+v", req)
	}
}

// TestRequestMaxBytes: the fetch limit is the source's default unless
// FEED_<NAME>_MAX_BYTES is set, and the request names that setting.
func TestRequestMaxBytes(t *testing.T) {
	src, _ := feed.Lookup(feed.Builtin(), "threatfox-csv")
	for _, tt := range []struct {
		setting, want int64
	}{{0, src.MaxBytes}, {3 << 30, 3 << 30}} {
		req, err := (&Pipeline{}).request(FeedSpec{Source: src, Config: feed.Settings{Name: "threatfox-csv", MaxBytes: tt.setting}})
		if err != nil {
			t.Fatal(err)
		}
		if req.MaxBytes != tt.want || req.MaxBytesSetting != "FEED_THREATFOX_CSV_MAX_BYTES" {
			t.Errorf("setting %d: MaxBytes %d (%s), want %d (FEED_THREATFOX_CSV_MAX_BYTES)", tt.setting, req.MaxBytes, req.MaxBytesSetting, tt.want)
		}
	}
}

func TestCatchUpDays(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		days int
		last time.Time
		want int
	}{
		{1, time.Time{}, 7},                // first run: the whole window
		{1, now.Add(-15 * time.Minute), 1}, // regular poll
		{1, now.Add(-30 * time.Hour), 2},   // after a day of downtime
		{3, now.Add(-time.Hour), 3},        // the setting is a floor
		{1, now.Add(-30 * 24 * time.Hour), 7},
		{0, time.Time{}, 0}, // feeds without a window
	}
	for _, tt := range tests {
		if got := catchUpDays(tt.days, tt.last, now); got != tt.want {
			t.Errorf("catchUpDays(%d, %v) = %d, want %d", tt.days, tt.last, got, tt.want)
		}
	}
}
