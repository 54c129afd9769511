package stix

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/feeds2sentinel/feeds2sentinel/internal/ioc"
)

func TestPattern(t *testing.T) {
	t.Parallel()
	h := func(n int) string { return strings.Repeat("a", n) }
	cases := []struct {
		o    ioc.Observable
		want string
	}{
		{ioc.Observable{Type: ioc.TypeIPv4, Value: "1.2.3.4", Port: 443}, "[ipv4-addr:value = '1.2.3.4']"},
		{ioc.Observable{Type: ioc.TypeCIDRv4, Value: "1.2.3.0/24"}, "[ipv4-addr:value = '1.2.3.0/24']"},
		{ioc.Observable{Type: ioc.TypeIPv6, Value: "2001:db8::1"}, "[ipv6-addr:value = '2001:db8::1']"},
		{ioc.Observable{Type: ioc.TypeCIDRv6, Value: "2001:db8::/32"}, "[ipv6-addr:value = '2001:db8::/32']"},
		{ioc.Observable{Type: ioc.TypeDomain, Value: "evil.example"}, "[domain-name:value = 'evil.example']"},
		{ioc.Observable{Type: ioc.TypeURL, Value: `http://e.example/a'b\c`}, `[url:value = 'http://e.example/a\'b\\c']`},
		{ioc.Observable{Type: ioc.TypeMD5, Value: h(32)}, "[file:hashes.'MD5' = '" + h(32) + "']"},
		{ioc.Observable{Type: ioc.TypeSHA1, Value: h(40)}, "[file:hashes.'SHA-1' = '" + h(40) + "']"},
		{ioc.Observable{Type: ioc.TypeSHA256, Value: h(64)}, "[file:hashes.'SHA-256' = '" + h(64) + "']"},
		{ioc.Observable{Type: ioc.TypeSHA512, Value: h(128)}, "[file:hashes.'SHA-512' = '" + h(128) + "']"},
		{ioc.Observable{Type: ioc.TypeEmail, Value: "a@b.example"}, "[email-addr:value = 'a@b.example']"},
		{ioc.Observable{Type: ioc.TypeX509SHA1, Value: h(40)}, "[x509-certificate:hashes.'SHA-1' = '" + h(40) + "']"},
		{ioc.Observable{Type: "ja3", Value: h(32)}, ""},
	}
	for _, tc := range cases {
		if got := Pattern(tc.o); got != tc.want {
			t.Errorf("Pattern(%+v) = %q, want %q", tc.o, got, tc.want)
		}
	}
}

func TestEscapeString(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{"it's", `it\'s`},
		{`a\b`, `a\\b`},
		{`\'`, `\\\'`},
		{`http://x.example/?q='1'\`, `http://x.example/?q=\'1\'\\`},
		{"日本'語", `日本\'語`},
	}
	for _, tc := range cases {
		if got := EscapeString(tc.in); got != tc.want {
			t.Errorf("EscapeString(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestParsePattern(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		want Comparison // zero = must fail
	}{
		{"[ipv4-addr:value = '1.2.3.4']", Comparison{"ipv4-addr", "value", "1.2.3.4"}},
		{"[ipv4-addr:value='1.2.3.4']", Comparison{"ipv4-addr", "value", "1.2.3.4"}},
		{" \t[ ipv4-addr:value  =\n'1.2.3.4' ] \r\n", Comparison{"ipv4-addr", "value", "1.2.3.4"}},
		{"[file:hashes.MD5 = 'abc']", Comparison{"file", "hashes.MD5", "abc"}},
		{"[file:hashes.'SHA-256' = 'abc']", Comparison{"file", "hashes.SHA-256", "abc"}},
		{"[x509-certificate:hashes.'SHA-1' = 'abc']", Comparison{"x509-certificate", "hashes.SHA-1", "abc"}},
		{`[url:value = 'http://x/it\'s\\']`, Comparison{"url", "value", `http://x/it's\`}},
		{"[url:value = '']", Comparison{"url", "value", ""}},
		{"[url:value = 'a]b']", Comparison{"url", "value", "a]b"}},
		{"", Comparison{}},
		{"ipv4-addr:value = '1.2.3.4'", Comparison{}},
		{"[ipv4-addr:value = '1.2.3.4'", Comparison{}},
		{"[ipv4-addr:value = '1.2.3.4]", Comparison{}},
		{"[ipv4-addr:value = '1.2.3.4'] AND [url:value = 'x']", Comparison{}},
		{"[ipv4-addr:value = '1.2.3.4' OR ipv4-addr:value = '5.6.7.8']", Comparison{}},
		{"[ipv4-addr:value = '1.2.3.4' AND ipv4-addr:value = '5.6.7.8']", Comparison{}},
		{"[file:name = 'help' AND (file:hashes.'MD5' = 'abc')]", Comparison{}},
		{"[ipv4-addr:value = '1.2.3.4'] WITHIN 5 SECONDS", Comparison{}},
		{"[ipv4-addr:value != '1.2.3.4']", Comparison{}},
		{"[ipv4-addr:value LIKE '1.2.3.%']", Comparison{}},
		{"[ipv4-addr:value = 1]", Comparison{}},
		{`[url:value = 'a\nb']`, Comparison{}},
		{`[url:value = 'a\']`, Comparison{}},
		{"[process:name = 'x']", Comparison{}},
		{"[x-custom:value = 'x']", Comparison{}},
		{"[file:hashes.'' = 'x']", Comparison{}},
		{"[file:hashes.'SHA-256 = 'x']", Comparison{}},
		{"[file:hashes. = 'x']", Comparison{}},
		{"[url: = 'x']", Comparison{}},
		{"[url:value[*] = 'x']", Comparison{}},
	}
	for _, tc := range cases {
		got, err := ParsePattern(tc.in)
		if tc.want == (Comparison{}) {
			if err == nil || !errors.Is(err, ErrInvalidPattern) {
				t.Errorf("ParsePattern(%q) = %+v, %v; want ErrInvalidPattern", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParsePattern(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

func TestObservableFromComparison(t *testing.T) {
	t.Parallel()
	cases := []struct {
		c    Comparison
		want ioc.Type // "" = unsupported
	}{
		{Comparison{"ipv4-addr", "value", "1.2.3.4"}, ioc.TypeIPv4},
		{Comparison{"ipv4-addr", "value", "1.2.3.0/24"}, ioc.TypeCIDRv4},
		{Comparison{"ipv6-addr", "value", "::1"}, ioc.TypeIPv6},
		{Comparison{"ipv6-addr", "value", "2001:db8::/32"}, ioc.TypeCIDRv6},
		{Comparison{"domain-name", "value", "a.example"}, ioc.TypeDomain},
		{Comparison{"url", "value", "http://a.example/"}, ioc.TypeURL},
		{Comparison{"email-addr", "value", "a@b.example"}, ioc.TypeEmail},
		{Comparison{"file", "hashes.MD5", "x"}, ioc.TypeMD5},
		{Comparison{"file", "hashes.md5", "x"}, ioc.TypeMD5},
		{Comparison{"file", "hashes.SHA-1", "x"}, ioc.TypeSHA1},
		{Comparison{"file", "hashes.SHA1", "x"}, ioc.TypeSHA1},
		{Comparison{"file", "hashes.SHA-256", "x"}, ioc.TypeSHA256},
		{Comparison{"file", "hashes.sha256", "x"}, ioc.TypeSHA256},
		{Comparison{"file", "hashes.SHA-512", "x"}, ioc.TypeSHA512},
		{Comparison{"x509-certificate", "hashes.SHA-1", "x"}, ioc.TypeX509SHA1},
		{Comparison{"x509-certificate", "hashes.SHA-256", "x"}, ""},
		{Comparison{"file", "hashes.SSDEEP", "x"}, ""},
		{Comparison{"file", "name", "x"}, ""},
		{Comparison{"url", "hashes.MD5", "x"}, ""},
		{Comparison{"domain-name", "resolves_to_refs", "x"}, ""},
	}
	for _, tc := range cases {
		typ, v, err := ObservableFromComparison(tc.c)
		if tc.want == "" {
			if !errors.Is(err, ErrUnsupportedType) {
				t.Errorf("ObservableFromComparison(%+v) = %q, %q, %v; want ErrUnsupportedType", tc.c, typ, v, err)
			}
			continue
		}
		if err != nil || typ != tc.want || v != tc.c.Value {
			t.Errorf("ObservableFromComparison(%+v) = %q, %q, %v; want %q", tc.c, typ, v, err, tc.want)
		}
	}
}

// TestPatternRoundTrip: every pattern Pattern builds parses back to the
// observable it came from.
func TestPatternRoundTrip(t *testing.T) {
	t.Parallel()
	for _, typ := range ioc.PossibleTypeValues() {
		o := ioc.Observable{Type: typ, Value: `v'\x` + string(typ)}
		if typ == ioc.TypeCIDRv4 || typ == ioc.TypeCIDRv6 {
			o.Value += "/8"
		}
		c, err := ParsePattern(Pattern(o))
		if err != nil {
			t.Fatalf("ParsePattern(Pattern(%+v)): %v", o, err)
		}
		gotType, gotValue, err := ObservableFromComparison(c)
		if err != nil || gotType != typ || gotValue != o.Value {
			t.Errorf("round trip of %+v = %q, %q, %v", o, gotType, gotValue, err)
		}
	}
}

func patternSeeds(f *testing.F) []string {
	data, err := os.ReadFile("testdata/patterns.txt")
	if err != nil {
		f.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

func FuzzEscapeRoundTrip(f *testing.F) {
	for _, p := range patternSeeds(f) {
		f.Add(p)
	}
	f.Add("\x00\xff'\\\\'")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParsePattern("[url:value = '" + EscapeString(s) + "']")
		if err != nil {
			t.Fatalf("ParsePattern of escaped %q: %v", s, err)
		}
		if c.Value != s {
			t.Fatalf("round trip of %q = %q", s, c.Value)
		}
	})
}

func FuzzParsePattern(f *testing.F) {
	for _, p := range patternSeeds(f) {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		c, err := ParsePattern(p)
		if err != nil {
			return
		}
		// A parsed comparison re-rendered canonically parses to itself.
		again, err := ParsePattern("[" + c.ObjectType + ":" + quotePath(c.Path) + " = '" + EscapeString(c.Value) + "']")
		if err != nil || again != c {
			t.Fatalf("re-parse of %+v from %q = %+v, %v", c, p, again, err)
		}
	})
}

// quotePath quotes every path component.
func quotePath(p string) string {
	parts := strings.Split(p, ".")
	for i := range parts {
		parts[i] = "'" + parts[i] + "'"
	}
	return strings.Join(parts, ".")
}
