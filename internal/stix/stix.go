// Package stix builds the STIX 2.1 objects feeds2sentinel uploads to
// Microsoft Sentinel: indicators with a single-comparison pattern,
// deterministic ids, TLP 2.0 markings and the identity of each source. It also
// parses the pattern subset it emits (to re-validate STIX submitted by
// analysts), merges two versions of one indicator and fingerprints the
// content that decides whether an indicator must be uploaded again.
//
// The package is pure: it does no I/O, keeps no state and reads the clock only
// through [Options.Now]. All functions are safe for concurrent use.
package stix

import "errors"

// Errors returned by this package. They are wrapped with detail; match them
// with errors.Is.
var (
	// ErrInvalidPattern is returned by ParsePattern for anything outside the
	// single-comparison subset this package emits.
	ErrInvalidPattern = errors.New("stix: invalid pattern")
	// ErrUnsupportedType is returned for an observable type or a pattern
	// path that has no STIX mapping here.
	ErrUnsupportedType = errors.New("stix: unsupported observable type")
	// ErrInvalidIndicator is returned by NewIndicator and UnmarshalJSON when
	// an object would not be a valid STIX 2.1 indicator or identity.
	ErrInvalidIndicator = errors.New("stix: invalid object")
	// ErrUnknownTLP is returned by TLPMarkingID for a name that is not a
	// TLP 2.0 level.
	ErrUnknownTLP = errors.New("stix: unknown TLP level")
)

// SpecVersion is the STIX version of every object this package emits.
const SpecVersion = "2.1"

// TimeFormat is the layout of every STIX timestamp this package emits: RFC
// 3339, UTC, millisecond precision, as the Sentinel samples use.
const TimeFormat = "2006-01-02T15:04:05.000Z"
