package ioc

import (
	"errors"
	"strings"
	"testing"
)

func TestRefang(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, want string }{
		{"evil.com", "evil.com"},
		{"evil[.]com", "evil.com"},
		{"evil(.)com", "evil.com"},
		{"evil{.}com", "evil.com"},
		{"evil[dot]com", "evil.com"},
		{"evil[DOT]com", "evil.com"},
		{"evil(dot)com", "evil.com"},
		{"evil[ dot ]com", "evil.com"},
		{"evil dot com", "evil dot com"}, // " dot " only inside brackets
		{`evil\.com`, "evil.com"},
		{`http://evil.com/a\.b`, `http://evil.com/a\.b`},
		{"hxxp://evil.com", "http://evil.com"},
		{"hxxps://evil.com", "https://evil.com"},
		{"hXXp://evil.com", "http://evil.com"},
		{"HXXPS://evil.com", "https://evil.com"},
		{"fxp://evil.com", "ftp://evil.com"},
		{"hxxp[://]evil.com", "http://evil.com"},
		{"hxxps[:]//evil[.]com[/]a", "https://evil.com/a"},
		{"user[@]evil[.]com", "user@evil.com"},
		{"user[at]evil.com", "user@evil.com"},
		{"user(at)evil.com", "user@evil.com"},
		{"1.2.3[.]4", "1.2.3.4"},
		{"1.2.3.4[:]80", "1.2.3.4:80"},
		{"  evil.com \n", "evil.com"},
		{"<http://evil.com/>", "http://evil.com/"},
		{`"evil.com"`, "evil.com"},
		{"'evil.com'", "evil.com"},
		{"`evil.com`", "evil.com"},
		{"[[.]]", "."},
		{"hxxp.example.com", "hxxp.example.com"},
		{"a(b)c", "a(b)c"},
	}
	for _, tc := range cases {
		if got := Refang(tc.in); got != tc.want {
			t.Errorf("Refang(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if got := Refang(tc.want); got != tc.want && tc.in != "[[.]]" {
			t.Errorf("Refang(%q) not a fixpoint: %q", tc.want, got)
		}
	}
}

func TestRefangNoAlloc(t *testing.T) {
	for _, s := range []string{"evil.com", "http://evil.com/a/b?c=d", "0123456789abcdef0123456789abcdef", " 1.2.3.4 "} {
		if n := testing.AllocsPerRun(100, func() { _ = Refang(s) }); n != 0 {
			t.Errorf("Refang(%q): %v allocs, want 0", s, n)
		}
	}
}

func TestNormalize(t *testing.T) {
	t.Parallel()
	long := "http://evil.com/" + strings.Repeat("a", 2100)
	cases := []struct {
		name  string
		raw   string
		hint  Type
		want  Observable
		wantR Reason // "" = accepted
	}{
		// IPs
		{"ipv4", "1.2.3.4", "", Observable{TypeIPv4, "1.2.3.4", 0}, ""},
		{"ipv4 hint", " 8.8.4[.]4 ", TypeIPv4, Observable{TypeIPv4, "8.8.4.4", 0}, ""},
		{"ipv4 leading zero", "01.2.3.4", "", Observable{}, ReasonInvalid},
		{"ipv4 octet", "1.2.3.256", "", Observable{}, ReasonInvalid},
		{"ipv6", "2001:DB8:0:0::1", "", Observable{TypeIPv6, "2001:db8::1", 0}, ""},
		{"ipv6 mapped", "::ffff:1.2.3.4", "", Observable{TypeIPv4, "1.2.3.4", 0}, ""},
		{"ipv6 zone", "fe80::1%eth0", "", Observable{}, ReasonInvalid},
		{"ip hint takes v6", "2a02:cf40:1::5", TypeIPv4, Observable{TypeIPv6, "2a02:cf40:1::5", 0}, ""},
		{"ipv4 port", "1.2.3.4:80", "", Observable{TypeIPv4, "1.2.3.4", 80}, ""},
		{"ipv4 port hint", "1.2.3.4:443", HintIPPort, Observable{TypeIPv4, "1.2.3.4", 443}, ""},
		{"ipv6 bare port", "2a02:cf40:1::5:40669", HintIPPort, Observable{TypeIPv6, "2a02:cf40:1::5", 40669}, ""},
		{"ipv6 bare port ambiguous", "2001:db8::1:443", HintIPPort, Observable{TypeIPv6, "2001:db8::1", 443}, ""},
		{"ipv6 bare port ipv6 hint", "2a02:cf40:1::5:40669", TypeIPv6, Observable{TypeIPv6, "2a02:cf40:1::5", 40669}, ""},
		{"ipv6 bracketed", "[2001:DB8::1]:443", "", Observable{TypeIPv6, "2001:db8::1", 443}, ""},
		{"ip port hint without port", "1.2.3.4", HintIPPort, Observable{TypeIPv4, "1.2.3.4", 0}, ""},
		{"port zero", "1.2.3.4:0", "", Observable{}, ReasonInvalid},
		{"port big", "1.2.3.4:65536", "", Observable{}, ReasonInvalid},
		{"NormalizeIPPort defanged", "1.2.3[.]4[:]8080", HintIPPort, Observable{TypeIPv4, "1.2.3.4", 8080}, ""},
		// CIDRs
		{"cidr4", "10.1.2.3/8", "", Observable{TypeCIDRv4, "10.0.0.0/8", 0}, ""},
		{"cidr4 hint", "192.0.2.0/24", TypeCIDRv4, Observable{TypeCIDRv4, "192.0.2.0/24", 0}, ""},
		{"cidr /32", "1.2.3.4/32", TypeCIDRv4, Observable{TypeIPv4, "1.2.3.4", 0}, ""},
		{"cidr6", "2001:DB8:1::/48", "", Observable{TypeCIDRv6, "2001:db8:1::/48", 0}, ""},
		{"cidr /128", "2001:db8::1/128", "", Observable{TypeIPv6, "2001:db8::1", 0}, ""},
		{"cidr mapped", "::ffff:10.0.0.0/104", "", Observable{TypeCIDRv4, "10.0.0.0/8", 0}, ""},
		{"cidr bad", "1.2.3.4/33", "", Observable{}, ReasonInvalid},
		// Domains
		{"domain", "Evil.COM.", "", Observable{TypeDomain, "evil.com", 0}, ""},
		{"domain defanged", "evil[.]co[.]uk", TypeDomain, Observable{TypeDomain, "evil.co.uk", 0}, ""},
		{"domain idn", "bücher.example", "", Observable{TypeDomain, "xn--bcher-kva.example", 0}, ""},
		{"domain idn upper", "BÜCHER.Example", TypeDomain, Observable{TypeDomain, "xn--bcher-kva.example", 0}, ""},
		{"domain a-label", "XN--BCHER-KVA.example", TypeDomain, Observable{TypeDomain, "xn--bcher-kva.example", 0}, ""},
		{"domain bad a-label", "xn--zz.example", TypeDomain, Observable{}, ReasonInvalid},
		{"domain leading hyphen", "-evil.com", TypeDomain, Observable{}, ReasonInvalid},
		{"domain trailing hyphen", "evil-.com", TypeDomain, Observable{}, ReasonInvalid},
		{"domain hyphen in subdomain", "a.-b.evil.com", "", Observable{}, ReasonInvalid},
		{"domain hyphen before tld", "evil.com-", "", Observable{}, ReasonInvalid},
		{"domain inner hyphens", "r3---sn-4g5e.googlevideo.com", "", Observable{TypeDomain, "r3---sn-4g5e.googlevideo.com", 0}, ""},
		{"domain a-label with hyphen", "xn--bcher-kva.example", "", Observable{TypeDomain, "xn--bcher-kva.example", 0}, ""},
		{"url host trailing hyphen", "http://evil-.com/a", "", Observable{}, ReasonInvalid},
		{"domain underscore", "sign_adfs-07en2p.zlatanibile.workers.dev", "", Observable{TypeDomain, "sign_adfs-07en2p.zlatanibile.workers.dev", 0}, ""},
		{"domain single label", "localhost", TypeDomain, Observable{}, ReasonInvalid},
		{"domain numeric tld", "1.2.3.4", TypeDomain, Observable{}, ReasonInvalid},
		{"domain bad char", "evil!.com", TypeDomain, Observable{}, ReasonInvalid},
		{"domain empty label", "evil..com", TypeDomain, Observable{}, ReasonInvalid},
		{"domain long label", strings.Repeat("a", 64) + ".com", TypeDomain, Observable{}, ReasonInvalid},
		{"domain too long", strings.Repeat("abcdefghi.", 26) + "com", TypeDomain, Observable{}, ReasonTooLong},
		{"public suffix icann", "co.uk", TypeDomain, Observable{}, ReasonPublicSuffix},
		{"public suffix private", "github.io", "", Observable{}, ReasonPublicSuffix},
		{"public suffix workers.dev", "workers.dev", "", Observable{}, ReasonPublicSuffix},
		{"under public suffix", "evil.github.io", "", Observable{TypeDomain, "evil.github.io", 0}, ""},
		{"domain with url", "http://evil.com", TypeDomain, Observable{}, ReasonInvalid},
		// URLs
		{"url", "http://evil.com/a", "", Observable{TypeURL, "http://evil.com/a", 0}, ""},
		{"url no path", "http://a.b.co", "", Observable{TypeURL, "http://a.b.co", 0}, ""},
		{"url defanged", "hxxps[:]//Evil[.]COM/Path?Q=1#F", "", Observable{TypeURL, "https://evil.com/Path?Q=1#F", 0}, ""},
		{"url scheme upper", "HTTP://EVIL.com/X", "", Observable{TypeURL, "http://evil.com/X", 0}, ""},
		{"url default port", "http://evil.com:80/a", "", Observable{TypeURL, "http://evil.com/a", 0}, ""},
		{"url default port https", "https://evil.com:443", "", Observable{TypeURL, "https://evil.com", 0}, ""},
		{"url default port ftp", "ftp://evil.com:21/x", "", Observable{TypeURL, "ftp://evil.com/x", 0}, ""},
		{"url other port", "http://evil.com:8080/a", "", Observable{TypeURL, "http://evil.com:8080/a", 0}, ""},
		{"url port leading zero", "http://evil.com:08080/a", "", Observable{TypeURL, "http://evil.com:8080/a", 0}, ""},
		{"url empty port", "http://evil.com:/a", "", Observable{TypeURL, "http://evil.com/a", 0}, ""},
		{"url bad port", "http://evil.com:99999/a", "", Observable{}, ReasonInvalid},
		{"url idn host", "http://BÜCHER.de/Ä?x=%20", "", Observable{TypeURL, "http://xn--bcher-kva.de/Ä?x=%20", 0}, ""},
		{"url bidi override", "http://evil.top/invoice\u202egpj.exe", "", Observable{TypeURL, "http://evil.top/invoice%E2%80%AEgpj.exe", 0}, ""},
		{"url zero width", "http://evil.top/a\u200bb?\ufeffq#\u2066", "", Observable{TypeURL, "http://evil.top/a%E2%80%8Bb?%EF%BB%BFq#%E2%81%A6", 0}, ""},
		{"url zero width userinfo", "http://u\u200b@evil.top/", "", Observable{TypeURL, "http://u%E2%80%8B@evil.top/", 0}, ""},
		{"url visible unicode kept", "http://evil.top/é", "", Observable{TypeURL, "http://evil.top/é", 0}, ""},
		{"url ipv4", "http://1.2.3.4:8000/i", "", Observable{TypeURL, "http://1.2.3.4:8000/i", 0}, ""},
		{"url ipv6", "http://[2001:DB8::1]:8080/x", "", Observable{TypeURL, "http://[2001:db8::1]:8080/x", 0}, ""},
		{"url ipv6 mapped", "http://[::ffff:1.2.3.4]/x", "", Observable{TypeURL, "http://1.2.3.4/x", 0}, ""},
		{"url unbracketed ipv6", "http://2001:db8::1/x", "", Observable{}, ReasonInvalid},
		{"url quotes and backslashes", `http://evil.com/a"b'c\d\.e?q="x"`, "", Observable{TypeURL, `http://evil.com/a"b'c\d\.e?q="x"`, 0}, ""},
		{"url backslash host end", `http://evil.com\x`, "", Observable{TypeURL, `http://evil.com\x`, 0}, ""},
		{"url percent kept", "http://evil.com/%7e%7E/", "", Observable{TypeURL, "http://evil.com/%7e%7E/", 0}, ""},
		{"url userinfo", "http://User:Pw@Evil.com/", "", Observable{TypeURL, "http://User:Pw@evil.com/", 0}, ""},
		{"url github", "https://github.com/x/y/raw/main/a.exe", "", Observable{TypeURL, "https://github.com/x/y/raw/main/a.exe", 0}, ""},
		{"url public suffix host", "https://github.io/x", "", Observable{TypeURL, "https://github.io/x", 0}, ""},
		{"url tcp", "tcp://1.2.3.4:4444", "", Observable{TypeURL, "tcp://1.2.3.4:4444", 0}, ""},
		{"url no scheme hint", "www.evil.com/path", TypeURL, Observable{TypeURL, "http://www.evil.com/path", 0}, ""},
		{"url no scheme detect", "www.evil.com/path", "", Observable{Type: TypeURL, Value: "http://www.evil.com/path"}, ""},
		{"url bad scheme", "javascript://evil.com/", "", Observable{}, ReasonInvalid},
		{"url space", "http://evil.com/a b", "", Observable{}, ReasonInvalid},
		{"url no host", "http:///a", "", Observable{}, ReasonInvalid},
		{"url bad host", "http://ev il.com/", "", Observable{}, ReasonInvalid},
		{"url too long", long, "", Observable{}, ReasonTooLong},
		// Hashes
		{"md5", "D41D8CD98F00B204E9800998ECF8427E", "", Observable{TypeMD5, "d41d8cd98f00b204e9800998ecf8427e", 0}, ""},
		{"sha1", " da39a3ee5e6b4b0d3255bfef95601890afd80709 ", "", Observable{TypeSHA1, "da39a3ee5e6b4b0d3255bfef95601890afd80709", 0}, ""},
		{"sha256", strings.Repeat("Ab", 32), TypeSHA256, Observable{TypeSHA256, strings.Repeat("ab", 32), 0}, ""},
		{"sha512", strings.Repeat("0f", 64), "", Observable{TypeSHA512, strings.Repeat("0f", 64), 0}, ""},
		{"x509", strings.Repeat("AB", 20), TypeX509SHA1, Observable{TypeX509SHA1, strings.Repeat("ab", 20), 0}, ""},
		{"x509 colons", strings.TrimSuffix(strings.Repeat("AB:", 20), ":"), TypeX509SHA1, Observable{TypeX509SHA1, strings.Repeat("ab", 20), 0}, ""},
		{"md5 wrong length", strings.Repeat("a", 31), TypeMD5, Observable{}, ReasonInvalid},
		{"sha256 not hex", strings.Repeat("g", 64), TypeSHA256, Observable{}, ReasonInvalid},
		// Email
		{"email", "John.Doe@Evil.COM", "", Observable{TypeEmail, "John.Doe@evil.com", 0}, ""},
		{"email defanged", "john[@]evil[.]com", "", Observable{TypeEmail, "john@evil.com", 0}, ""},
		{"email at", "john[at]evil[dot]com", TypeEmail, Observable{TypeEmail, "john@evil.com", 0}, ""},
		{"email idn", "a@bücher.de", "", Observable{TypeEmail, "a@xn--bcher-kva.de", 0}, ""},
		{"email no local", "@evil.com", "", Observable{}, ReasonInvalid},
		{"email bad local", "a..b@evil.com", "", Observable{}, ReasonInvalid},
		{"email bad domain", "a@evil", "", Observable{}, ReasonInvalid},
		// Other
		{"empty", "  ", "", Observable{}, ReasonInvalid},
		{"garbage", "not an ioc!", "", Observable{}, ReasonInvalid},
		{"garbage hint", "%%%", TypeDomain, Observable{}, ReasonInvalid},
		{"bad utf8", "evil\xff.com", "", Observable{}, ReasonInvalid},
		{"unsupported hint", "x", Type("ja3"), Observable{}, ReasonUnsupported},
		{"too long input", strings.Repeat("a", MaxInputLen+1), "", Observable{}, ReasonTooLong},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Normalize(tc.raw, tc.hint)
			if tc.wantR != "" {
				var rej *Rejection
				if !errors.As(err, &rej) || rej.Reason != tc.wantR {
					t.Fatalf("Normalize(%q, %q) = %+v, %v; want rejection %s", tc.raw, tc.hint, got, err, tc.wantR)
				}
				if !errors.Is(err, ErrRejected) || rej.Detail == "" || len(rej.Value) > 256 {
					t.Errorf("rejection %+v: want ErrRejected, a Detail and a Value of at most 256 bytes", rej)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Normalize(%q, %q) = %+v, %v; want %+v", tc.raw, tc.hint, got, err, tc.want)
			}
			again, err := Normalize(got.Value, got.Type)
			if err != nil || again.Value != got.Value || again.Type != got.Type {
				t.Errorf("not idempotent: Normalize(%q, %q) = %+v, %v", got.Value, got.Type, again, err)
			}
		})
	}
}

func TestParseType(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		want Type
	}{
		{"", ""},
		{"ip", TypeIPv4}, {"ipv4", TypeIPv4}, {"ip-dst", TypeIPv4}, {"IPv4", TypeIPv4},
		{"ipv6", TypeIPv6}, {"ip:port", HintIPPort}, {"ip-dst|port", HintIPPort},
		{"domain", TypeDomain}, {"hostname", TypeDomain}, {"fqdn", TypeDomain}, {"domain-name", TypeDomain},
		{"url", TypeURL}, {"URI", TypeURL},
		{"md5", TypeMD5}, {"md5_hash", TypeMD5}, {"FileHash-MD5", TypeMD5},
		{"sha1", TypeSHA1}, {"sha1_hash", TypeSHA1}, {"FileHash-SHA1", TypeSHA1},
		{"sha256", TypeSHA256}, {"sha256_hash", TypeSHA256}, {"FileHash-SHA256", TypeSHA256},
		{"sha512", TypeSHA512}, {"email", TypeEmail}, {"email-src", TypeEmail},
		{"cidr", TypeCIDRv4}, {"cidr6", TypeCIDRv6}, {"x509-sha1", TypeX509SHA1},
	}
	for _, tc := range cases {
		got, err := ParseType(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseType(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, typ := range PossibleTypeValues() {
		if got, err := ParseType(string(typ)); err != nil || got != typ {
			t.Errorf("ParseType(%q) = %q, %v", typ, got, err)
		}
	}
	for _, in := range []string{"ja3", "ja3_fingerprint", "sha3_384", "sha3_384_hash", "CVE", "mutex", "filename"} {
		_, err := ParseType(in)
		var rej *Rejection
		if !errors.As(err, &rej) || rej.Reason != ReasonUnsupported {
			t.Errorf("ParseType(%q) error = %v, want ReasonUnsupported", in, err)
		}
	}
}

// TestDetectSchemelessURLAndBareIPv6Port: without a type hint, a host/path
// is a URL (http:// added) and an unbracketed IPv6 ip:port that is not an
// address is split on its last colon; an IPv6 address that parses stays one.
func TestDetectSchemelessURLAndBareIPv6Port(t *testing.T) {
	tests := []struct {
		in   string
		typ  Type
		val  string
		port int
	}{
		{"evil.com/path?q=1", TypeURL, "http://evil.com/path?q=1", 0},
		{"Evil[.]Top/x", TypeURL, "http://evil.top/x", 0},
		{"2a02:cf40:1::5:40669", TypeIPv6, "2a02:cf40:1::5", 40669},
		{"2a02:cf40::5:443", TypeIPv6, "2a02:cf40::5:443", 0}, // a valid address: not split
		{"45.0.0.0/8", TypeCIDRv4, "45.0.0.0/8", 0},
	}
	for _, tt := range tests {
		o, err := Normalize(tt.in, "")
		if err != nil || o.Type != tt.typ || o.Value != tt.val || o.Port != tt.port {
			t.Errorf("Normalize(%q) = %+v, %v; want %s %s port %d", tt.in, o, err, tt.typ, tt.val, tt.port)
		}
	}
}
