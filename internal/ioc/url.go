package ioc

import (
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"
)

// urlDefaultPort reports whether scheme may start a URL indicator and its
// default port (0 when no port is dropped).
func urlDefaultPort(scheme string) (port int, ok bool) {
	switch scheme {
	case "http", "ws":
		return 80, true
	case "https", "wss":
		return 443, true
	case "ftp":
		return 21, true
	case "ftps", "sftp", "ssh", "tcp", "udp", "tls", "ssl", "smb", "irc", "ircs",
		"rtsp", "ldap", "ldaps", "telnet", "socks", "socks4", "socks5", "git", "gopher":
		return 0, true
	}
	return 0, false
}

// normalizeURL canonicalizes a URL the way the WHATWG URL Standard's basic
// URL parser does for the special schemes (http, https, ws, wss, ftp), so
// that the value is the one browsers request and proxies log:
//
//   - leading and trailing C0 controls and spaces are stripped, tabs and
//     newlines anywhere are removed;
//   - the scheme is lower-cased; "http:\\host", "http:/host" and
//     "http:host" are read as "http://host", and a value without a scheme
//     is taken as http:// + value;
//   - a backslash is a slash in the authority and path of a special URL;
//   - userinfo, path, query and fragment are percent-encoded with the
//     userinfo, path, (special-)query and fragment percent-encode sets
//     (upper-case hex, UTF-8): spaces, controls, non-ASCII and invisible
//     characters become %XX; valid %XX escapes are kept as they are;
//   - "." and ".." path segments (also as %2e) are resolved;
//   - the host is percent-decoded, checked for forbidden host code points,
//     mapped to lower-case A-labels (IDNA) or, when it ends in a number,
//     read as an IPv4 address (hex and octal parts included); an IPv6 host
//     is bracketed in canonical form (an IPv4-mapped one becomes IPv4);
//   - a default port and an empty port are dropped.
//
// Two deliberate differences from a browser keep existing indicators
// stable: a URL without a path stays without one (no "/" is added), and
// the host must be a valid domain name (public suffixes allowed) or IP
// address. Other schemes (tcp, smb...) get the same encoding with the
// non-special rules: a backslash is not a slash and "'" in the query is
// kept.
func normalizeURL(s, raw string) (Observable, error) {
	s = removeTabNewline(strings.TrimFunc(s, isC0OrSpace))
	scheme, rest, given, rej := splitScheme(s, raw)
	if rej != nil {
		return Observable{}, rej
	}
	defPort, ok := urlDefaultPort(scheme)
	if !ok {
		return Observable{}, reject(ReasonInvalid, raw, "unsupported URL scheme "+quoteShort(scheme))
	}
	special := isSpecialScheme(scheme)
	terminators := "/?#"
	if special {
		terminators = "/?#\\"
	}
	authEnd := strings.IndexAny(rest, terminators)
	if authEnd < 0 {
		authEnd = len(rest)
	}
	auth, tail := rest[:authEnd], rest[authEnd:]
	userinfo := ""
	if at := strings.LastIndexByte(auth, '@'); at >= 0 {
		userinfo, auth = auth[:at+1], auth[at+1:]
	}
	canonUser := canonicalUserinfo(userinfo)
	canonTail := canonicalTail(tail, special)
	host, port, ok := splitHostPort(auth)
	if !ok {
		return Observable{}, reject(ReasonInvalid, raw, "expected a URL host[:port]")
	}
	canonHost, rej := canonicalHost(host, special, raw)
	if rej != nil {
		return Observable{}, rej
	}
	portPart := ""
	if port != "" {
		n, ok := parsePort(strings.TrimLeft(port, "0"))
		if !ok {
			return Observable{}, reject(ReasonInvalid, raw, "expected a URL port 1-65535")
		}
		if n != defPort {
			portPart = ":" + strconv.Itoa(n)
		}
	}
	n := len(scheme) + 3 + len(canonUser) + len(canonHost) + len(portPart) + len(canonTail)
	if n > MaxURLLen {
		return Observable{}, reject(ReasonTooLong, raw, "URL longer than 2048 bytes")
	}
	if given == scheme+"://" && userinfo == canonUser && host == canonHost &&
		auth[len(host):] == portPart && tail == canonTail {
		return Observable{Type: TypeURL, Value: s}, nil // already canonical
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString(scheme)
	b.WriteString("://")
	b.WriteString(canonUser)
	b.WriteString(canonHost)
	b.WriteString(portPart)
	b.WriteString(canonTail)
	return Observable{Type: TypeURL, Value: b.String()}, nil
}

// isSpecialScheme reports whether scheme is one of the WHATWG URL
// Standard's special schemes that this package accepts (file is not).
func isSpecialScheme(scheme string) bool {
	switch scheme {
	case "http", "https", "ws", "wss", "ftp":
		return true
	}
	return false
}

// hasSpecialScheme reports whether s starts with a special scheme, a colon
// and a slash or backslash (`http:\\evil.com`, "https:/x"): a URL even
// without "://".
func hasSpecialScheme(s string) bool {
	i := strings.IndexByte(s, ':')
	return i > 0 && i+1 < len(s) && (s[i+1] == '/' || s[i+1] == '\\') && isSpecialScheme(lowerASCII(s[:i]))
}

// isC0OrSpace reports whether r is a C0 control or space, which the WHATWG
// URL parser strips from both ends of its input.
func isC0OrSpace(r rune) bool { return r <= ' ' }

// removeTabNewline removes every tab, LF and CR from s, as the WHATWG URL
// parser does before parsing. It returns s itself when there are none.
func removeTabNewline(s string) string {
	if !strings.ContainsAny(s, "\t\n\r") {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != '\t' && c != '\n' && c != '\r' {
			b = append(b, c)
		}
	}
	return string(b)
}

// splitScheme returns the lower-cased scheme of s, what follows the
// scheme and its slashes, and the scheme text as given including its
// separator (so that the caller can tell an unchanged "http://"). A value
// without a scheme is taken as "http://" + s (given is then ""). A special
// scheme may be followed by any mix of slashes and backslashes, or none,
// as in browsers; another scheme needs "://".
func splitScheme(s, raw string) (scheme, rest, given string, rej *Rejection) {
	i := strings.IndexByte(s, ':')
	if i <= 0 {
		return "http", s, "", nil
	}
	scheme = lowerASCII(s[:i])
	if !validScheme(scheme) {
		if strings.HasPrefix(s[i:], "://") {
			return "", "", "", reject(ReasonInvalid, raw, "expected a URL with a scheme such as http://")
		}
		return "http", s, "", nil
	}
	if isSpecialScheme(scheme) {
		rest = strings.TrimLeft(s[i+1:], "/\\")
		return scheme, rest, s[:len(s)-len(rest)], nil
	}
	if strings.HasPrefix(s[i:], "://") {
		return scheme, s[i+3:], s[:i+3], nil
	}
	// "host:port/path" without a scheme, or "name:..." that is no URL.
	return "http", s, "", nil
}

// encodeSet names a WHATWG percent-encode set. Every set holds the C0
// controls and the bytes above 0x7E (so non-ASCII code points are encoded
// as their UTF-8 bytes).
type encodeSet uint8

const (
	// fragmentSet adds space " < > `.
	fragmentSet encodeSet = iota
	// querySet adds space " # < >.
	querySet
	// specialQuerySet is querySet and '.
	specialQuerySet
	// pathSet is querySet and ? ^ ` { }.
	pathSet
	// userinfoSet is pathSet and / : ; = @ [ \ ] |.
	userinfoSet
)

// has reports whether set percent-encodes the byte c.
func (set encodeSet) has(c byte) bool {
	if c < 0x20 || c > 0x7e {
		return true
	}
	switch c {
	case ' ', '"', '<', '>':
		return true
	case '#':
		return set != fragmentSet
	case '`':
		return set != querySet && set != specialQuerySet
	case '\'':
		return set == specialQuerySet
	case '?', '^', '{', '}':
		return set >= pathSet
	case '/', ':', ';', '=', '@', '[', '\\', ']', '|':
		return set == userinfoSet
	}
	return false
}

// needsEncoding reports whether set encodes a byte of s.
func needsEncoding(s string, set encodeSet) bool {
	for i := 0; i < len(s); i++ {
		if set.has(s[i]) {
			return true
		}
	}
	return false
}

// appendEncoded appends s to b with the bytes in set percent-encoded as
// %XX with upper-case hex digits.
func appendEncoded(b []byte, s string, set encodeSet) []byte {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if set.has(c) {
			b = append(b, '%', hex[c>>4], hex[c&15])
		} else {
			b = append(b, c)
		}
	}
	return b
}

// canonicalUserinfo returns the userinfo u ("user:password@", or "")
// serialized as the WHATWG URL parser does: username and password (split
// at the first ':') encoded with the userinfo set, so that an earlier '@'
// becomes %40, and no "@" at all when both are empty. It returns u itself
// when it is already so.
func canonicalUserinfo(u string) string {
	if u == "" || u == "@" {
		return ""
	}
	info := u[:len(u)-1]
	user, pass, hasPass := strings.Cut(info, ":")
	if !needsEncoding(user, userinfoSet) && !needsEncoding(pass, userinfoSet) && (!hasPass || pass != "") {
		return u
	}
	if user == "" && pass == "" {
		return ""
	}
	b := make([]byte, 0, 3*len(u))
	b = appendEncoded(b, user, userinfoSet)
	if pass != "" {
		b = append(b, ':')
		b = appendEncoded(b, pass, userinfoSet)
	}
	return string(append(b, '@'))
}

// canonicalTail returns the path, query and fragment t of a URL (t starts
// with '/', '?' or '#', or is empty) as the WHATWG URL parser serializes
// them: in a special URL a backslash in the path is a slash; "." and ".."
// segments are resolved; the path, query and fragment are encoded with
// their percent-encode sets. An empty path stays empty. It returns t itself
// when it is already so.
func canonicalTail(t string, special bool) string {
	qs := querySet
	if special {
		qs = specialQuerySet
	}
	pathEnd := strings.IndexAny(t, "?#")
	if pathEnd < 0 {
		pathEnd = len(t)
	}
	path, query, frag := t[:pathEnd], t[pathEnd:], ""
	if i := strings.IndexByte(query, '#'); i >= 0 {
		query, frag = query[:i], query[i:]
	}
	if pathCanonical(path, special) &&
		(query == "" || !needsEncoding(query[1:], qs)) &&
		(frag == "" || !needsEncoding(frag[1:], fragmentSet)) {
		return t
	}
	b := make([]byte, 0, len(t)+16)
	b = appendPath(b, path, special)
	if query != "" {
		b = appendEncoded(append(b, '?'), query[1:], qs)
	}
	if frag != "" {
		b = appendEncoded(append(b, '#'), frag[1:], fragmentSet)
	}
	return string(b)
}

// isPathSep reports whether c separates path segments.
func isPathSep(c byte, special bool) bool { return c == '/' || special && c == '\\' }

// pathCanonical reports whether appendPath would return path unchanged:
// no backslash separator, no dot segment, nothing to encode.
func pathCanonical(path string, special bool) bool {
	if path == "" {
		return true
	}
	if path[0] != '/' {
		return false
	}
	seg := 1
	for i := 1; i <= len(path); i++ {
		if i < len(path) {
			c := path[i]
			if c != '/' && isPathSep(c, special) || pathSet.has(c) {
				return false
			}
			if c != '/' {
				continue
			}
		}
		if dotSegment(path[seg:i]) != 0 {
			return false
		}
		seg = i + 1
	}
	return true
}

// dotSegment returns 1 for a single-dot path segment ("." or "%2e"), 2 for a
// double-dot one ("..", ".%2e", "%2e.", "%2e%2e"), ASCII case-insensitively,
// and 0 otherwise.
func dotSegment(s string) int {
	dots := 0
	for s != "" {
		switch {
		case s[0] == '.':
			s = s[1:]
		case len(s) >= 3 && s[0] == '%' && s[1] == '2' && (s[2] == 'e' || s[2] == 'E'):
			s = s[3:]
		default:
			return 0
		}
		dots++
		if dots > 2 {
			return 0
		}
	}
	return dots
}

// appendPath appends the WHATWG serialization of path (empty, or starting
// with a separator) to b, resolving dot segments: ".." removes the segment
// before it, and a final "." or ".." leaves an empty last segment ("/a/.."
// is "/"). It runs in linear time: a removed segment is cut off b.
func appendPath(b []byte, path string, special bool) []byte {
	if path == "" {
		return b
	}
	var stack [16]int
	starts := stack[:0] // where each segment's '/' is in b
	rest := path[1:]
	for {
		end := 0
		for end < len(rest) && !isPathSep(rest[end], special) {
			end++
		}
		seg, last := rest[:end], end == len(rest)
		switch dotSegment(seg) {
		case 2:
			if len(starts) > 0 {
				b = b[:starts[len(starts)-1]]
				starts = starts[:len(starts)-1]
			}
			if last {
				b = append(b, '/')
			}
		case 1:
			if last {
				b = append(b, '/')
			}
		default:
			starts = append(starts, len(b))
			b = appendEncoded(append(b, '/'), seg, pathSet)
		}
		if last {
			break
		}
		rest = rest[end+1:]
	}
	return b
}

// forbiddenHostByte reports whether c is a WHATWG forbidden host code point
// (NUL, tab, LF, CR, space, # / : < > ? @ [ \ ] ^ |) or, in a domain, a
// forbidden domain code point (also the other C0 controls, % and DEL).
func forbiddenHostByte(c byte, domain bool) bool {
	switch c {
	case 0, '\t', '\n', '\r', ' ', '#', '/', ':', '<', '>', '?', '@', '[', '\\', ']', '^', '|':
		return true
	}
	return domain && (c < 0x20 || c == '%' || c == 0x7f)
}

// canonicalHost returns the canonical form of a URL host: an IPv6 literal
// in brackets (an IPv4-mapped one as IPv4), an IPv4 address, or a domain
// in lower-case A-labels. In a special URL the host is percent-decoded
// first, and a host ending in a number is read as an IPv4 address the way
// browsers read it ("0x7f.1" is 127.0.0.1).
func canonicalHost(host string, special bool, raw string) (string, *Rejection) {
	if strings.HasPrefix(host, "[") {
		a, err := netip.ParseAddr(host[1 : len(host)-1])
		if err != nil || a.Zone() != "" {
			return "", reject(ReasonInvalid, raw, "expected a URL with a valid IPv6 host")
		}
		a = a.Unmap()
		if a.Is6() {
			return "[" + a.String() + "]", nil
		}
		return a.String(), nil
	}
	if special && strings.IndexByte(host, '%') >= 0 {
		host = percentDecode(host)
		if !utf8.ValidString(host) {
			return "", reject(ReasonInvalid, raw, "expected a URL host that is UTF-8 once percent-decoded")
		}
	}
	for i := 0; i < len(host); i++ {
		if forbiddenHostByte(host[i], special) {
			return "", reject(ReasonInvalid, raw,
				"expected a URL host without "+strconv.QuoteRune(rune(host[i]))+" (a forbidden host code point)")
		}
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if a.Is6() || a.Zone() != "" {
			return "", reject(ReasonInvalid, raw, "expected a URL with a valid host")
		}
		return host, nil
	}
	if special {
		ascii := host
		if needsIDNA(host) {
			var err error
			if ascii, err = idnaProfile.ToASCII(host); err != nil {
				return "", reject(ReasonInvalid, raw, "URL host: expected a domain name: invalid internationalized name")
			}
		}
		if endsInNumber(ascii) {
			a, ok := parseIPv4Host(ascii)
			if !ok {
				return "", reject(ReasonInvalid, raw, "expected a URL host that is a domain name or an IPv4 address")
			}
			return a.String(), nil
		}
	}
	d, rej := normalizeDomain(host, raw, false)
	if rej != nil {
		rej.Detail = "URL host: " + rej.Detail
		return "", rej
	}
	return d, nil
}

// percentDecode decodes the valid %XX escapes of s (others stay as they are).
func percentDecode(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '%' && i+2 < len(s) && isHex(s[i+1:i+3]) {
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		b = append(b, s[i])
	}
	return string(b)
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

// lastHostLabel returns the last label of an ASCII host, ignoring one
// trailing dot.
func lastHostLabel(h string) string {
	h = strings.TrimSuffix(h, ".")
	return h[strings.LastIndexByte(h, '.')+1:]
}

// endsInNumber reports whether the last label of h is a number (decimal,
// or hex or octal as parseIPv4Number reads them): the WHATWG parser then
// reads h as an IPv4 address.
func endsInNumber(h string) bool {
	last := lastHostLabel(h)
	if last != "" && allDigits(last) {
		return true
	}
	_, ok := parseIPv4Number(last)
	return ok
}

// parseIPv4Number parses one part of a WHATWG IPv4 host: "0x" or "0X"
// then hex digits (possibly none), "0" then octal digits, or decimal
// digits. Values above 2^32 saturate (they fail the range check anyway).
func parseIPv4Number(s string) (uint64, bool) {
	if s == "" {
		return 0, false
	}
	base := uint64(10)
	switch {
	case len(s) >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'):
		s, base = s[2:], 16
	case len(s) >= 2 && s[0] == '0':
		s, base = s[1:], 8
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		var d uint64
		switch {
		case '0' <= c && c <= '9':
			d = uint64(c - '0')
		case base == 16 && ('a' <= c && c <= 'f' || 'A' <= c && c <= 'F'):
			d = uint64(unhex(c))
		default:
			return 0, false
		}
		if d >= base {
			return 0, false
		}
		n = min(n*base+d, 1<<33)
	}
	return n, true
}

// parseIPv4Host reads h with the WHATWG IPv4 parser: one to four parts
// (a trailing dot allowed), each a number as parseIPv4Number reads it,
// every part but the last at most 255 and the last filling the rest of
// the 32 bits.
func parseIPv4Host(h string) (netip.Addr, bool) {
	h = strings.TrimSuffix(h, ".")
	var parts [4]uint64
	n := 0
	for {
		part, rest, more := strings.Cut(h, ".")
		if n == len(parts) {
			return netip.Addr{}, false
		}
		v, ok := parseIPv4Number(part)
		if !ok {
			return netip.Addr{}, false
		}
		parts[n] = v
		n++
		if !more {
			break
		}
		h = rest
	}
	var ip uint64
	for i := 0; i < n-1; i++ {
		if parts[i] > 255 {
			return netip.Addr{}, false
		}
		ip |= parts[i] << (8 * (3 - i))
	}
	if parts[n-1] >= 1<<(8*(5-n)) {
		return netip.Addr{}, false
	}
	ip |= parts[n-1]
	return netip.AddrFrom4([4]byte{byte(ip >> 24), byte(ip >> 16), byte(ip >> 8), byte(ip)}), true
}

// validScheme checks an RFC 3986 scheme: a letter then letters, digits, +, - or .
func validScheme(s string) bool {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// splitHostPort splits an authority without userinfo into host and port
// ("" when none or empty). A bracketed IPv6 host keeps its brackets.
func splitHostPort(a string) (host, port string, ok bool) {
	if strings.HasPrefix(a, "[") {
		end := strings.IndexByte(a, ']')
		if end < 0 {
			return "", "", false
		}
		host, rest := a[:end+1], a[end+1:]
		if rest == "" {
			return host, "", true
		}
		if rest[0] != ':' {
			return "", "", false
		}
		return host, rest[1:], true
	}
	if i := strings.LastIndexByte(a, ':'); i >= 0 {
		if strings.IndexByte(a[:i], ':') >= 0 {
			return "", "", false // unbracketed IPv6
		}
		return a[:i], a[i+1:], a[:i] != ""
	}
	return a, "", a != ""
}
