package ioc

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// HintIPPort is a Normalize hint, never an Observable type: the value is an
// IP address followed by a port, as in ThreatFox's ip:port IOCs
// ("1.2.3.4:80", "[2001:db8::1]:443" or the bare "2a02:cf40:1::5:40669",
// which is split on its last colon). Normalize returns a TypeIPv4 or
// TypeIPv6 observable with Port set.
const HintIPPort Type = "ip:port"

// Size limits applied by Normalize.
const (
	// MaxInputLen is the longest raw value Normalize looks at; longer
	// inputs are rejected with ReasonTooLong before any other work.
	MaxInputLen = 4096
	// MaxURLLen is the longest canonical URL Normalize accepts.
	MaxURLLen = 2048
	// MaxDomainLen is the longest canonical (A-label) domain name.
	MaxDomainLen = 253
	// MaxEmailLen is the longest canonical email address.
	MaxEmailLen = 254
)

// ParseType maps a source's type name to a Type. It accepts our own names
// (see PossibleTypeValues), STIX object names and the usual aliases of
// abuse.ch, MISP and OTX, case-insensitively and with '_' and '-' treated
// alike: ip, ipv4, ip-dst, ip-src, ipv4-addr (TypeIPv4); ipv6, ipv6-addr
// (TypeIPv6); ip:port, ip-dst|port (HintIPPort); cidr, cidr4, cidr6;
// domain, domain-name, hostname, fqdn; url, uri; md5, md5_hash, FileHash-MD5
// and the same for sha1, sha256 and sha512; email, email-addr, email-src,
// email-dst; x509-sha1, x509_fingerprint_sha1.
//
// An IP hint (TypeIPv4, TypeIPv6, TypeCIDRv4, TypeCIDRv6) accepts any IP,
// ip:port or CIDR value and Normalize returns the value's real type, so
// "ip" mapping to TypeIPv4 also covers IPv6 addresses.
//
// The empty string returns "" (detect the type). Any other name, such as
// ja3, sha3_384_hash or CVE, returns a *Rejection with ReasonUnsupported.
func ParseType(s string) (Type, error) {
	k := strings.ToLower(strings.TrimSpace(s))
	k = strings.ReplaceAll(k, "_", "-")
	switch k {
	case "":
		return "", nil
	case "ip", "ipv4", "ip-dst", "ip-src", "ipv4-addr", "ip-address", "ipaddress", "ipv4-address":
		return TypeIPv4, nil
	case "ipv6", "ipv6-addr", "ipv6-address":
		return TypeIPv6, nil
	case "ip:port", "ip-port", "ip-dst|port", "ip-src|port":
		return HintIPPort, nil
	case "cidr", "cidr4", "cidrv4", "ipv4-cidr", "ip-range", "netblock":
		return TypeCIDRv4, nil
	case "cidr6", "cidrv6", "ipv6-cidr":
		return TypeCIDRv6, nil
	case "domain", "domain-name", "hostname", "fqdn", "host":
		return TypeDomain, nil
	case "url", "uri":
		return TypeURL, nil
	case "md5", "md5-hash", "filehash-md5", "file:hashes.md5":
		return TypeMD5, nil
	case "sha1", "sha1-hash", "filehash-sha1", "sha-1", "file:hashes.sha-1":
		return TypeSHA1, nil
	case "sha256", "sha256-hash", "filehash-sha256", "sha-256", "file:hashes.sha-256":
		return TypeSHA256, nil
	case "sha512", "sha512-hash", "filehash-sha512", "sha-512", "file:hashes.sha-512":
		return TypeSHA512, nil
	case "email", "email-addr", "email-src", "email-dst", "email-address", "e-mail":
		return TypeEmail, nil
	case "x509-sha1", "x509-fingerprint-sha1", "ssl-cert-sha1", "x509-certificate-sha1":
		return TypeX509SHA1, nil
	}
	return "", &Rejection{Reason: ReasonUnsupported, Value: truncate(s),
		Detail: "unsupported type " + quoteShort(s)}
}

// Normalize refangs raw (see [Refang]), validates it as hint and returns its
// canonical form. An empty hint means detect the type from the value; see
// [ParseType] for how IP hints and [HintIPPort] behave. The canonical forms:
//
//   - IPs: net/netip text form, IPv4-mapped IPv6 as IPv4; "ip:port" sets Port.
//   - CIDRs: masked to the network address; a /32 or /128 is a plain IP.
//   - Domains: lower-case A-labels (IDNA lookup rules, underscores
//     tolerated), no trailing dot, at least two labels, a non-numeric TLD, not
//     a bare public suffix (ICANN or private, e.g. "co.uk", "github.io").
//   - URLs: see normalizeURL: parsed as the WHATWG URL Standard (what
//     browsers do) for http, https, ws, wss and ftp: lower-case scheme and
//     host, default port dropped, backslashes in the path read as slashes,
//     dot segments resolved, and spaces, controls and non-ASCII in the
//     userinfo, path, query and fragment percent-encoded (%XX upper-case,
//     existing escapes kept); a host with a forbidden code point is
//     rejected.
//   - Hashes: lower-case hex of the type's length; without a hint the
//     length picks MD5, SHA-1, SHA-256 or SHA-512. x509-sha1 only by hint.
//   - Email: local part kept as given, domain as for domains.
//
// Normalize is idempotent: normalizing the returned Value with the returned
// Type gives the same Value. On failure the error is a *Rejection
// (ReasonInvalid, ReasonTooLong, ReasonPublicSuffix or ReasonUnsupported)
// whose Detail says what was expected. Normalize never panics.
func Normalize(raw string, hint Type) (Observable, error) {
	if len(raw) > MaxInputLen {
		return Observable{}, reject(ReasonTooLong, raw, "value longer than 4096 bytes")
	}
	s := Refang(raw)
	if s == "" {
		return Observable{}, reject(ReasonInvalid, raw, "empty value")
	}
	if !utf8.ValidString(s) {
		return Observable{}, reject(ReasonInvalid, raw, "value is not valid UTF-8")
	}
	if hint == "" {
		hint = detect(s)
	}
	switch hint {
	case TypeIPv4, TypeIPv6, TypeCIDRv4, TypeCIDRv6, HintIPPort:
		return normalizeIP(s, raw, hint)
	case TypeDomain:
		d, rej := normalizeDomain(s, raw, true)
		if rej != nil {
			return Observable{}, rej
		}
		return Observable{Type: TypeDomain, Value: d}, nil
	case TypeURL:
		return normalizeURL(s, raw)
	case TypeMD5, TypeSHA1, TypeSHA256, TypeSHA512, TypeX509SHA1:
		return normalizeHash(s, raw, hint)
	case TypeEmail:
		return normalizeEmail(s, raw)
	}
	return Observable{}, reject(ReasonUnsupported, raw, "unsupported type "+quoteShort(string(hint)))
}

// detect guesses the type of a refanged value.
func detect(s string) Type {
	if strings.Contains(s, "://") || hasSpecialScheme(s) {
		return TypeURL
	}
	if strings.IndexByte(s, '@') >= 0 && strings.IndexByte(s, '/') < 0 {
		return TypeEmail
	}
	if t := hashType(len(s)); t != "" && isHex(s) {
		return t
	}
	if looksLikeIP(s) {
		return TypeIPv4 // an IP hint: normalizeIP finds the family
	}
	if i := strings.IndexByte(s, '/'); i > 0 && strings.IndexByte(s[:i], '.') > 0 {
		// host/path without a scheme (how analysts often write a URL):
		// normalizeURL adds http://.
		return TypeURL
	}
	return TypeDomain
}

// looksLikeIP reports whether s is made only of characters of IP, CIDR and
// ip:port forms and holds a ':' or is dotted digits.
func looksLikeIP(s string) bool {
	colon, alpha := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ':':
			colon = true
		case c >= '0' && c <= '9', c == '.', c == '/', c == '[', c == ']':
		case c >= 'a' && c <= 'f', c >= 'A' && c <= 'F':
			alpha = true
		default:
			return false
		}
	}
	return colon || !alpha
}

func hashType(n int) Type {
	switch n {
	case 32:
		return TypeMD5
	case 40:
		return TypeSHA1
	case 64:
		return TypeSHA256
	case 128:
		return TypeSHA512
	}
	return ""
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func normalizeHash(s, raw string, t Type) (Observable, error) {
	if t == TypeX509SHA1 && len(s) == 59 && strings.Count(s, ":") == 19 {
		s = strings.ReplaceAll(s, ":", "") // AB:CD:... certificate fingerprints
	}
	want := 40
	switch t {
	case TypeMD5:
		want = 32
	case TypeSHA256:
		want = 64
	case TypeSHA512:
		want = 128
	}
	if len(s) != want || !isHex(s) {
		return Observable{}, reject(ReasonInvalid, raw,
			"expected "+string(t)+": "+strconv.Itoa(want)+" hexadecimal digits")
	}
	return Observable{Type: t, Value: lowerASCII(s)}, nil
}

func normalizeEmail(s, raw string) (Observable, error) {
	if len(s) > MaxEmailLen {
		return Observable{}, reject(ReasonTooLong, raw, "email address longer than 254 bytes")
	}
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 {
		return Observable{}, reject(ReasonInvalid, raw, "expected an email address local@domain")
	}
	local := s[:at]
	if !validLocal(local) {
		return Observable{}, reject(ReasonInvalid, raw,
			"expected an email address: invalid local part")
	}
	d, rej := normalizeDomain(s[at+1:], raw, true)
	if rej != nil {
		rej.Detail = "email domain: " + rej.Detail
		return Observable{}, rej
	}
	if len(s[at+1:]) == len(d) && s[at+1:] == d {
		return Observable{Type: TypeEmail, Value: s}, nil
	}
	return Observable{Type: TypeEmail, Value: local + "@" + d}, nil
}

// validLocal checks an unquoted (dot-atom) RFC 5322 local part.
func validLocal(l string) bool {
	if len(l) > 64 || l[0] == '.' || l[len(l)-1] == '.' || strings.Contains(l, "..") {
		return false
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-/=?^_`{|}~.", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// reject builds a *Rejection for raw.
func reject(r Reason, raw, detail string) *Rejection {
	return &Rejection{Reason: r, Value: truncate(raw), Detail: detail}
}

// truncate cuts s to at most 256 bytes on a rune boundary.
func truncate(s string) string {
	if len(s) <= 256 {
		return s
	}
	i := 256
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}

// quoteShort quotes s for a Detail, truncated to 64 bytes.
func quoteShort(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return `"` + strings.ToValidUTF8(s, "?") + `"`
}

// lowerASCII lower-cases ASCII letters, allocating only when s has upper
// case letters.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; 'A' <= c && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
