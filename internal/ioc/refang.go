package ioc

import "strings"

// Refang undoes the defanging that threat reports apply to IOCs so that they
// cannot be clicked, and trims the wrapping seen around values copied from
// vendor reports. s is one value, not free text (see [Extract] for text).
//
// Case-insensitively it rewrites:
//
//   - a leading hxxp, hxxps, hXXp, fxp, fxps scheme (when a ':' or '[' follows)
//     to http, https, ftp, ftps;
//   - [.] (.) {.} [dot] (dot) {dot} and "[ dot ]" to ".";
//   - [:] to ":", [://] to "://", [/] to "/", [//] to "//";
//   - [@] (@) {@} [at] (at) {at} to "@";
//   - \. to "." in the host part (before the path of a URL), so that
//     backslashes in URL paths are left to the URL parser (see Normalize);
//
// and it removes leading and trailing white space and one or more
// surrounding pairs of angle brackets, double or single quotes or backticks.
//
// Refang is a fixpoint: Refang(Refang(s)) == Refang(s). When s has nothing to
// refang or trim it returns s itself without allocating.
func Refang(s string) string {
	s = trimWrap(s)
	if !needsRefang(s) {
		return s
	}
	// Every rewrite but the scheme one shortens the string, and the scheme
	// one applies at most once, so this loop ends; it makes Refang a
	// fixpoint for inputs such as "[[.]]".
	for {
		t := trimWrap(refangHost(refangBrackets(refangScheme(s))))
		if t == s {
			return s
		}
		s = t
	}
}

// trimWrap trims white space and surrounding <>, quote or backtick pairs.
func trimWrap(s string) string {
	for {
		s = strings.TrimSpace(s)
		if len(s) < 2 {
			return s
		}
		first, last := s[0], s[len(s)-1]
		switch {
		case first == '<' && last == '>',
			first == '"' && last == '"',
			first == '\'' && last == '\'',
			first == '`' && last == '`':
			s = s[1 : len(s)-1]
		default:
			return s
		}
	}
}

// needsRefang reports whether s may hold a defanged form.
func needsRefang(s string) bool {
	if strings.ContainsAny(s, "[({\\") {
		return true
	}
	return defangedScheme(s) != ""
}

// defangedScheme returns the refanged scheme when s starts with a defanged
// one followed by ':' or '[' (the two have the same length), and "" otherwise.
func defangedScheme(s string) string {
	for _, p := range [...]struct{ from, to string }{
		{"hxxps", "https"}, {"hxxp", "http"}, {"fxps", "ftps"}, {"fxp", "ftp"},
	} {
		if len(s) > len(p.from) && strings.EqualFold(s[:len(p.from)], p.from) {
			if c := s[len(p.from)]; c == ':' || c == '[' {
				return p.to
			}
		}
	}
	return ""
}

func refangScheme(s string) string {
	to := defangedScheme(s)
	if to == "" {
		return s
	}
	return to + s[len(to):] // defanged and refanged schemes have equal length
}

// bracketToken maps the lower-cased, space-trimmed content of a bracket pair
// to its replacement.
func bracketToken(inner string) (string, bool) {
	switch inner {
	case ".", "dot":
		return ".", true
	case ":":
		return ":", true
	case "://":
		return "://", true
	case "/":
		return "/", true
	case "//":
		return "//", true
	case "@", "at":
		return "@", true
	}
	return "", false
}

// matchBracket reports whether s starts with a defang bracket token such as
// "[.]" or "(dot)", and returns its replacement and length.
func matchBracket(s string) (repl string, n int) {
	var closer byte
	switch s[0] {
	case '[':
		closer = ']'
	case '(':
		closer = ')'
	case '{':
		closer = '}'
	default:
		return "", 0
	}
	end := strings.IndexByte(s[1:min(len(s), 10)], closer)
	if end < 0 {
		return "", 0
	}
	inner := strings.TrimSpace(s[1 : 1+end])
	if len(inner) > 3 {
		return "", 0
	}
	var buf [3]byte
	for i := 0; i < len(inner); i++ {
		c := inner[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	repl, ok := bracketToken(string(buf[:len(inner)]))
	if !ok {
		return "", 0
	}
	return repl, end + 2
}

func refangBrackets(s string) string {
	i := strings.IndexAny(s, "[({")
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	last := 0
	for ; i < len(s); i++ {
		switch s[i] {
		case '[', '(', '{':
		default:
			continue
		}
		repl, n := matchBracket(s[i:])
		if n == 0 {
			continue
		}
		b.WriteString(s[last:i])
		b.WriteString(repl)
		i += n - 1
		last = i + 1
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// hostEnd returns the index where the path, query or fragment of s starts
// (len(s) when none), treating s as a URL when it has "://".
func hostEnd(s string) int {
	start := 0
	if i := strings.Index(s, "://"); i >= 0 {
		start = i + 3
	}
	if j := strings.IndexAny(s[start:], "/?#"); j >= 0 {
		return start + j
	}
	return len(s)
}

func refangHost(s string) string {
	end := hostEnd(s)
	if !strings.Contains(s[:end], `\.`) {
		return s
	}
	return strings.ReplaceAll(s[:end], `\.`, ".") + s[end:]
}
