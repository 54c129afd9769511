package ingest

import (
	"testing"

	"github.com/feeds2sentinel/feeds2sentinel/internal/config"
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
		req, err := p.request(FeedSpec{Source: src, Config: config.Feed{Name: "malwarebazaar", URL: tt.url}})
		if err != nil {
			t.Fatal(err)
		}
		if req.Method != tt.method || (len(req.Body) > 0) != tt.body || req.AuthKey != "k" || req.AuthKeySetting != "ABUSECH_AUTH_KEY" {
			t.Errorf("%q: %+v", tt.url, req)
		}
	}
	// No key: the setting is still named so a 401 says what to set.
	req, _ := (&Pipeline{}).request(FeedSpec{Source: src, Config: config.Feed{Name: "malwarebazaar"}})
	if req.AuthKey != "" || req.AuthKeySetting != "ABUSECH_AUTH_KEY" {
		t.Errorf("no key: %+v", req)
	}
}
