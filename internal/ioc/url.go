package ioc

import (
	"net/netip"
	"strconv"
	"strings"
	"unicode"
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

// normalizeURL canonicalizes a URL working on the raw string: the scheme and
// host are lower-cased, an IDN host becomes A-labels, an IPv6 host is
// bracketed in canonical form, a default port and an empty port are dropped,
// and the userinfo, path, query and fragment are kept byte for byte (no
// re-encoding) except that invisible format characters (Unicode category
// Cf: bidirectional overrides such as U+202E, zero-width U+200B, U+FEFF)
// are percent-encoded as a browser shows them. A URL without a path stays without one. A value without
// "://" is taken as http:// + value. The host must be a valid domain name
// (public suffixes allowed) or IP address.
func normalizeURL(s, raw string) (Observable, error) {
	i := strings.Index(s, "://")
	if i < 0 {
		s = "http://" + s
		i = 4
	}
	scheme := lowerASCII(s[:i])
	if !validScheme(scheme) {
		return Observable{}, reject(ReasonInvalid, raw, "expected a URL with a scheme such as http://")
	}
	defPort, ok := urlDefaultPort(scheme)
	if !ok {
		return Observable{}, reject(ReasonInvalid, raw, "unsupported URL scheme "+quoteShort(scheme))
	}
	rest := s[i+3:]
	authEnd := strings.IndexAny(rest, "/?#\\")
	if authEnd < 0 {
		authEnd = len(rest)
	}
	auth, tail := rest[:authEnd], rest[authEnd:]
	if hasSpaceOrControl(tail) {
		return Observable{}, reject(ReasonInvalid, raw, "expected a URL without spaces or control characters")
	}
	userinfo := ""
	if at := strings.LastIndexByte(auth, '@'); at >= 0 {
		userinfo, auth = auth[:at+1], auth[at+1:]
		if hasSpaceOrControl(userinfo) {
			return Observable{}, reject(ReasonInvalid, raw, "expected a URL without spaces or control characters")
		}
	}
	encoded := false
	if t := encodeInvisible(tail); t != tail {
		tail, encoded = t, true
	}
	if u := encodeInvisible(userinfo); u != userinfo {
		userinfo, encoded = u, true
	}
	host, port, ok := splitHostPort(auth)
	if !ok {
		return Observable{}, reject(ReasonInvalid, raw, "expected a URL host[:port]")
	}
	var canonHost string
	if strings.HasPrefix(host, "[") {
		a, err := netip.ParseAddr(host[1 : len(host)-1])
		if err != nil || a.Zone() != "" {
			return Observable{}, reject(ReasonInvalid, raw, "expected a URL with a valid IPv6 host")
		}
		a = a.Unmap()
		canonHost = a.String()
		if a.Is6() {
			canonHost = "[" + canonHost + "]"
		}
	} else if a, err := netip.ParseAddr(host); err == nil {
		if a.Is6() || a.Zone() != "" {
			return Observable{}, reject(ReasonInvalid, raw, "expected a URL with a valid host")
		}
		canonHost = a.String()
	} else {
		d, rej := normalizeDomain(host, raw, false)
		if rej != nil {
			rej.Detail = "URL host: " + rej.Detail
			return Observable{}, rej
		}
		canonHost = d
	}
	portPart := ""
	if port != "" {
		n, ok := parsePort(port)
		if !ok {
			return Observable{}, reject(ReasonInvalid, raw, "expected a URL port 1-65535")
		}
		if n != defPort {
			portPart = ":" + strconv.Itoa(n)
		}
	}
	n := len(scheme) + 3 + len(userinfo) + len(canonHost) + len(portPart) + len(tail)
	if n > MaxURLLen {
		return Observable{}, reject(ReasonTooLong, raw, "URL longer than 2048 bytes")
	}
	if !encoded && s[:i] == scheme && host == canonHost && auth[len(host):] == portPart {
		return Observable{Type: TypeURL, Value: s}, nil // already canonical
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString(scheme)
	b.WriteString("://")
	b.WriteString(userinfo)
	b.WriteString(canonHost)
	b.WriteString(portPart)
	b.WriteString(tail)
	return Observable{Type: TypeURL, Value: b.String()}, nil
}

// encodeInvisible percent-encodes the UTF-8 bytes of the Unicode format
// characters (category Cf) in s, which would hide or reorder what an
// analyst reads. It returns s itself when there are none.
func encodeInvisible(s string) string {
	i := strings.IndexFunc(s, isFormat)
	if i < 0 {
		return s
	}
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s) + 8)
	b.WriteString(s[:i])
	for _, r := range s[i:] {
		if !isFormat(r) {
			b.WriteRune(r)
			continue
		}
		var buf [utf8.UTFMax]byte
		for _, c := range buf[:utf8.EncodeRune(buf[:], r)] {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}

func isFormat(r rune) bool { return r >= 0x80 && unicode.Is(unicode.Cf, r) }

// hasSpaceOrControl reports whether s has white space or control characters.
func hasSpaceOrControl(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c == 0x7f {
			return true
		}
		if c >= 0x80 {
			for _, r := range s[i:] {
				if unicode.IsSpace(r) || unicode.IsControl(r) || r == utf8.RuneError {
					return true
				}
			}
			return false
		}
	}
	return false
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
