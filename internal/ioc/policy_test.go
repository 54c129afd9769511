package ioc

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func TestPolicyCheck(t *testing.T) {
	t.Parallel()
	extra, err := ParseAllowlist("corp.example.net, 203.0.114.7 # ours\n*.cdn.partner.com\n45.33.0.0/16")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		policy *Policy
		raw    string
		hint   Type
		want   Reason // "" = accepted
		detail string // substring of Detail
	}{
		{"public ip", nil, "45.77.1.2", "", "", ""},
		{"rfc1918 10", nil, "10.1.2.3", "", ReasonReserved, "10.0.0.0/8"},
		{"rfc1918 172", nil, "172.31.255.1", "", ReasonReserved, "172.16.0.0/12"},
		{"rfc1918 192", nil, "192.168.1.1", "", ReasonReserved, "192.168.0.0/16"},
		{"loopback", nil, "127.0.0.1", "", ReasonReserved, "loopback"},
		{"link-local", nil, "169.254.169.254", "", ReasonReserved, "link-local"},
		{"cgnat", nil, "100.64.1.1", "", ReasonReserved, "CGNAT"},
		{"multicast", nil, "224.0.0.251", "", ReasonReserved, "multicast"},
		{"unspecified", nil, "0.0.0.0", "", ReasonReserved, "0.0.0.0/8"},
		{"this network", nil, "0.1.2.3", "", ReasonReserved, "0.0.0.0/8"},
		{"broadcast", nil, "255.255.255.255", "", ReasonReserved, "broadcast"},
		{"class e", nil, "240.1.2.3", "", ReasonReserved, "240.0.0.0/4"},
		{"test-net-1", nil, "192.0.2.10", "", ReasonReserved, "TEST-NET-1"},
		{"test-net-2", nil, "198.51.100.10", "", ReasonReserved, "TEST-NET-2"},
		{"test-net-3", nil, "203.0.113.10", "", ReasonReserved, "TEST-NET-3"},
		{"benchmarking", nil, "198.19.0.1", "", ReasonReserved, "benchmarking"},
		{"v6 loopback", nil, "::1", "", ReasonReserved, "loopback"},
		{"v6 unspecified", nil, "::", "", ReasonReserved, "unspecified"},
		{"v6 link-local", nil, "fe80::1", "", ReasonReserved, "link-local"},
		{"v6 doc", nil, "2001:db8::5", "", ReasonReserved, "documentation"},
		{"v6 ula", nil, "fd12:3456::1", "", ReasonReserved, "unique-local"},
		{"v6 multicast", nil, "ff02::1", "", ReasonReserved, "multicast"},
		{"v4-mapped private", nil, "::ffff:10.0.0.1", "", ReasonReserved, "10.0.0.0/8"},
		{"v6 public", nil, "2a02:cf40:1::5", "", "", ""},
		{"ip:port private", nil, "192.168.0.1:8080", "", ReasonReserved, "private"},
		{"cidr overlap", nil, "10.0.0.0/7", "", ReasonReserved, "10.0.0.0/8"},
		{"cidr everything", nil, "0.0.0.0/0", "", ReasonReserved, ""},
		{"cidr inside", nil, "192.168.4.0/24", "", ReasonReserved, "192.168.0.0/16"},
		{"cidr public", nil, "45.77.0.0/16", "", "", ""},
		{"cidr v6 doc", nil, "2001:db8:1::/48", "", ReasonReserved, "documentation"},
		{"cidr v6 all", nil, "::/0", "", ReasonReserved, ""},
		{"url private ip", nil, "http://10.0.0.5/a", "", ReasonReserved, "10.0.0.0/8"},
		{"url v6 loopback", nil, "http://[::1]:8080/a", "", ReasonReserved, "loopback"},
		{"url localhost sub", nil, "http://app.localhost/a", "", ReasonReserved, "localhost"},
		{"url example", nil, "https://www.example.com/x", "", ReasonReserved, "example.com"},
		{"email example", nil, "a@example.org", "", ReasonReserved, "example.org"},
		{"email test", nil, "a@mail.corp.test", "", ReasonReserved, "test"},
		{"domain local", nil, "printer.local", "", ReasonReserved, "local"},
		{"domain invalid", nil, "x.invalid", "", ReasonReserved, "invalid"},
		{"domain example tld", nil, "foo.example", "", ReasonReserved, "example"},
		{"domain example.net", nil, "example.net", "", ReasonReserved, "example.net"},
		{"domain internal", nil, "dc1.corp.internal", "", ReasonReserved, "internal"},
		{"domain home.arpa", nil, "nas.home.arpa", "", ReasonReserved, "home.arpa"},
		{"email contoso", nil, "soc@Contoso.com", "", ReasonReserved, "contoso.com"},
		{"url fabrikam", nil, "https://portal.fabrikam.com/login", "", ReasonReserved, "fabrikam.com"},
		{"domain ok", nil, "evil-example.com", "", "", ""},
		// allowlist
		{"resolver", nil, "8.8.8.8", "", ReasonAllowlisted, `"8.8.8.8"`},
		{"resolver v6", nil, "2606:4700:4700::1111", "", ReasonAllowlisted, "2606:4700:4700::1111"},
		{"resolver port", nil, "1.1.1.1:53", "", ReasonAllowlisted, `"1.1.1.1"`},
		{"cidr with resolver", nil, "8.8.8.0/24", "", ReasonAllowlisted, `"8.8.8.8"`},
		{"apex", nil, "github.com", "", ReasonAllowlisted, `"github.com"`},
		{"apex upper", nil, "GitHub.COM", "", ReasonAllowlisted, `"github.com"`},
		{"listed host", nil, "raw.githubusercontent.com", "", ReasonAllowlisted, "raw.githubusercontent.com"},
		{"apex is exact", nil, "evil.github.com", "", "", ""},
		{"wildcard", nil, "au.download.windowsupdate.com", "", ReasonAllowlisted, `"*.windowsupdate.com"`},
		{"url on github", nil, "https://github.com/evil/x/releases/download/v1/a.exe", "", "", ""},
		{"url on raw", nil, "https://raw.githubusercontent.com/a/b/main/x.ps1", "", "", ""},
		{"email on gmail", nil, "phisher@gmail.com", "", "", ""},
		{"shortener", nil, "bit.ly", "", "", ""},
		{"hash", nil, strings.Repeat("a", 64), "", "", ""},
		{"extra domain", &Policy{Extra: extra}, "corp.example.net", "", ReasonReserved, "example.net"},
		{"extra ip", &Policy{Extra: extra}, "203.0.114.7", "", ReasonAllowlisted, "configured"},
		{"extra wildcard", &Policy{Extra: extra}, "a.cdn.partner.com", "", ReasonAllowlisted, "*.cdn.partner.com"},
		{"extra wildcard not apex", &Policy{Extra: extra}, "cdn.partner.com", "", "", ""},
		{"extra cidr", &Policy{Extra: extra}, "45.33.9.9", "", ReasonAllowlisted, "45.33.0.0/16"},
		{"extra cidr overlap", &Policy{Extra: extra}, "45.32.0.0/15", "", ReasonAllowlisted, "45.33.0.0/16"},
		{"extra keeps builtin", &Policy{Extra: extra}, "8.8.8.8", "", ReasonAllowlisted, "built-in"},
		{"replace builtin", &Policy{Extra: extra, ReplaceBuiltin: true}, "8.8.8.8", "", "", ""},
		{"replace keeps reserved", &Policy{ReplaceBuiltin: true}, "10.0.0.1", "", ReasonReserved, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o, err := Normalize(tc.raw, tc.hint)
			if err != nil {
				t.Fatalf("Normalize(%q): %v", tc.raw, err)
			}
			err = tc.policy.Check(o)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Check(%+v) = %v, want nil", o, err)
				}
				return
			}
			var rej *Rejection
			if !errors.As(err, &rej) || rej.Reason != tc.want || !strings.Contains(rej.Detail, tc.detail) {
				t.Fatalf("Check(%+v) = %v, want %s with detail containing %q", o, err, tc.want, tc.detail)
			}
		})
	}
}

func TestParseAllowlist(t *testing.T) {
	t.Parallel()
	al, err := ParseAllowlist("# comment\n\nEvil[.]COM, 1.2.3.4 ,1.2.3.4\n*.Bücher.de # idn\n10.1.0.0/16\n::ffff:5.6.7.8\n")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"evil.com", "1.2.3.4", "*.xn--bcher-kva.de", "10.1.0.0/16", "5.6.7.8"}
	if got := al.Entries(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("Entries() = %q, want %q", got, want)
	}
	_, err = ParseAllowlist("good.com\nbad..com\n1.2.3.4:80\nhttp://x.com/")
	if err == nil {
		t.Fatal("ParseAllowlist accepted invalid entries")
	}
	for _, s := range []string{"line 2", "line 3", "line 4"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not name %s", err, s)
		}
	}
	var zero Allowlist
	if _, ok := zero.Match(Observable{Type: TypeDomain, Value: "a.com"}); ok {
		t.Error("zero Allowlist matched")
	}
}

func TestBuiltinAllowlist(t *testing.T) {
	t.Parallel()
	if _, err := ParseAllowlist(builtinAllowlistText); err != nil {
		t.Fatalf("built-in allowlist: %v", err)
	}
	a, b := BuiltinAllowlist(), BuiltinAllowlist()
	if a.Len() < 100 {
		t.Errorf("built-in allowlist has %d entries", a.Len())
	}
	a.domains["evil.com"] = "evil.com" // mutate one copy
	if _, ok := b.Match(Observable{Type: TypeDomain, Value: "evil.com"}); ok {
		t.Error("BuiltinAllowlist copies share state")
	}
	for _, e := range b.Entries() {
		if strings.Contains(e, "bit.ly") || strings.Contains(e, "tinyurl") {
			t.Errorf("shortener %q allowlisted", e)
		}
	}
}

// TestAllowlistDoc checks that ALLOWLIST.md names every built-in entry and
// every reserved range.
func TestAllowlistDoc(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("ALLOWLIST.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range BuiltinAllowlist().Entries() {
		if !strings.Contains(string(doc), "`"+e+"`") {
			t.Errorf("ALLOWLIST.md does not list `%s`", e)
		}
	}
	for _, r := range reservedRanges() {
		if !strings.Contains(string(doc), "`"+r.prefix.String()+"`") {
			t.Errorf("ALLOWLIST.md does not list `%s`", r.prefix)
		}
	}
}
