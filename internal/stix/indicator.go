package stix

import (
	"time"

	"github.com/feeds2sentinel/feeds2sentinel/internal/ioc"
)

// Indicator is a STIX 2.1 indicator (type "indicator", spec_version "2.1").
// The JSON names are given as tags; empty optional properties are omitted
// when encoding (STIX forbids empty lists), as are a zero ValidUntil and a
// false Revoked. Observable and Sources are not serialized: they carry what
// the pipeline knows about the indicator. Contexts are serialized in the
// SourceContextExtension when there are two or more.
type Indicator struct {
	ID                 string              `json:"id"`
	Created            time.Time           `json:"created"`
	Modified           time.Time           `json:"modified"`
	CreatedByRef       string              `json:"created_by_ref,omitempty"`
	Revoked            bool                `json:"revoked,omitempty"`
	Labels             []string            `json:"labels,omitempty"`
	Confidence         int                 `json:"confidence"` // 0-100; always encoded
	Lang               string              `json:"lang,omitempty"`
	ExternalReferences []ExternalReference `json:"external_references,omitempty"`
	ObjectMarkingRefs  []string            `json:"object_marking_refs,omitempty"`
	Name               string              `json:"name,omitempty"`
	Description        string              `json:"description,omitempty"`
	IndicatorTypes     []string            `json:"indicator_types,omitempty"`
	Pattern            string              `json:"pattern"`
	PatternType        string              `json:"pattern_type"`
	PatternVersion     string              `json:"pattern_version,omitempty"`
	ValidFrom          time.Time           `json:"valid_from"`
	ValidUntil         time.Time           `json:"valid_until,omitzero"`
	KillChainPhases    []KillChainPhase    `json:"kill_chain_phases,omitempty"`

	// Observable is the IOC the pattern compares (not serialized; decoding
	// fills Type and Value from the pattern when it maps to one).
	Observable ioc.Observable `json:"-"`
	// Sources are the feed names that reported the IOC (not serialized).
	Sources []string `json:"-"`
	// Contexts are what each source said (see SourceContext and Merge);
	// nil for an indicator built from one record, whose name and
	// description are its one context.
	Contexts []SourceContext `json:"-"`
}

// ExternalReference is a STIX external reference. SourceName is required,
// plus at least one of Description, URL and ExternalID.
type ExternalReference struct {
	SourceName  string `json:"source_name"`
	Description string `json:"description,omitempty"`
	URL         string `json:"url,omitempty"`
	ExternalID  string `json:"external_id,omitempty"`
}

// KillChainPhase is a phase of a named kill chain.
type KillChainPhase struct {
	KillChainName string `json:"kill_chain_name"`
	PhaseName     string `json:"phase_name"`
}

// LockheedMartinKillChain is the kill_chain_name of the phases NewIndicator
// emits.
const LockheedMartinKillChain = "lockheed-martin-cyber-kill-chain"

// Identity is a STIX 2.1 identity (type "identity"), emitted alongside the
// indicators whose created_by_ref points at it.
type Identity struct {
	ID            string    `json:"id"`
	Created       time.Time `json:"created"`
	Modified      time.Time `json:"modified"`
	Name          string    `json:"name"`
	Description   string    `json:"description,omitempty"`
	IdentityClass string    `json:"identity_class,omitempty"` // "organization" or "system"
}

// identityEpoch is the created/modified time of every source identity: fixed,
// so that the object never changes and is never uploaded twice.
var identityEpoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// NewSourceIdentity returns the identity of a source (a feed name such as
// "threatfox", or "manual" for analyst submissions), the object that
// IdentityID(source) refers to. Its id, name and timestamps are fixed for a
// given source, so the object is the same in every run. identity_class is
// "system" for "manual" and "organization" otherwise.
func NewSourceIdentity(source string) *Identity {
	name, class := source, "organization"
	if name == "" {
		name = "unknown source"
	}
	if source == "manual" {
		name, class = "feeds2sentinel analyst submissions", "system"
	}
	return &Identity{
		ID:            IdentityID(source),
		Created:       identityEpoch,
		Modified:      identityEpoch,
		Name:          name,
		Description:   "Threat-intelligence source \"" + source + "\" as ingested by feeds2sentinel.",
		IdentityClass: class,
	}
}
