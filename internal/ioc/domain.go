package ioc

import (
	"strings"

	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"
)

// idnaProfile converts internationalized names to A-labels with the UTS #46
// lookup mapping and the Bidi rule, but without the STD3 ASCII rules, so
// that the underscores of real phishing hosts
// (sign_adfs-07en2p.zlatanibile.workers.dev) pass. ASCII is checked by
// validHostname afterwards. A Profile is immutable and safe for concurrent
// use.
var idnaProfile = idna.New(idna.MapForLookup(), idna.BidiRule(), idna.StrictDomainName(false))

// normalizeDomain returns the canonical A-label form of the domain s.
// suffixCheck rejects bare public suffixes (hosts of URLs skip it).
func normalizeDomain(s, raw string, suffixCheck bool) (string, *Rejection) {
	s = strings.TrimSuffix(s, ".")
	if s == "" {
		return "", reject(ReasonInvalid, raw, "expected a domain name")
	}
	d := s
	if needsIDNA(s) {
		var err error
		d, err = idnaProfile.ToASCII(s)
		if err != nil {
			return "", reject(ReasonInvalid, raw, "expected a domain name: invalid internationalized name")
		}
	} else {
		d = lowerASCII(s)
	}
	if len(d) > MaxDomainLen {
		return "", reject(ReasonTooLong, raw, "domain name longer than 253 bytes")
	}
	if detail := validHostname(d); detail != "" {
		return "", reject(ReasonInvalid, raw, "expected a domain name: "+detail)
	}
	if suffixCheck {
		if ps, _ := publicsuffix.PublicSuffix(d); ps == d {
			return "", reject(ReasonPublicSuffix, raw,
				"expected a registrable domain, got the public suffix "+quoteShort(d))
		}
	}
	return d, nil
}

// needsIDNA reports whether s has non-ASCII bytes or an A-label ("xn--")
// whose punycode must be validated.
func needsIDNA(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return true
		}
	}
	return strings.HasPrefix(s, "xn--") || strings.HasPrefix(s, "XN--") ||
		strings.Contains(s, ".xn--") || strings.Contains(s, ".XN--")
}

// validHostname checks a lower-case ASCII name: two or more labels of 1-63
// bytes from [a-z0-9_-] that neither start nor end with '-', and a TLD of [a-z0-9-] that is not all digits.
// It returns "" when valid and what is wrong otherwise.
func validHostname(d string) string {
	labels, start := 0, 0
	for i := 0; i <= len(d); i++ {
		if i < len(d) && d[i] != '.' {
			c := d[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return "invalid character " + quoteShort(string(c))
			}
			continue
		}
		n := i - start
		if n == 0 {
			return "empty label"
		}
		if n > 63 {
			return "label longer than 63 bytes"
		}
		if d[start] == '-' || d[i-1] == '-' {
			// RFC 1035 and RFC 5891 (section 4.2.3.1): a label neither
			// starts nor ends with a hyphen.
			return "label " + quoteShort(d[start:i]) + " starts or ends with a hyphen"
		}
		labels++
		if i == len(d) {
			tld := d[start:]
			if strings.IndexByte(tld, '_') >= 0 {
				return "invalid top-level domain"
			}
			if allDigits(tld) {
				return "numeric top-level domain"
			}
		}
		start = i + 1
	}
	if labels < 2 {
		return "at least two labels required"
	}
	return ""
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
