package ioc

import (
	"net/netip"
	"strings"
)

// normalizeIP handles every IP hint: an address, a CIDR or an ip:port.
func normalizeIP(s, raw string, hint Type) (Observable, error) {
	if hint == HintIPPort {
		if o, ok := splitIPPort(s, true); ok {
			return o, nil
		}
	}
	if strings.IndexByte(s, '/') >= 0 {
		return normalizeCIDR(s, raw)
	}
	if a, err := netip.ParseAddr(s); err == nil {
		if a.Zone() != "" {
			return Observable{}, reject(ReasonInvalid, raw, "expected an IP address without a zone")
		}
		return ipObservableFrom(s, a, 0), nil
	}
	// Not an address: with two or more colons it can only be an unbracketed
	// IPv6 ip:port ("2a02:cf40:1::5:40669"), so split on the last colon.
	if o, ok := splitIPPort(s, hint == TypeIPv6 || strings.Count(s, ":") >= 2); ok {
		return o, nil
	}
	return Observable{}, reject(ReasonInvalid, raw,
		"expected an IPv4 or IPv6 address, CIDR or ip:port")
}

// NormalizeIPPort normalizes an ip:port value; it is Normalize(raw,
// HintIPPort). A bare IPv6 "2a02:cf40:1::5:40669" is split on its last
// colon; "[v6]:port" and "a.b.c.d:port" are accepted, and so is an IP
// without a port (Port 0).
func NormalizeIPPort(raw string) (Observable, error) {
	return Normalize(raw, HintIPPort)
}

func ipObservable(a netip.Addr, port int) Observable {
	return ipObservableFrom("", a, port)
}

// ipObservableFrom builds the observable for a, reusing s as its Value when
// s already is the canonical text (saving an allocation).
func ipObservableFrom(s string, a netip.Addr, port int) Observable {
	a = a.Unmap()
	t := TypeIPv6
	if a.Is4() {
		t = TypeIPv4
	}
	var buf [64]byte
	if b := a.AppendTo(buf[:0]); string(b) == s {
		return Observable{Type: t, Value: s, Port: port}
	}
	return Observable{Type: t, Value: a.String(), Port: port}
}

// splitIPPort parses "[v6]:port", "v4:port" and, when lastColon is set,
// "v6:port" split on the last colon.
func splitIPPort(s string, lastColon bool) (Observable, bool) {
	if strings.HasPrefix(s, "[") {
		end := strings.Index(s, "]:")
		if end < 0 {
			return Observable{}, false
		}
		a, err := netip.ParseAddr(s[1:end])
		port, ok := parsePort(s[end+2:])
		if err != nil || !ok || a.Zone() != "" {
			return Observable{}, false
		}
		return ipObservableFrom(s[1:end], a, port), true
	}
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return Observable{}, false
	}
	host := s[:i]
	if strings.IndexByte(host, ':') >= 0 && !lastColon {
		return Observable{}, false
	}
	a, err := netip.ParseAddr(host)
	port, ok := parsePort(s[i+1:])
	if err != nil || !ok || a.Zone() != "" {
		return Observable{}, false
	}
	return ipObservableFrom(host, a, port), true
}

// parsePort parses a decimal TCP/UDP port 1-65535.
func parsePort(s string) (int, bool) {
	if len(s) == 0 || len(s) > 5 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, n > 0 && n <= 65535
}

func normalizeCIDR(s, raw string) (Observable, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return Observable{}, reject(ReasonInvalid, raw,
			"expected a CIDR such as 192.0.2.0/24 or 2001:db8::/32")
	}
	a, bits := p.Addr(), p.Bits()
	if a.Is4In6() {
		if bits < 96 {
			return Observable{}, reject(ReasonInvalid, raw,
				"expected a CIDR: IPv4-mapped prefix shorter than /96")
		}
		a, bits = a.Unmap(), bits-96
	}
	p = netip.PrefixFrom(a, bits).Masked()
	if bits == a.BitLen() {
		return ipObservable(p.Addr(), 0), nil
	}
	t := TypeCIDRv6
	if a.Is4() {
		t = TypeCIDRv4
	}
	return Observable{Type: t, Value: p.String()}, nil
}
