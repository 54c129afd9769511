package feed

import (
	"encoding/json"
	"errors"
	"testing"
	"time"
)

func TestBuiltin(t *testing.T) {
	t.Parallel()
	want := []string{NameThreatFox, NameThreatFoxCSV, NameURLhaus, NameURLhausAPI, NameFeodoTracker,
		NameMalwareBazaar, NameSSLBL, NameOpenPhish, NameSpamhausDROP}
	got := Builtin()
	if len(got) != len(want) {
		t.Fatalf("%d sources, want %d", len(got), len(want))
	}
	for i, s := range got {
		if s.Name != want[i] {
			t.Errorf("source %d is %q, want %q", i, s.Name, want[i])
		}
		if s.DefaultURL == "" || s.Parse == nil || s.Docs == "" || s.MinInterval < 5*time.Minute || s.TLP == "" || s.MaxBytes < 1<<20 ||
			s.DefaultConfidence < 1 || s.DefaultConfidence > 100 {
			t.Errorf("%s: incomplete: %+v", s.Name, s)
		}
		if (s.Method == "POST") != (s.Body != nil) {
			t.Errorf("%s: Method %s with Body %v", s.Name, s.Method, s.Body != nil)
		}
		if s.RequiresKey && !s.AbuseCH {
			t.Errorf("%s: RequiresKey without AbuseCH", s.Name)
		}
	}
	got[0].Name = "changed"
	if Builtin()[0].Name != NameThreatFox {
		t.Error("Builtin returned shared state")
	}
	for _, tc := range []struct {
		name     string
		complete bool
	}{{NameFeodoTracker, true}, {NameSSLBL, true}, {NameSpamhausDROP, true}, {NameThreatFox, false}, {NameURLhaus, false}} {
		s, ok := Lookup(Builtin(), tc.name)
		if !ok || s.Complete != tc.complete {
			t.Errorf("Lookup(%s) = %v, Complete %v; want Complete %v", tc.name, ok, s.Complete, tc.complete)
		}
	}
	if _, ok := Lookup(Builtin(), "nope"); ok {
		t.Error("Lookup found an unknown name")
	}
	// Full dumps fit, with headroom: the July 2024 ThreatFox dump (596 MiB)
	// was refused by the former single 512 MiB limit.
	for _, tc := range []struct {
		name string
		dump int64 // bytes of the largest known or estimated dump
	}{{NameThreatFoxCSV, 596 << 20}, {NameURLhaus, 700 << 20}, {NameMalwareBazaar, 700 << 20}} {
		if s, _ := Lookup(Builtin(), tc.name); s.MaxBytes < tc.dump+tc.dump/2 {
			t.Errorf("%s: MaxBytes %d, want at least 1.5 × the %d-byte full dump", tc.name, s.MaxBytes, tc.dump)
		}
	}
	u, _ := Lookup(Builtin(), NameURLhaus)
	if !u.CompleteAt("https://urlhaus.abuse.ch/downloads/csv_online/") || u.CompleteAt(u.DefaultURL) {
		t.Error("URLhaus completeness by URL is wrong")
	}
}

func TestBodies(t *testing.T) {
	t.Parallel()
	tf, _ := Lookup(Builtin(), NameThreatFox)
	for days, want := range map[int]int{0: 1, 3: 3, 9: 7} {
		body, ct := tf.Body(BodyOptions{Days: days})
		var got struct {
			Query string
			Days  int
		}
		if err := json.Unmarshal(body, &got); err != nil || got.Query != "get_iocs" || got.Days != want || ct != "application/json" {
			t.Errorf("Days %d: body %s (%s), want days %d", days, body, ct, want)
		}
	}
	mb, _ := Lookup(Builtin(), NameMalwareBazaar)
	if body, ct := mb.Body(BodyOptions{}); string(body) != "query=get_recent&selector=time" || ct != "application/x-www-form-urlencoded" {
		t.Errorf("MalwareBazaar body %q %q", body, ct)
	}
}

func TestNewUserList(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, url string
		opts      UserListOptions
		ok        bool
	}{
		{"my-list-1", "https://lists.example/ips.txt", UserListOptions{}, true},
		{"typed", "http://lists.example/x", UserListOptions{Type: "ipv4", Complete: true, Confidence: 70}, true},
		{"", "https://lists.example/", UserListOptions{}, false},
		{"Upper", "https://lists.example/", UserListOptions{}, false},
		{"a_b", "https://lists.example/", UserListOptions{}, false},
		{"x123456789012345678901234567890123456789012", "https://lists.example/", UserListOptions{}, false},
		{"threatfox", "https://lists.example/", UserListOptions{}, false},
		{"userlists", "https://lists.example/", UserListOptions{}, false},
		{"ftp", "ftp://lists.example/", UserListOptions{}, false},
		{"badtype", "https://lists.example/", UserListOptions{Type: "ip"}, false},
		{"badconf", "https://lists.example/", UserListOptions{Confidence: 101}, false},
	}
	for _, tc := range cases {
		s, err := NewUserList(tc.name, tc.url, tc.opts)
		if (err == nil) != tc.ok {
			t.Errorf("NewUserList(%q, %q) err = %v, want ok=%v", tc.name, tc.url, err, tc.ok)
			continue
		}
		if err != nil {
			if !errors.Is(err, ErrInvalidSource) {
				t.Errorf("err %v does not wrap ErrInvalidSource", err)
			}
			continue
		}
		if s.Name != tc.name || s.Parse == nil || s.Complete != tc.opts.Complete || s.DefaultConfidence < 1 || s.MaxBytes != DefaultUserListMaxBytes {
			t.Errorf("got %+v", s)
		}
	}
}

func TestUserListParser(t *testing.T) {
	t.Parallel()
	in := "\xef\xbb\xbf# header\r\n; also a comment\r\n\r\n1.2.3.4\r\n 10.0.0.0/8 # trailing\r\nevil.example ; note\r\nhttp://x.example/#frag\r\nd41d8cd98f00b204e9800998ecf8427e"
	recs, st, err := collect(ListParser("mylist", ""), []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ id, value string }{{"4", "1.2.3.4"}, {"5", "10.0.0.0/8"}, {"6", "evil.example"}, {"7", "http://x.example/#frag"}, {"8", "d41d8cd98f00b204e9800998ecf8427e"}}
	if len(recs) != len(want) || st.Records != len(want) {
		t.Fatalf("%d records, want %d", len(recs), len(want))
	}
	for i, w := range want {
		if recs[i].ID != w.id || recs[i].Value != w.value || recs[i].Source != "mylist" {
			t.Errorf("record %d = %q %q, want %q %q", i, recs[i].ID, recs[i].Value, w.id, w.value)
		}
	}
}
