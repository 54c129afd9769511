package stix

import (
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/feeds2sentinel/feeds2sentinel/internal/ioc"
)

func TestNamespace(t *testing.T) {
	t.Parallel()
	want := uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://github.com/feeds2sentinel/feeds2sentinel"))
	if got := uuid.MustParse(NamespaceUUID); got != want {
		t.Errorf("NamespaceUUID = %s, want %s", got, want)
	}
	if got := uuid.UUID(namespace()); got != want {
		t.Errorf("namespace() = %s, want %s", got, want)
	}
}

func TestIndicatorIDMatchesUUIDv5(t *testing.T) {
	t.Parallel()
	ns := uuid.MustParse(NamespaceUUID)
	cases := []struct {
		o        ioc.Observable
		revision int
		name     string
	}{
		{ioc.Observable{Type: ioc.TypeIPv4, Value: "1.2.3.4"}, 0, "ipv4-addr:value:1.2.3.4"},
		{ioc.Observable{Type: ioc.TypeIPv4, Value: "1.2.3.4", Port: 443}, 0, "ipv4-addr:value:1.2.3.4"},
		{ioc.Observable{Type: ioc.TypeIPv4, Value: "1.2.3.4"}, 2, "ipv4-addr:value:1.2.3.4#2"},
		{ioc.Observable{Type: ioc.TypeCIDRv4, Value: "1.2.3.0/24"}, 0, "ipv4-addr:value:1.2.3.0/24"},
		{ioc.Observable{Type: ioc.TypeSHA256, Value: strings.Repeat("ab", 32)}, 0, "file:hashes.'SHA-256':" + strings.Repeat("ab", 32)},
		{ioc.Observable{Type: ioc.TypeX509SHA1, Value: strings.Repeat("0f", 20)}, 1, "x509-certificate:hashes.'SHA-1':" + strings.Repeat("0f", 20) + "#1"},
		{ioc.Observable{Type: ioc.TypeURL, Value: "http://evil.example/" + strings.Repeat("a", 400)}, 0, "url:value:http://evil.example/" + strings.Repeat("a", 400)},
		{ioc.Observable{Type: "bogus", Value: "x"}, 0, "bogus:x"},
	}
	for _, tc := range cases {
		want := "indicator--" + uuid.NewSHA1(ns, []byte(tc.name)).String()
		if got := IndicatorID(tc.o, tc.revision); got != want {
			t.Errorf("IndicatorID(%+v, %d) = %s, want %s", tc.o, tc.revision, got, want)
		}
	}
	if a, b := IndicatorID(cases[0].o, 0), IndicatorID(cases[0].o, 1); a == b {
		t.Errorf("revision 1 has the same id as revision 0: %s", a)
	}
}

func TestIdentityID(t *testing.T) {
	t.Parallel()
	ns := uuid.MustParse(NamespaceUUID)
	want := "identity--" + uuid.NewSHA1(ns, []byte("identity:threatfox")).String()
	for _, src := range []string{"threatfox", "ThreatFox", "THREATFOX"} {
		if got := IdentityID(src); got != want {
			t.Errorf("IdentityID(%q) = %s, want %s", src, got, want)
		}
	}
	if IdentityID("urlhaus") == want {
		t.Error("two sources share an identity id")
	}
}
