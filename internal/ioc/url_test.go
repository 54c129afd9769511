package ioc

import (
	"errors"
	"strings"
	"testing"
)

// TestNormalizeURLWHATWG checks URLs that browsers accept against what the
// WHATWG URL parser makes of them. Every accepted "want" was checked
// against the href of `new URL(in)` in Node.js 20 (Ada), except where a
// comment says why it differs: the path percent-encode set gained '^' in
// 2025 (whatwg/url#846, after Node 20's Ada), and this package keeps a URL
// without a path without one, a trailing dot off the host, an
// IPv4-mapped IPv6 host as IPv4 and port 0 rejected (no browser loads it:
// Fetch's bad port).
func TestNormalizeURLWHATWG(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, in, want string
	}{
		// Characters a browser percent-encodes are encoded, not rejected.
		{"space in path", "http://evil.com/a b", "http://evil.com/a%20b"},
		{"non-ascii path query fragment", "http://evil.com/ü?ü#ü", "http://evil.com/%C3%BC?%C3%BC#%C3%BC"},
		{"idn host and non-ascii path", "http://BÜCHER.de/Ä?x=%20", "http://xn--bcher-kva.de/%C3%84?x=%20"},
		{"controls in path", "http://evil.com/\x07\x7f", "http://evil.com/%07%7F"},
		{"bidi override", "http://evil.com/\u202egpj", "http://evil.com/%E2%80%AEgpj"},
		{"path set", "http://evil.com/a^b{c}`d|e", "http://evil.com/a%5Eb%7Bc%7D%60d|e"}, // '^': whatwg/url#846
		{"path keeps sub-delims", "http://evil.com/a;b=c,d!e$f&g'h(i)*+@:~", "http://evil.com/a;b=c,d!e$f&g'h(i)*+@:~"},
		{"special query set and fragment set", "http://evil.com/?q='a b'`{}^|\\#fr ag`\"<>",
			"http://evil.com/?q=%27a%20b%27`{}^|\\#fr%20ag%60%22%3C%3E"},
		{"quotes and backslashes", `http://evil.com/a"b'c\d\.e?q="x"`, `http://evil.com/a%22b'c/d/.e?q=%22x%22`},
		{"second hash in fragment", "http://evil.com/a#b#c d", "http://evil.com/a#b#c%20d"},
		{"backslash in query kept", `http://evil.com/a?b\c`, `http://evil.com/a?b\c`},
		// Existing escapes are kept as they are, even invalid ones.
		{"escapes kept", "http://evil.com/%7e%7E/%zz%", "http://evil.com/%7e%7E/%zz%"},
		{"encoded slash kept", "http://evil.com/a%2fb", "http://evil.com/a%2fb"},
		// Backslashes, slashes and dot segments.
		{"backslash ends host", `http://evil.com\x`, "http://evil.com/x"},
		{"backslashes after scheme", `http:\\evil.com\a\b`, "http://evil.com/a/b"},
		{"one slash", "http:/evil.com/x", "http://evil.com/x"},
		{"no slash", "http:evil.com/x", "http://evil.com/x"},
		{"three slashes", "HTTPS:///evil.com", "https://evil.com"}, // browsers add "/"
		{"dot segments", "http://evil.com/a/../b/./c/%2e%2E/d/.", "http://evil.com/b/d/"},
		{"dot dot at end", "http://evil.com/a/..", "http://evil.com/"},
		{"encoded dot dot", "http://evil.com/.%2e/x", "http://evil.com/x"},
		{"dot dot above root", "http://evil.com/a/b/../../../c", "http://evil.com/c"},
		{"dot slash", "http://evil.com/./", "http://evil.com/"},
		{"three dots are a name", "http://evil.com/a/.../b", "http://evil.com/a/.../b"},
		{"empty segments kept", "http://evil.com//a//b", "http://evil.com//a//b"},
		// Stripped and removed characters.
		{"c0 and space trimmed, tab and newlines removed", " \x01http://evil.com/a\tb\nc\r \x00", "http://evil.com/abc"},
		// Userinfo.
		{"userinfo set", "http://u s:p:w@x@evil.com/", "http://u%20s:p%3Aw%40x@evil.com/"},
		{"empty userinfo dropped", "http://:@evil.com/", "http://evil.com/"},
		{"empty password dropped", "http://user:@evil.com/", "http://user@evil.com/"},
		{"at only", "http://@evil.com/x", "http://evil.com/x"},
		// Hosts.
		{"percent-encoded host", "http://ev%69l.com/", "http://evil.com/"},
		{"percent-encoded utf-8 host", "http://ex%41mple.co/", "http://example.co/"},
		{"fullwidth host", "http://ｅｖｉｌ.com/", "http://evil.com/"},
		{"ideographic full stop", "http://evil。com/", "http://evil.com/"},
		{"hex and short ipv4", "http://0x7f.1/", "http://127.0.0.1/"},
		{"decimal ipv4", "http://2130706433/", "http://127.0.0.1/"},
		{"octal ipv4 part", "http://1.2.3.04/", "http://1.2.3.4/"},
		{"ipv4 trailing dot", "http://1.2.3.4./", "http://1.2.3.4/"},
		{"trailing dot host", "http://EVIL.com./x", "http://evil.com/x"}, // browsers keep the dot
		{"mapped ipv6", "http://[::ffff:1.2.3.4]/x", "http://1.2.3.4/x"}, // browsers: [::ffff:102:304]
		// Ports.
		{"port leading zeros", "http://evil.com:000080/", "http://evil.com/"},
		{"ftp default port", "ftp://evil.com:21/x", "ftp://evil.com/x"},
		{"wss default port", "wss://evil.com:443/x", "wss://evil.com/x"},
		{"no path stays", "http://evil.com:8080", "http://evil.com:8080"}, // browsers add "/"
		// Other schemes: no backslash as slash, "'" kept in the query.
		{"non-special scheme", `tcp://evil.com/a\b?q='x'`, `tcp://evil.com/a\b?q='x'`},
		{"non-special space", "tcp://evil.com/a b", "tcp://evil.com/a%20b"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, hint := range []Type{TypeURL, ""} {
				got, err := Normalize(tc.in, hint)
				if hint == "" && (err != nil || got.Type != TypeURL) {
					continue // detection is not what this test is about
				}
				if err != nil || got.Type != TypeURL || got.Value != tc.want {
					t.Fatalf("Normalize(%q, %q) = %+v, %v; want %q", tc.in, hint, got, err, tc.want)
				}
			}
			again, err := Normalize(tc.want, TypeURL)
			if err != nil || again.Value != tc.want {
				t.Errorf("not idempotent: Normalize(%q) = %+v, %v", tc.want, again, err)
			}
		})
	}
}

// TestNormalizeURLRejectsWhatNoBrowserLoads: URLs the WHATWG parser fails
// on (or that no browser fetches) are rejected with a Detail saying what
// was expected.
func TestNormalizeURLRejectsWhatNoBrowserLoads(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, detail string }{
		{"http://ev il.com/", "forbidden host code point"},
		{"http://ev%20il.com/", "forbidden host code point"},
		{"http://ev<il.com/", "forbidden host code point"},
		{"http://ev^il.com/", "forbidden host code point"},
		{"http://ev|il.com/", "forbidden host code point"},
		{"http://ev%25il.com/", "forbidden host code point"},
		{"http://ev%00il.com/", "forbidden host code point"},
		{"http://ev%FFil.de/", "UTF-8"},
		{"http://1.2.3.256/", "IPv4"},
		{"http://1.2.65536/", "IPv4"},
		{"http://4294967296/", "IPv4"},
		{"http://0x100000000/", "IPv4"},
		{"http://1.2.3.4.5/", "IPv4"},
		{"http://08.1.2.3/", "IPv4"},
		{"http://evil.123/", "IPv4"},
		{"http://evil.com:65536/", "port"},
		{"http://evil.com:8a/", "port"},
		{"http://evil.com:0/", "port"},
		{"http://u@/", "host"},
		{"http://", "host"},
		{"tcp://ev\\il.com/", "forbidden host code point"},
		{"javascript://evil.com/", "scheme"},
		{"1http://evil.com/", "scheme"},
	}
	for _, tc := range cases {
		o, err := Normalize(tc.in, TypeURL)
		var rej *Rejection
		if !errors.As(err, &rej) || rej.Reason != ReasonInvalid {
			t.Errorf("Normalize(%q) = %+v, %v; want ReasonInvalid", tc.in, o, err)
			continue
		}
		if !strings.Contains(rej.Detail, tc.detail) {
			t.Errorf("Normalize(%q) detail %q; want it to mention %q", tc.in, rej.Detail, tc.detail)
		}
	}
}

// TestNormalizeURLHostileLinear: long runs of dot segments, encodable
// bytes and separators stay within MaxURLLen or are rejected as too long,
// in one pass (see BenchmarkNormalizeURLHostile for the cost).
func TestNormalizeURLHostileLinear(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		want string
		r    Reason
	}{
		{"http://evil.com/" + strings.Repeat("a/../", 800) + "x", "http://evil.com/x", ""},
		{"http://evil.com/" + strings.Repeat("../", 1300), "http://evil.com/", ""},
		{"http://evil.com/" + strings.Repeat("\\", 2000), "http://evil.com/" + strings.Repeat("/", 2000), ""},
		{"http://evil.com/" + strings.Repeat(" x", 700), "", ReasonTooLong},
		{"http://evil.com/" + strings.Repeat("é", 2000), "", ReasonTooLong},
	}
	for _, tc := range cases {
		o, err := Normalize(tc.in, TypeURL)
		if tc.r != "" {
			var rej *Rejection
			if !errors.As(err, &rej) || rej.Reason != tc.r {
				t.Errorf("Normalize(%.40q...) = %.60q, %v; want %s", tc.in, o.Value, err, tc.r)
			}
			continue
		}
		if err != nil || o.Value != tc.want {
			t.Errorf("Normalize(%.40q...) = %.60q, %v; want %.60q", tc.in, o.Value, err, tc.want)
		}
	}
}

func BenchmarkNormalizeURLHostile(b *testing.B) {
	for _, in := range []string{
		"http://evil.com/" + strings.Repeat("a/../", 800),
		"http://evil.com/" + strings.Repeat("\\a", 1000),
		"http://evil.com/" + strings.Repeat("é", 600),
	} {
		b.Run(in[16:22], func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				_, _ = Normalize(in, TypeURL)
			}
		})
	}
}

// TestNormalizeURLNumericHostReserved: a host a browser reads as an IPv4
// address ("0x7f.1", "2130706433", "10.0.0.010") is that address, so the
// reserved-range policy sees it and rejects it.
func TestNormalizeURLNumericHostReserved(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"http://0x7f.1/a", "http://2130706433/", "http://0177.0.0.1/", "http://10.0.0.010/", "http://192.168.0x1.1/"} {
		o, err := Normalize(in, TypeURL)
		if err != nil {
			t.Errorf("Normalize(%q): %v", in, err)
			continue
		}
		var p Policy
		var rej *Rejection
		if err := p.Check(o); !errors.As(err, &rej) || rej.Reason != ReasonReserved {
			t.Errorf("Policy.Check(%q) = %v; want ReasonReserved", o.Value, err)
		}
	}
}
