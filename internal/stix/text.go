package stix

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/feeds2sentinel/feeds2sentinel/internal/ioc"
)

// maxNameValue is how many bytes of the IOC value a name shows.
const maxNameValue = 120

// maxDescription caps the record description copied into an indicator.
const maxDescription = 2000

// appendName appends a short readable name such as
// "Cobalt Strike botnet C2 ip 1.2.3.4:443": malware, threat type, kind of
// observable, value (shortened) and port.
func appendName(dst []byte, o ioc.Observable, r *ioc.Record) []byte {
	start := len(dst)
	sep := func() {
		if len(dst) > start {
			dst = append(dst, ' ')
		}
	}
	if m := malwareName(r); m != "" {
		dst = appendTruncated(dst, m, 60)
	}
	if tt := threatTypeText(r.ThreatType); tt != "" {
		sep()
		dst = appendTruncated(dst, tt, 40)
	}
	sep()
	dst = append(dst, kindText(o.Type)...)
	dst = append(dst, ' ')
	v := o.Value
	bracket := o.Port > 0 && (o.Type == ioc.TypeIPv6 || o.Type == ioc.TypeCIDRv6)
	if bracket {
		dst = append(dst, '[')
	}
	dst = appendTruncated(dst, v, maxNameValue)
	if bracket {
		dst = append(dst, ']')
	}
	if o.Port > 0 {
		dst = append(dst, ':')
		dst = appendInt(dst, o.Port)
	}
	return dst
}

// appendDescription appends "Malware: …. Threat type: …. …" with every part
// the record carries, then the record's own description. Last seen is left
// out on purpose: it changes on every feed run and would change the
// Fingerprint (valid_until carries it instead).
func appendDescription(dst []byte, o ioc.Observable, r *ioc.Record) []byte {
	begin := func(label string) {
		if len(dst) > 0 {
			dst = append(dst, ' ')
		}
		dst = append(dst, label...)
		dst = append(dst, ": "...)
	}
	part := func(label, v string) {
		if v = strings.TrimSpace(v); v != "" {
			begin(label)
			dst = appendTruncated(dst, v, 200)
			dst = append(dst, '.')
		}
	}
	if r.MalwarePrintable != "" && r.Malware != "" && r.Malware != r.MalwarePrintable {
		begin("Malware")
		dst = appendTruncated(dst, r.MalwarePrintable, 200)
		dst = append(dst, " ("...)
		dst = appendTruncated(dst, r.Malware, 100)
		dst = append(dst, ")."...)
	} else {
		part("Malware", malwareName(r))
	}
	part("Threat type", r.ThreatType)
	if o.Port > 0 {
		begin("Port")
		dst = appendInt(dst, o.Port)
		dst = append(dst, '.')
	}
	partTime := func(label string, t time.Time) {
		if !t.IsZero() {
			begin(label)
			// appendTime writes a quoted JSON time; drop the quotes.
			n := len(dst)
			dst = appendTime(dst, t)
			copy(dst[n:], dst[n+1:len(dst)-1])
			dst = append(dst[:len(dst)-2], '.')
		}
	}
	partTime("First seen", r.FirstSeen)
	part("Reporter", r.Reporter)
	part("Status", r.Status)
	part("Source", r.Source)
	if d := strings.TrimSpace(r.Description); d != "" {
		if len(dst) > 0 {
			dst = append(dst, ' ')
		}
		dst = appendTruncated(dst, d, maxDescription)
	}
	return dst
}

func malwareName(r *ioc.Record) string {
	if r.MalwarePrintable != "" {
		return r.MalwarePrintable
	}
	return r.Malware
}

// threatTypeText renders a threat type for names: botnet_cc → "botnet C2",
// other underscores become spaces.
func threatTypeText(tt string) string {
	switch strings.ToLower(tt) {
	case "":
		return ""
	case "botnet_cc":
		return "botnet C2"
	case "payload_delivery":
		return "payload delivery"
	}
	if strings.IndexByte(tt, '_') < 0 {
		return tt
	}
	return strings.ReplaceAll(tt, "_", " ")
}

// kindText names an observable type in indicator names.
func kindText(t ioc.Type) string {
	switch t {
	case ioc.TypeIPv4, ioc.TypeIPv6:
		return "ip"
	case ioc.TypeCIDRv4, ioc.TypeCIDRv6:
		return "network"
	case ioc.TypeDomain:
		return "domain"
	case ioc.TypeURL:
		return "url"
	case ioc.TypeMD5:
		return "file MD5"
	case ioc.TypeSHA1:
		return "file SHA-1"
	case ioc.TypeSHA256:
		return "file SHA-256"
	case ioc.TypeSHA512:
		return "file SHA-512"
	case ioc.TypeEmail:
		return "email"
	case ioc.TypeX509SHA1:
		return "certificate SHA-1"
	}
	return string(t)
}

// appendTruncated appends s cut to at most n bytes on a rune boundary, with
// "…" when it was cut.
func appendTruncated(dst []byte, s string, n int) []byte {
	if len(s) <= n {
		return append(dst, s...)
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	dst = append(dst, s[:n]...)
	return append(dst, "…"...)
}

func appendInt(dst []byte, n int) []byte { return strconv.AppendInt(dst, int64(n), 10) }
