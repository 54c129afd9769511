package ioc

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// Allowlist is a set of benign IPs, CIDRs, domains and "*.domain" wildcards
// that must never become domain or IP indicators. The zero Allowlist is
// empty and ready to use. An Allowlist is not modified after ParseAllowlist
// returns it and is safe for concurrent use.
//
// Matching rules (see Match): a domain entry matches exactly that name; a
// "*.example.com" entry matches every subdomain of example.com but not
// example.com itself; an IP entry matches that address; a CIDR entry matches
// the addresses it contains. A CIDR indicator matches when it contains an
// allowlisted IP or overlaps an allowlisted CIDR.
type Allowlist struct {
	entries  []string          // canonical entries, in input order
	domains  map[string]string // exact name -> entry
	wildcard map[string]string // parent of "*.parent" -> entry
	addrs    map[netip.Addr]string
	ips      []netip.Addr   // the addrs keys, in input order
	prefixes []netip.Prefix // CIDR entries, in input order
}

// ParseAllowlist parses allowlist entries, one per line or comma-separated:
// an IP, a CIDR, a domain, or "*.domain" for all subdomains of domain. Text
// after '#' on a line is a comment; blank entries are ignored. Entries are
// normalized like indicators (refanged, lower-cased, IDN to A-labels, CIDRs
// masked), but public suffixes and reserved addresses are allowed. Any
// invalid entry makes ParseAllowlist return an error naming every invalid
// entry with its line number, and an empty Allowlist.
func ParseAllowlist(text string) (Allowlist, error) {
	var (
		al   Allowlist
		errs []error
	)
	for n, line := range strings.Split(text, "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		for field := range strings.SplitSeq(line, ",") {
			field = strings.TrimSpace(field)
			if field == "" {
				continue
			}
			if err := al.add(field); err != nil {
				errs = append(errs, fmt.Errorf("allowlist line %d: %w", n+1, err))
			}
		}
	}
	if len(errs) > 0 {
		return Allowlist{}, errors.Join(errs...)
	}
	return al, nil
}

// add parses and adds one entry.
func (al *Allowlist) add(e string) error {
	if len(e) > MaxInputLen {
		return reject(ReasonTooLong, e, "allowlist entry longer than 4096 bytes")
	}
	s := Refang(e)
	if strings.HasPrefix(s, "*.") {
		d, rej := normalizeDomain(s[2:], e, false)
		if rej != nil {
			return rej
		}
		if al.wildcard == nil {
			al.wildcard = make(map[string]string)
		}
		entry := "*." + d
		if _, dup := al.wildcard[d]; !dup {
			al.wildcard[d] = entry
			al.entries = append(al.entries, entry)
		}
		return nil
	}
	if looksLikeIP(s) {
		o, err := normalizeIP(s, e, TypeIPv4)
		if err != nil {
			return err
		}
		if o.Port != 0 {
			return reject(ReasonInvalid, e, "expected an IP, CIDR or domain without a port")
		}
		if o.Type == TypeCIDRv4 || o.Type == TypeCIDRv6 {
			p := netip.MustParsePrefix(o.Value) // canonical output of normalizeCIDR
			for _, q := range al.prefixes {
				if q == p {
					return nil
				}
			}
			al.prefixes = append(al.prefixes, p)
			al.entries = append(al.entries, o.Value)
			return nil
		}
		a := netip.MustParseAddr(o.Value)
		if al.addrs == nil {
			al.addrs = make(map[netip.Addr]string)
		}
		if _, dup := al.addrs[a]; !dup {
			al.addrs[a] = o.Value
			al.ips = append(al.ips, a)
			al.entries = append(al.entries, o.Value)
		}
		return nil
	}
	d, rej := normalizeDomain(s, e, false)
	if rej != nil {
		return rej
	}
	if al.domains == nil {
		al.domains = make(map[string]string)
	}
	if _, dup := al.domains[d]; !dup {
		al.domains[d] = d
		al.entries = append(al.entries, d)
	}
	return nil
}

// Entries returns the canonical entries, in the order they were parsed. The
// slice is a copy.
func (al Allowlist) Entries() []string {
	return append([]string(nil), al.entries...)
}

// Len returns the number of distinct entries.
func (al Allowlist) Len() int { return len(al.entries) }

// Match reports whether o is allowlisted and which entry matched. Only
// domain, IP and CIDR observables can match; URLs, hashes and email
// addresses never do.
func (al Allowlist) Match(o Observable) (entry string, ok bool) {
	switch o.Type {
	case TypeDomain:
		if e, ok := al.domains[o.Value]; ok {
			return e, true
		}
		if len(al.wildcard) == 0 {
			return "", false
		}
		d := o.Value
		for {
			i := strings.IndexByte(d, '.')
			if i < 0 {
				return "", false
			}
			d = d[i+1:]
			if e, ok := al.wildcard[d]; ok {
				return e, true
			}
		}
	case TypeIPv4, TypeIPv6:
		a, err := netip.ParseAddr(o.Value)
		if err != nil {
			return "", false
		}
		return al.matchAddr(a.Unmap())
	case TypeCIDRv4, TypeCIDRv6:
		p, err := netip.ParsePrefix(o.Value)
		if err != nil {
			return "", false
		}
		for _, a := range al.ips {
			if p.Contains(a) {
				return al.addrs[a], true
			}
		}
		for _, q := range al.prefixes {
			if p.Overlaps(q) {
				return q.String(), true
			}
		}
	}
	return "", false
}

func (al Allowlist) matchAddr(a netip.Addr) (string, bool) {
	if e, ok := al.addrs[a]; ok {
		return e, true
	}
	for _, q := range al.prefixes {
		if q.Contains(a) {
			return q.String(), true
		}
	}
	return "", false
}
