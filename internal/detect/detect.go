// Package detect describes the Microsoft Sentinel content feeds2sentinel
// ships in infra/ (modules/sentinel-content.bicep): the analytic rules that
// match uploaded indicators, which indicator types each can match, which
// deployment parameter turns it on, and which types each built-in feed
// emits, so that `handler feeds` can say which rule can match a feed's
// indicators. infra/detect_test.go keeps this table equal to the rules'
// KQL; it does no I/O.
package detect

import (
	"slices"

	"github.com/feeds2sentinel/feeds2sentinel/internal/ioc"
)

// Rule is one shipped analytic rule.
type Rule struct {
	// Key names the rule: its query is infra/rules/<Key>.kql and its
	// display name is "feeds2sentinel: " + Title.
	Key string
	// Title is the human name of the rule.
	Title string
	// Types are the indicator types its query can match.
	Types []ioc.Type
	// Data is the log data the rule reads.
	Data string
	// Param is the Bicep parameter of infra/main.bicep that deploys it.
	Param string
}

// Rules returns the shipped analytic rules that match indicators, in a
// stable order.
func Rules() []Rule {
	const asim, email, cert = "deployDetectionRules", "deployEmailRule", "deployCertificateRule"
	return []Rule{
		{Key: "ti-ip", Title: "IP indicator in a network session", Types: []ioc.Type{ioc.TypeIPv4, ioc.TypeIPv6},
			Data: "ASIM NetworkSession (_Im_NetworkSession)", Param: asim},
		{Key: "ti-cidr", Title: "address in an indicator's CIDR range", Types: []ioc.Type{ioc.TypeCIDRv4, ioc.TypeCIDRv6},
			Data: "ASIM NetworkSession (_Im_NetworkSession)", Param: asim},
		{Key: "ti-domain", Title: "domain indicator in a DNS query", Types: []ioc.Type{ioc.TypeDomain},
			Data: "ASIM Dns (_Im_Dns)", Param: asim},
		{Key: "ti-url", Title: "URL indicator in a web session", Types: []ioc.Type{ioc.TypeURL},
			Data: "ASIM WebSession (_Im_WebSession)", Param: asim},
		{Key: "ti-filehash", Title: "file hash indicator in a file event", Types: []ioc.Type{ioc.TypeMD5, ioc.TypeSHA1, ioc.TypeSHA256, ioc.TypeSHA512},
			Data: "ASIM FileEvent (_Im_FileEvent)", Param: asim},
		{Key: "ti-email", Title: "email address indicator in mail flow", Types: []ioc.Type{ioc.TypeEmail},
			Data: "Defender for Office 365 EmailEvents", Param: email},
		{Key: "ti-x509-corelight", Title: "certificate SHA-1 indicator in a TLS handshake", Types: []ioc.Type{ioc.TypeX509SHA1},
			Data: "Zeek/Corelight files log (Corelight_v2_files_CL); no ASIM schema or common Microsoft table carries the server certificate hash", Param: cert},
	}
}

// RulesFor returns the rules whose query can match indicators of type t.
func RulesFor(t ioc.Type) []Rule {
	var rs []Rule
	for _, r := range Rules() {
		if slices.Contains(r.Types, t) {
			rs = append(rs, r)
		}
	}
	return rs
}

// FeedTypes returns the indicator types the built-in feed name emits, and
// false for a name that is not a built-in feed (user lists and manual
// submissions may carry any type).
func FeedTypes(name string) ([]ioc.Type, bool) {
	ip := []ioc.Type{ioc.TypeIPv4, ioc.TypeIPv6}
	switch name {
	case "threatfox", "threatfox-csv":
		return []ioc.Type{ioc.TypeIPv4, ioc.TypeIPv6, ioc.TypeDomain, ioc.TypeURL,
			ioc.TypeMD5, ioc.TypeSHA1, ioc.TypeSHA256, ioc.TypeSHA512}, true
	case "urlhaus", "urlhaus-api", "openphish":
		return []ioc.Type{ioc.TypeURL}, true
	case "feodotracker":
		return ip, true
	case "malwarebazaar":
		return []ioc.Type{ioc.TypeMD5, ioc.TypeSHA1, ioc.TypeSHA256}, true
	case "sslbl":
		return []ioc.Type{ioc.TypeX509SHA1}, true
	case "spamhaus-drop":
		// A /32 or /128 range is normalized to a plain address.
		return []ioc.Type{ioc.TypeCIDRv4, ioc.TypeCIDRv6, ioc.TypeIPv4, ioc.TypeIPv6}, true
	}
	return nil, false
}

// FeedRules returns the keys of the rules that can match the indicators of
// feed name, deduplicated in Rules order. For a feed that is not built in,
// it returns every rule: a user list may carry any type.
func FeedRules(name string) []string {
	types, ok := FeedTypes(name)
	var keys []string
	for _, r := range Rules() {
		if !ok || slices.ContainsFunc(r.Types, func(t ioc.Type) bool { return slices.Contains(types, t) }) {
			keys = append(keys, r.Key)
		}
	}
	return keys
}
