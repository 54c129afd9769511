package ioc

import (
	"net/netip"
	"strings"
	"sync"
)

// Policy decides whether a normalized observable may become an indicator.
// The zero Policy applies the reserved-range rules and the built-in
// allowlist. A Policy is read-only once in use and safe for concurrent use.
// ALLOWLIST.md documents the reserved ranges and the built-in allowlist.
type Policy struct {
	// Extra holds allowlist entries used in addition to the built-in
	// allowlist (or instead of it when ReplaceBuiltin is set).
	Extra Allowlist
	// ReplaceBuiltin drops the built-in allowlist so only Extra applies.
	// Reserved ranges always apply.
	ReplaceBuiltin bool
}

// Check returns nil when o may become an indicator and otherwise a
// *Rejection:
//
//   - ReasonReserved for reserved and non-routable addresses (RFC 1918,
//     loopback, link-local, CGNAT, multicast, documentation, benchmarking,
//     unique-local, 0/8, 240/4, broadcast...), CIDRs overlapping such a
//     range, special-use names (localhost, *.local, *.test, example.com...)
//     and URLs and email addresses whose host is one of those;
//   - ReasonAllowlisted, with the matching entry named in Detail, for
//     domain, IP and CIDR observables on the allowlist. URLs, hashes and
//     email addresses are never allowlisted: a malware URL on github.com is
//     still an indicator.
//
// o is expected to come from Normalize. A nil *Policy is the zero Policy.
func (p *Policy) Check(o Observable) error {
	if detail := reservedDetail(o); detail != "" {
		return &Rejection{Reason: ReasonReserved, Value: truncate(o.Value), Detail: detail}
	}
	switch o.Type {
	case TypeDomain, TypeIPv4, TypeIPv6, TypeCIDRv4, TypeCIDRv6:
	default:
		return nil
	}
	var extra Allowlist
	replace := false
	if p != nil {
		extra, replace = p.Extra, p.ReplaceBuiltin
	}
	if e, ok := extra.Match(o); ok {
		return &Rejection{Reason: ReasonAllowlisted, Value: truncate(o.Value),
			Detail: "matches configured allowlist entry " + quoteShort(e)}
	}
	if !replace {
		if e, ok := builtinAllowlist().Match(o); ok {
			return &Rejection{Reason: ReasonAllowlisted, Value: truncate(o.Value),
				Detail: "matches built-in allowlist entry " + quoteShort(e)}
		}
	}
	return nil
}

// builtinAllowlist is the parsed built-in allowlist, built once. It is never
// handed out: BuiltinAllowlist returns a fresh copy.
var builtinAllowlist = sync.OnceValue(BuiltinAllowlist)

// BuiltinAllowlist returns a fresh copy of the built-in allowlist (see
// ALLOWLIST.md).
func BuiltinAllowlist() Allowlist {
	al, err := ParseAllowlist(builtinAllowlistText)
	if err != nil {
		// Covered by TestBuiltinAllowlist; never reached.
		return Allowlist{}
	}
	return al
}

// reservedRange is a special-purpose address block.
type reservedRange struct {
	prefix netip.Prefix
	name   string
}

// reservedRanges returns the special-purpose blocks (IANA IPv4 and IPv6
// Special-Purpose Address Registries, plus multicast and 240/4).
var reservedRanges = sync.OnceValue(func() []reservedRange {
	var rs []reservedRange
	for line := range strings.SplitSeq(reservedRangesText, "\n") {
		cidr, name, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok {
			continue
		}
		rs = append(rs, reservedRange{netip.MustParsePrefix(cidr), strings.TrimSpace(name)})
	}
	return rs
})

// reservedRangesText lists the reserved blocks, most specific first where
// they nest, as "CIDR name".
const reservedRangesText = `
255.255.255.255/32 limited broadcast (RFC 919)
0.0.0.0/8 "this network" (RFC 791)
10.0.0.0/8 private-use (RFC 1918)
100.64.0.0/10 shared address space / CGNAT (RFC 6598)
127.0.0.0/8 loopback (RFC 1122)
169.254.0.0/16 link-local (RFC 3927)
172.16.0.0/12 private-use (RFC 1918)
192.0.0.0/24 IETF protocol assignments (RFC 6890)
192.0.2.0/24 documentation TEST-NET-1 (RFC 5737)
192.168.0.0/16 private-use (RFC 1918)
198.18.0.0/15 benchmarking (RFC 2544)
198.51.100.0/24 documentation TEST-NET-2 (RFC 5737)
203.0.113.0/24 documentation TEST-NET-3 (RFC 5737)
224.0.0.0/4 multicast (RFC 5771)
240.0.0.0/4 reserved (RFC 1112)
::/128 unspecified (RFC 4291)
::1/128 loopback (RFC 4291)
::ffff:0.0.0.0/96 IPv4-mapped (RFC 4291)
64:ff9b:1::/48 local-use IPv4/IPv6 translation (RFC 8215)
100::/64 discard-only (RFC 6666)
2001:2::/48 benchmarking (RFC 5180)
2001:db8::/32 documentation (RFC 3849)
3fff::/20 documentation (RFC 9637)
fc00::/7 unique-local (RFC 4193)
fe80::/10 link-local (RFC 4291)
fec0::/10 site-local, deprecated (RFC 3879)
ff00::/8 multicast (RFC 4291)
`

// reservedDetail returns why o is reserved, or "".
func reservedDetail(o Observable) string {
	switch o.Type {
	case TypeIPv4, TypeIPv6:
		a, err := netip.ParseAddr(o.Value)
		if err != nil {
			return ""
		}
		return reservedAddr(a.Unmap())
	case TypeCIDRv4, TypeCIDRv6:
		p, err := netip.ParsePrefix(o.Value)
		if err != nil {
			return ""
		}
		for _, r := range reservedRanges() {
			if p.Overlaps(r.prefix) {
				return "overlaps " + r.prefix.String() + ", " + r.name
			}
		}
	case TypeDomain:
		return reservedDomain(o.Value)
	case TypeEmail:
		if at := strings.LastIndexByte(o.Value, '@'); at >= 0 {
			return reservedDomain(o.Value[at+1:])
		}
	case TypeURL:
		host := urlHost(o.Value)
		if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
			return reservedAddr(a.Unmap())
		}
		return reservedDomain(host)
	}
	return ""
}

func reservedAddr(a netip.Addr) string {
	for _, r := range reservedRanges() {
		if r.prefix.Contains(a) {
			return "in " + r.prefix.String() + ", " + r.name
		}
	}
	return ""
}

// reservedDomain reports special-use names (RFC 6761, RFC 6762, RFC 2606,
// RFC 8375, ICANN .internal) and Microsoft's documentation placeholder
// domains: the name itself or any subdomain.
func reservedDomain(d string) string {
	for {
		switch d {
		case "localhost", "local", "invalid", "example", "test", "internal", "home.arpa",
			"example.com", "example.net", "example.org":
			return "special-use domain name " + quoteShort(d)
		case "contoso.com", "fabrikam.com", "northwindtraders.com", "adventure-works.com",
			"wingtiptoys.com", "woodgrovebank.com", "tailspintoys.com", "litwareinc.com":
			// Microsoft's documentation placeholders: text pasted from
			// Sentinel and Defender docs is full of them.
			return "documentation placeholder domain " + quoteShort(d)
		}
		i := strings.IndexByte(d, '.')
		if i < 0 {
			return ""
		}
		d = d[i+1:]
	}
}

// urlHost returns the host of a canonical URL (brackets kept for IPv6).
func urlHost(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		u = u[i+3:]
	}
	if i := strings.IndexAny(u, "/?#\\"); i >= 0 {
		u = u[:i]
	}
	if i := strings.LastIndexByte(u, '@'); i >= 0 {
		u = u[i+1:]
	}
	if strings.HasPrefix(u, "[") {
		if i := strings.IndexByte(u, ']'); i >= 0 {
			return u[:i+1]
		}
		return u
	}
	if i := strings.LastIndexByte(u, ':'); i >= 0 {
		u = u[:i]
	}
	return u
}
