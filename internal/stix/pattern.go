package stix

import (
	"fmt"
	"strings"

	"github.com/feeds2sentinel/feeds2sentinel/internal/ioc"
)

// objectPath returns the STIX object path that a pattern for t compares, or
// "" when t has no mapping. CIDR ranges are ipv4-addr / ipv6-addr values.
func objectPath(t ioc.Type) string {
	switch t {
	case ioc.TypeIPv4, ioc.TypeCIDRv4:
		return "ipv4-addr:value"
	case ioc.TypeIPv6, ioc.TypeCIDRv6:
		return "ipv6-addr:value"
	case ioc.TypeDomain:
		return "domain-name:value"
	case ioc.TypeURL:
		return "url:value"
	case ioc.TypeMD5:
		return "file:hashes.'MD5'"
	case ioc.TypeSHA1:
		return "file:hashes.'SHA-1'"
	case ioc.TypeSHA256:
		return "file:hashes.'SHA-256'"
	case ioc.TypeSHA512:
		return "file:hashes.'SHA-512'"
	case ioc.TypeEmail:
		return "email-addr:value"
	case ioc.TypeX509SHA1:
		return "x509-certificate:hashes.'SHA-1'"
	}
	return ""
}

// Pattern returns the STIX pattern for o, a single comparison such as
// [ipv4-addr:value = '1.2.3.4'] or [file:hashes.'SHA-256' = '<hex>'], with the
// value escaped by EscapeString. The port of an ip:port observable is not
// part of the pattern. It returns "" when o.Type has no STIX mapping.
func Pattern(o ioc.Observable) string {
	var stack [256]byte
	b, ok := appendPattern(stack[:0], o)
	if !ok {
		return ""
	}
	return string(b)
}

func appendPattern(dst []byte, o ioc.Observable) ([]byte, bool) {
	path := objectPath(o.Type)
	if path == "" {
		return dst, false
	}
	dst = append(dst, '[')
	dst = append(dst, path...)
	dst = append(dst, " = '"...)
	dst = appendEscaped(dst, o.Value)
	dst = append(dst, "']"...)
	return dst, true
}

// EscapeString escapes s for use inside a single-quoted STIX pattern string:
// every backslash is doubled first, then every single quote is preceded by a
// backslash (as the OASIS python-stix2 escape_quotes_and_backslashes does).
func EscapeString(s string) string {
	if !strings.ContainsAny(s, `\'`) {
		return s
	}
	return string(appendEscaped(make([]byte, 0, len(s)+8), s))
}

func appendEscaped(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '\\' || c == '\'' {
			dst = append(dst, '\\')
		}
		dst = append(dst, s[i])
	}
	return dst
}

// Comparison is the single comparison of a pattern this package understands:
// [<ObjectType>:<Path> = '<Value>'].
type Comparison struct {
	// ObjectType is the STIX cyber-observable type, e.g. "ipv4-addr".
	ObjectType string
	// Path is the property path with quotes removed, e.g. "value" or
	// "hashes.SHA-256".
	Path string
	// Value is the compared string, unescaped.
	Value string
}

// knownObjectType reports whether ParsePattern accepts the observable type s.
func knownObjectType(s string) bool {
	switch s {
	case "ipv4-addr", "ipv6-addr", "domain-name", "url", "file", "email-addr", "x509-certificate":
		return true
	}
	return false
}

// ParsePattern parses a STIX pattern made of exactly one equality comparison
// of a string constant, the subset Pattern emits:
//
//	[ <object-type>:<path> = '<value>' ]
//
// Whitespace around the tokens is optional, path components may be quoted
// ('SHA-256') or bare identifiers (MD5), and the value may contain \\ and \'
// escapes. Anything else (AND/OR, several observations, qualifiers, other
// operators or literal types, unterminated strings, other escapes, object
// types outside ipv4-addr, ipv6-addr, domain-name, url, file, email-addr and
// x509-certificate) is an error matching ErrInvalidPattern. It never panics.
func ParsePattern(p string) (Comparison, error) {
	var c Comparison
	i := skipSpace(p, 0)
	if i >= len(p) || p[i] != '[' {
		return c, patternError(p, i, "expected '['")
	}
	i = skipSpace(p, i+1)
	start := i
	for i < len(p) && (isLower(p[i]) || isDigit(p[i]) || p[i] == '-') {
		i++
	}
	c.ObjectType = p[start:i]
	if !knownObjectType(c.ObjectType) {
		return Comparison{}, patternError(p, start, "unknown object type")
	}
	if i >= len(p) || p[i] != ':' {
		return Comparison{}, patternError(p, i, "expected ':'")
	}
	i++
	path, n, err := parsePath(p, i)
	if err != nil {
		return Comparison{}, err
	}
	c.Path = path
	i = skipSpace(p, n)
	if i >= len(p) || p[i] != '=' {
		return Comparison{}, patternError(p, i, "expected '='")
	}
	i = skipSpace(p, i+1)
	val, n, err := parseString(p, i)
	if err != nil {
		return Comparison{}, err
	}
	c.Value = val
	i = skipSpace(p, n)
	if i >= len(p) || p[i] != ']' {
		return Comparison{}, patternError(p, i, "expected ']' (only one comparison is supported)")
	}
	if i = skipSpace(p, i+1); i != len(p) {
		return Comparison{}, patternError(p, i, "unexpected text after ']'")
	}
	return c, nil
}

// parsePath parses dotted path components starting at p[i]. Quoted
// components lose their quotes; the result is a substring of p when there
// are none.
func parsePath(p string, i int) (string, int, error) {
	start, quoted := i, false
	for {
		if i < len(p) && p[i] == '\'' {
			quoted = true
			j := i + 1
			for j < len(p) && p[j] != '\'' && p[j] != '\\' {
				j++
			}
			if j >= len(p) || p[j] != '\'' || j == i+1 {
				return "", 0, patternError(p, i, "bad quoted path component")
			}
			i = j + 1
		} else {
			j := i
			for j < len(p) && (isLower(p[j]) || isUpper(p[j]) || isDigit(p[j]) || p[j] == '_') {
				j++
			}
			if j == i {
				return "", 0, patternError(p, i, "expected a property name")
			}
			i = j
		}
		if i >= len(p) || p[i] != '.' {
			break
		}
		i++
	}
	path := p[start:i]
	if quoted {
		path = strings.ReplaceAll(path, "'", "")
	}
	return path, i, nil
}

// parseString parses a single-quoted string constant at p[i].
func parseString(p string, i int) (string, int, error) {
	if i >= len(p) || p[i] != '\'' {
		return "", 0, patternError(p, i, "expected a quoted string")
	}
	i++
	start, escaped := i, false
	for ; i < len(p); i++ {
		switch p[i] {
		case '\'':
			s := p[start:i]
			if escaped {
				s = unescape(s)
			}
			return s, i + 1, nil
		case '\\':
			if i+1 >= len(p) || (p[i+1] != '\\' && p[i+1] != '\'') {
				return "", 0, patternError(p, i, `bad escape (only \\ and \' are allowed)`)
			}
			escaped = true
			i++
		}
	}
	return "", 0, patternError(p, start-1, "unterminated string")
}

// unescape removes the backslash of each \\ and \' pair of a string already
// checked by parseString.
func unescape(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			i++
		}
		b = append(b, s[i])
	}
	return string(b)
}

func patternError(p string, off int, msg string) error {
	return fmt.Errorf("%w: %s at offset %d", ErrInvalidPattern, msg, off)
}

func skipSpace(p string, i int) int {
	for i < len(p) && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r') {
		i++
	}
	return i
}

func isLower(c byte) bool { return 'a' <= c && c <= 'z' }
func isUpper(c byte) bool { return 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// ObservableFromComparison maps a parsed comparison back to the ioc.Type it
// stands for and the raw value, so that a submitted STIX indicator can go
// through ioc normalization again. ipv4-addr and ipv6-addr values containing
// "/" map to the CIDR types; hash keys are matched case-insensitively with or
// without the hyphen (SHA-256, SHA256). Other paths return an error matching
// ErrUnsupportedType. The value is returned as given, not normalized.
func ObservableFromComparison(c Comparison) (ioc.Type, string, error) {
	var t ioc.Type
	switch c.ObjectType + ":" + c.Path {
	case "ipv4-addr:value":
		t = ioc.TypeIPv4
		if strings.Contains(c.Value, "/") {
			t = ioc.TypeCIDRv4
		}
	case "ipv6-addr:value":
		t = ioc.TypeIPv6
		if strings.Contains(c.Value, "/") {
			t = ioc.TypeCIDRv6
		}
	case "domain-name:value":
		t = ioc.TypeDomain
	case "url:value":
		t = ioc.TypeURL
	case "email-addr:value":
		t = ioc.TypeEmail
	default:
		key, ok := strings.CutPrefix(c.Path, "hashes.")
		if ok && c.ObjectType == "file" {
			t = fileHashType(key)
		} else if ok && c.ObjectType == "x509-certificate" && fileHashType(key) == ioc.TypeSHA1 {
			t = ioc.TypeX509SHA1
		}
	}
	if t == "" {
		return "", "", fmt.Errorf("%w: %s:%s", ErrUnsupportedType, c.ObjectType, c.Path)
	}
	return t, c.Value, nil
}

func fileHashType(key string) ioc.Type {
	switch {
	case strings.EqualFold(key, "MD5"):
		return ioc.TypeMD5
	case strings.EqualFold(key, "SHA-1"), strings.EqualFold(key, "SHA1"):
		return ioc.TypeSHA1
	case strings.EqualFold(key, "SHA-256"), strings.EqualFold(key, "SHA256"):
		return ioc.TypeSHA256
	case strings.EqualFold(key, "SHA-512"), strings.EqualFold(key, "SHA512"):
		return ioc.TypeSHA512
	}
	return ""
}
