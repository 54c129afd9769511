package ioc

import (
	"context"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/publicsuffix"
)

// Candidate is an IOC found in free text by Extract.
type Candidate struct {
	Raw    string // the IOC as written, text[Offset:Offset+len(Raw)]
	Type   Type   // the hint to pass to Normalize with Raw
	Offset int    // byte offset of Raw in the text
}

// MaxExtractLen is the longest text Extract reads; the rest is ignored.
const MaxExtractLen = 1 << 20

// Extract pulls URLs, domains, IPv4 and IPv6 addresses (with ports, and
// CIDRs), MD5/SHA-1/SHA-256/SHA-512 hashes and email addresses out of free
// text such as incident notes, vendor reports and partner mails, including
// defanged forms (hxxps://evil[.]com/a, 1.2.3[.]4, user[@]evil[.]com,
// evil(.)com). It returns only candidates that Normalize(c.Raw, c.Type)
// accepts, de-duplicated by canonical value, in order of first appearance;
// policy (reserved ranges, allowlist) is left to the caller.
//
// To keep file names, code and version strings from becoming indicators, a
// domain written without defanging must end in an ICANN top-level domain
// that is not also a common file extension (zip, mov, py, sh, md, ...), its
// TLD must not be capitalized ("System.Net"), and it must not be part of a
// path or a call ("/tmp/x.sh", "shell.run("). Dotted quads after "version",
// "v", "build" and similar words are not addresses. Trailing punctuation,
// brackets, quotes and markdown link syntax around URLs are dropped. A
// domain directly followed by a path ("evil[.]com/gate.php") is a URL
// candidate that Normalize completes with http://.
//
// Extract never panics; text longer than MaxExtractLen is cut. Its time is
// linear in the length of text: every match is bounded or consumed.
func Extract(text string) []Candidate {
	out, _ := ExtractContext(context.Background(), text)
	return out
}

// ExtractContext is [Extract] that stops when ctx is done: it then returns
// the candidates found so far and ctx's error.
func ExtractContext(ctx context.Context, text string) ([]Candidate, error) {
	if len(text) > MaxExtractLen {
		text = text[:MaxExtractLen]
	}
	x := extractor{text: text}
	return x.run(ctx)
}

// run is ExtractContext over x.text.
func (x *extractor) run(ctx context.Context) ([]Candidate, error) {
	text := x.text
	var (
		out  []Candidate
		seen = make(map[string]bool)
	)
	for pos, n := 0, 0; pos < len(text); n++ {
		if n%64 == 0 {
			if err := ctx.Err(); err != nil {
				return out, err
			}
		}
		start, end, kind := x.next(pos)
		if kind == 0 {
			break
		}
		c, cend, ok := x.classify(kind, start, end)
		if !ok && kind == kindHash && domainMayStart(text, start) {
			// A hex run followed by ".evil.com" is a subdomain label. The
			// window bounds the work per hash match (a domain is short).
			w := text[start:min(len(text), start+maxDomainText+1)]
			if d := domainPrefixRe.FindStringIndex(w); d != nil && d[1] <= maxDomainText {
				c, cend, ok = x.domainCandidate(start, start+d[1])
			}
		}
		if ok {
			if o, err := Normalize(c.Raw, c.Type); err == nil && !seen[o.Key()] {
				seen[o.Key()] = true
				c.Type = o.Type
				out = append(out, c)
			}
			end = max(end, cend)
		}
		if end <= pos {
			end = pos + 1
		}
		pos = end
	}
	return out, nil
}

const (
	// maxDomainText is the longest domain, as written in text (defanged,
	// Unicode), that Extract considers: longer ones cannot become a
	// domain of at most MaxDomainLen bytes.
	maxDomainText = 1024
	// maxURLText is the longest URL, as written, that Extract considers;
	// Normalize refuses anything longer than MaxInputLen.
	maxURLText = MaxInputLen + 1
)

// extractor holds the text being scanned and remembers where the current
// run of URL characters ends, so that the path after each domain in a run
// is not scanned again (which would be quadratic), and where the next
// at-sign is.
type extractor struct {
	text             string
	runFrom, runStop int  // text[runFrom:runStop] has no URL stop character
	atPos            int  // where the next at token is (> len(text): none)
	atKnown          bool // atPos is known for the current position
	fullOnly         bool // tests: never use noEmailRe
}

// next returns the leftmost-first match of extractRe in text[pos:] as
// offsets in text and the kind of its alternative (0: none). Far from an
// at token no email can match, so it first tries noEmailRe, whose Pike VM
// carries fewer threads (the email local part may be 64 bytes long).
func (x *extractor) next(pos int) (start, end, kind int) {
	if !x.atKnown || pos > x.atPos {
		x.atPos, x.atKnown = len(x.text)+maxLocalLen+1, true
		if loc := atRe.FindStringIndex(x.text[pos:]); loc != nil {
			x.atPos = pos + loc[0]
		}
	}
	if pos+maxLocalLen < x.atPos && !x.fullOnly {
		m := noEmailRe.FindStringSubmatchIndex(x.text[pos:])
		if m == nil && x.atPos > len(x.text) {
			return 0, 0, 0
		}
		// An email match starts at most maxLocalLen bytes before its at
		// token: a match that starts earlier is extractRe's as well.
		if m != nil && pos+m[0]+maxLocalLen < x.atPos {
			return pos + m[0], pos + m[1], matchKind(m, noEmailKinds[:])
		}
	}
	m := extractRe.FindStringSubmatchIndex(x.text[pos:])
	if m == nil {
		return 0, 0, 0
	}
	return pos + m[0], pos + m[1], matchKind(m, allKinds[:])
}

// matchKind returns kinds[k-1] for the first group k that matched.
func matchKind(m []int, kinds []int) int {
	for k := 1; 2*k < len(m); k++ {
		if m[2*k] >= 0 {
			return kinds[k-1]
		}
	}
	return 0
}

// The groups of extractRe and of noEmailRe, as kinds.
var (
	allKinds     = [...]int{kindURL, kindEmail, kindIPv6Bracketed, kindIPv4, kindIPv6, kindHash, kindDomain}
	noEmailKinds = [...]int{kindURL, kindIPv6Bracketed, kindIPv4, kindIPv6, kindHash, kindDomain}
)

// urlRunEnd returns the index of the first character at or after i that
// ends a URL written in text (white space, control, quotes, <>|), or
// len(text).
func (x *extractor) urlRunEnd(i int) int {
	if i >= x.runFrom && i <= x.runStop && x.runStop > x.runFrom {
		return x.runStop
	}
	j := i
	for j < len(x.text) {
		r, n := utf8.DecodeRuneInString(x.text[j:])
		if unicode.IsSpace(r) || unicode.IsControl(r) || strings.ContainsRune("<>\"'`|", r) || r == utf8.RuneError {
			break
		}
		j += n
	}
	x.runFrom, x.runStop = i, j
	return j
}

// The alternatives of extractRe, in order of preference at one position.
const (
	kindURL = 1 + iota
	kindEmail
	kindIPv6Bracketed
	kindIPv4
	kindIPv6
	kindHash
	kindDomain
)

const (
	reDot    = `(?:\.|\[\.\]|\(\.\)|\{\.\}|\[dot\]|\(dot\)|\{dot\}|\[ dot \]|\( dot \)|\\\.)`
	reLabel  = `[\p{L}\p{N}_](?:[\p{L}\p{M}\p{N}_-]*[\p{L}\p{M}\p{N}_])?`
	reDomain = reLabel + `(?:` + reDot + reLabel + `)+`
	reAt     = `(?:@|\[@\]|\(@\)|\{@\}|\[at\]|\(at\)|\{at\}|\[ at \]|\( at \))`
	reScheme = `(?:h[xt][xt]ps?|f[xt]ps?|sftp|wss?|tcp|udp)`
	reSep    = `(?:://|\[://\]|\[:\]//|\[:/\]/)`
	reURL    = reScheme + reSep + "[^\\s<>\"'`|\\p{Z}\\p{Cc}]+"
	reEmail  = `[a-z0-9._%+-]{1,64}` + reAt + reDomain // RFC 5321: local part <= 64 (maxLocalLen)
	reIPv4   = `\d{1,3}` + reDot + `\d{1,3}` + reDot + `\d{1,3}` + reDot + `\d{1,3}(?:(?::|\[:\])\d{1,5})?(?:/\d{1,2}\b)?`
	reIPv6   = `[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7}(?:(?:\.\d{1,3}){3})?(?:/\d{1,3}\b)?`
	reIPv6B  = `\[[0-9a-f:.]{2,}\](?::\d{1,5})?`
	// A hash starts at a word boundary (classify refuses any other start):
	// without \b every byte of a hex run starts 4 bounded-repeat threads.
	reHash = `\b(?:[0-9a-f]{128}|[0-9a-f]{64}|[0-9a-f]{40}|[0-9a-f]{32})`
)

// maxLocalLen is the longest email local part reEmail takes.
const maxLocalLen = 64

// extractRe, noEmailRe, domainPrefixRe and atRe are compiled once; a Regexp is safe for
// concurrent use and never modified.
var (
	extractRe = regexp.MustCompile(`(?i)(` + reURL + `)|(` + reEmail + `)|(` + reIPv6B + `)|(` +
		reIPv4 + `)|(` + reIPv6 + `)|(` + reHash + `)|(` + reDomain + `)`)
	noEmailRe = regexp.MustCompile(`(?i)(` + reURL + `)|(` + reIPv6B + `)|(` +
		reIPv4 + `)|(` + reIPv6 + `)|(` + reHash + `)|(` + reDomain + `)`)
	domainPrefixRe = regexp.MustCompile(`^(?i:` + reDomain + `)`)
	atRe           = regexp.MustCompile(`(?i)` + reAt)
)

// classify validates the match text[start:end] of the given kind and returns
// the candidate and the end of the text it used.
func (x *extractor) classify(kind, start, end int) (Candidate, int, bool) {
	text := x.text
	switch kind {
	case kindURL:
		return urlCandidate(text, start, end)
	case kindEmail:
		if isLocalByte(prevRune(text, start)) {
			// The local part is longer than the 64 bytes the pattern
			// takes (RFC 5321): not an address.
			return Candidate{}, 0, false
		}
		for start < end && text[start] == '.' {
			start++
		}
		raw := text[start:end]
		// The local part has no '@' or brackets: the first at token
		// separates it from the domain.
		at := atRe.FindStringIndex(raw)
		if at == nil || !plausibleDomain(text, start+at[1], end, true) {
			return Candidate{}, 0, false
		}
		return Candidate{Raw: raw, Type: TypeEmail, Offset: start}, end, true
	case kindIPv4:
		if !ipBoundary(text, start, end, false) || versionContext(text, start) {
			return Candidate{}, 0, false
		}
		return Candidate{Raw: text[start:end], Type: TypeIPv4, Offset: start}, end, true
	case kindIPv6, kindIPv6Bracketed:
		raw := text[start:end]
		if kind == kindIPv6 {
			for len(raw) > 2 && (raw[len(raw)-1] == '.' || raw[len(raw)-1] == ':' && raw[len(raw)-2] != ':') {
				raw = raw[:len(raw)-1]
			}
			if !ipBoundary(text, start, start+len(raw), true) || strings.Trim(raw, ":") == "" {
				return Candidate{}, 0, false
			}
		}
		return Candidate{Raw: raw, Type: TypeIPv6, Offset: start}, start + len(raw), true
	case kindHash:
		if isLabelRune(prevRune(text, start)) || prevRune(text, start) == '.' || !hashBoundaryAfter(text, end) {
			return Candidate{}, 0, false
		}
		return Candidate{Raw: text[start:end], Type: hashType(end - start), Offset: start}, end, true
	case kindDomain:
		return x.domainCandidate(start, end)
	}
	return Candidate{}, 0, false
}

func urlCandidate(text string, start, end int) (Candidate, int, bool) {
	raw := text[start:end]
	if i := strings.Index(raw, "]("); i >= 0 { // [http://a](http://a)
		raw = raw[:i]
	}
	raw = trimURLTail(raw)
	return Candidate{Raw: raw, Type: TypeURL, Offset: start}, start + len(raw), true
}

// trimURLTail drops trailing sentence punctuation and unbalanced closing
// brackets from a URL found in text. It counts the brackets once, so its
// time is linear in len(raw).
func trimURLTail(raw string) string {
	var open, closed [3]int // (), [], {}
	counted := false
	for raw != "" {
		c := raw[len(raw)-1]
		k := strings.IndexByte(")]}", c)
		if k >= 0 && !counted {
			for i := 0; i < len(raw); i++ {
				if j := strings.IndexByte("([{", raw[i]); j >= 0 {
					open[j]++
				} else if j := strings.IndexByte(")]}", raw[i]); j >= 0 {
					closed[j]++
				}
			}
			counted = true
		}
		switch {
		case k >= 0:
			if open[k] >= closed[k] {
				return raw
			}
			closed[k]--
		case strings.IndexByte(".,;:!?*'", c) < 0:
			return raw
		}
		raw = raw[:len(raw)-1]
	}
	return raw
}

// domainCandidate handles a bare domain match, trimming a capitalized last
// label ("evil.com.Then") and extending a following path to a URL.
func (x *extractor) domainCandidate(start, end int) (Candidate, int, bool) {
	text := x.text
	if end-start > maxDomainText {
		return Candidate{}, 0, false
	}
	if !domainMayStart(text, start) {
		return Candidate{}, 0, false
	}
	for !plausibleDomain(text, start, end, false) {
		// Drop a last label that starts a new sentence: "evil.com.Then".
		i := strings.LastIndexByte(text[start:end], '.')
		if i <= 0 {
			return Candidate{}, 0, false
		}
		if r, _ := utf8.DecodeRuneInString(text[start+i+1:]); !unicode.IsUpper(r) {
			return Candidate{}, 0, false
		}
		end = start + i
	}
	if end < len(text) && text[end] == '(' {
		return Candidate{}, 0, false // a call: shell.run(
	}
	if end < len(text) && text[end] == '/' {
		j := x.urlRunEnd(end)
		if j-start > maxURLText {
			j = start + maxURLText // too long for Normalize anyway
		}
		raw := trimURLTail(text[start:j])
		if i := strings.Index(raw, "]("); i >= 0 {
			raw = raw[:i]
		}
		return Candidate{Raw: raw, Type: TypeURL, Offset: start}, start + len(raw), true
	}
	return Candidate{Raw: text[start:end], Type: TypeDomain, Offset: start}, end, true
}

// domainMayStart reports whether a domain may start at text[start]: not
// inside a word, a dotted name, a path or a variable.
func domainMayStart(text string, start int) bool {
	switch p := prevRune(text, start); {
	case isLabelRune(p), p == '.', p == '/', p == '\\', p == '@', p == '$', p == '%', p == '&':
		return false
	}
	return true
}

// plausibleDomain reports whether text[start:end] is a domain worth
// extracting: defanged, or ending in an ICANN TLD that is not a file
// extension and not capitalized. inEmail skips the file-extension rule.
func plausibleDomain(text string, start, end int, inEmail bool) bool {
	raw := text[start:end]
	if strings.ContainsAny(raw, "[({\\") {
		return true // defanged: a strong signal
	}
	d, rej := normalizeDomain(raw, raw, true)
	if rej != nil {
		return false
	}
	tldRaw := raw[strings.LastIndexByte(raw, '.')+1:]
	if !inEmail && strings.ToLower(tldRaw) != tldRaw {
		return false // System.Net, ASP.NET, done.It
	}
	if _, icann := publicsuffix.PublicSuffix(d); !icann {
		return false
	}
	return inEmail || !fileExtension(d[strings.LastIndexByte(d, '.')+1:])
}

// fileExtension reports TLDs that are more often file extensions in text.
func fileExtension(tld string) bool {
	switch tld {
	case "zip", "mov", "sh", "py", "rs", "pl", "md", "so", "ps", "cab", "one", "pm", "exe":
		return true
	}
	return false
}

// versionContext reports whether the word before start says that a dotted
// quad is a version number ("version 1.2.3.4", "v 2.0.1.4", "build 10.0.19041.1").
func versionContext(text string, start int) bool {
	i := start
	for i > 0 && start-i < 16 && (text[i-1] == ' ' || text[i-1] == '\t' || text[i-1] == ':') {
		i--
	}
	j := i
	for j > 0 && i-j < 16 && (text[j-1] >= 'a' && text[j-1] <= 'z' || text[j-1] >= 'A' && text[j-1] <= 'Z' || text[j-1] == '.') {
		j--
	}
	switch strings.ToLower(strings.TrimSuffix(text[j:i], ".")) {
	case "v", "ver", "version", "versions", "build", "release", "rev", "revision", "firmware", "update", "patch":
		return true
	}
	return false
}

// ipBoundary checks the characters around an address match.
func ipBoundary(text string, start, end int, v6 bool) bool {
	p := prevRune(text, start)
	if isLabelRune(p) || p == '.' || p == '/' || p == '\\' || v6 && p == ':' {
		return false
	}
	if end >= len(text) {
		return true
	}
	n, _ := utf8.DecodeRuneInString(text[end:])
	if isLabelRune(n) || v6 && n == ':' {
		return false
	}
	if n == '.' && end+1 < len(text) && isLabelRune(rune(text[end+1])) {
		return false // 1.2.3.4.5 or an OID
	}
	return true
}

func hashBoundaryAfter(text string, end int) bool {
	if end >= len(text) {
		return true
	}
	n, _ := utf8.DecodeRuneInString(text[end:])
	if isLabelRune(n) {
		return false
	}
	if (n == '.' || n == '-') && end+1 < len(text) && isLabelRune(rune(text[end+1])) {
		return false
	}
	return true
}

func prevRune(text string, i int) rune {
	if i <= 0 {
		return ' '
	}
	r, _ := utf8.DecodeLastRuneInString(text[:i])
	return r
}

// isLocalByte reports the characters the pattern takes in a local part.
func isLocalByte(r rune) bool {
	return r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
		strings.ContainsRune("._%+-", r))
}

func isLabelRune(r rune) bool {
	return r == '_' || r == '-' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.M, r)
}
