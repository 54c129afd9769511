// Package ioc owns indicators of compromise before they become STIX: the
// observable types feeds2sentinel understands, what a source says about one
// IOC (a Record), and the normalization and policy every feed and every
// analyst submission goes through (refang, canonical form, reserved ranges,
// public suffixes, the allowlist). It does no I/O.
package ioc

import (
	"errors"
	"fmt"
	"time"
)

// Type is the kind of an observable.
type Type string

// The observable types. CIDR ranges are their own types so that lifetimes
// and policy can treat a /16 differently from a single address; in STIX they
// are still ipv4-addr / ipv6-addr values.
const (
	TypeIPv4     Type = "ipv4"
	TypeIPv6     Type = "ipv6"
	TypeCIDRv4   Type = "cidr4"
	TypeCIDRv6   Type = "cidr6"
	TypeDomain   Type = "domain"
	TypeURL      Type = "url"
	TypeMD5      Type = "md5"
	TypeSHA1     Type = "sha1"
	TypeSHA256   Type = "sha256"
	TypeSHA512   Type = "sha512"
	TypeEmail    Type = "email"
	TypeX509SHA1 Type = "x509-sha1"
)

// PossibleTypeValues returns every Type, in a stable order.
func PossibleTypeValues() []Type {
	return []Type{TypeIPv4, TypeIPv6, TypeCIDRv4, TypeCIDRv6, TypeDomain, TypeURL,
		TypeMD5, TypeSHA1, TypeSHA256, TypeSHA512, TypeEmail, TypeX509SHA1}
}

// Observable is a normalized IOC: its type and canonical value. Port is the
// port of an ip:port IOC (0 when none); it is context, not part of identity.
type Observable struct {
	Type  Type
	Value string
	Port  int
}

// Key is the identity of the observable: "<type>:<value>". Two observables
// with equal keys are the same IOC whatever their port or source.
func (o Observable) Key() string { return string(o.Type) + ":" + o.Value }

// Record is what one source says about one IOC, before normalization. Zero
// values mean "not given": Confidence < 0 or ConfidenceSet false, zero times,
// empty strings and nil slices. Parsers fill what their format carries.
type Record struct {
	Source string // feed name, e.g. "threatfox", or "manual"
	ID     string // the source's record id, "" when the source has none
	Value  string // the IOC as the source wrote it (may be defanged)
	Type   Type   // the source's declared type; "" = detect from Value

	ThreatType       string   // e.g. botnet_cc, payload_delivery, payload, phishing
	Malware          string   // Malpedia-style id, e.g. win.cobalt_strike
	MalwarePrintable string   // e.g. "Cobalt Strike"
	MalwareAliases   []string // e.g. BEACON, CobaltStrike
	MalpediaURL      string
	Confidence       int  // 0-100 when ConfidenceSet
	ConfidenceSet    bool // the source gave a confidence
	FirstSeen        time.Time
	LastSeen         time.Time
	Reference        string    // a report URL
	Reporter         string    // who reported it to the source
	Tags             []string  // free-form source tags
	RecordURL        string    // the record's page at the source
	Status           string    // source-specific state, e.g. online/offline
	Description      string    // extra text for the indicator description
	Labels           []string  // extra labels (per-feed or per-submission)
	ValidUntil       time.Time // explicit expiry, overrides the lifetime policy
	TLP              string    // clear, green, amber, amber+strict, red; "" = default
}

// Reason is a stable code for why an input did not become an indicator.
type Reason string

// The reject reasons.
const (
	ReasonInvalid       Reason = "invalid"
	ReasonReserved      Reason = "reserved_address"
	ReasonPublicSuffix  Reason = "public_suffix_only"
	ReasonTooLong       Reason = "too_long"
	ReasonAllowlisted   Reason = "allowlisted"
	ReasonUnsupported   Reason = "unsupported_type"
	ReasonLowConfidence Reason = "below_min_confidence"
	ReasonExpired       Reason = "expired"
	ReasonStatus        Reason = "skipped_status"
)

// PossibleReasonValues returns every Reason, in a stable order.
func PossibleReasonValues() []Reason {
	return []Reason{ReasonInvalid, ReasonReserved, ReasonPublicSuffix, ReasonTooLong,
		ReasonAllowlisted, ReasonUnsupported, ReasonLowConfidence, ReasonExpired, ReasonStatus}
}

// ErrRejected is matched (errors.Is) by every *Rejection.
var ErrRejected = errors.New("ioc rejected")

// Rejection says why a value was not accepted. It is returned as an error by
// Normalize and by policy checks; use errors.As to read it.
type Rejection struct {
	Reason   Reason
	Value    string // the input as given (truncated to 256 bytes)
	RecordID string // the source record id, when known
	Detail   string // a human explanation: what was expected
}

// Error implements error.
func (r *Rejection) Error() string {
	if r.RecordID != "" {
		return fmt.Sprintf("record %s: %s: %s", r.RecordID, r.Reason, r.Detail)
	}
	return fmt.Sprintf("%s: %s", r.Reason, r.Detail)
}

// Is reports whether target is ErrRejected.
func (r *Rejection) Is(target error) bool { return target == ErrRejected }
