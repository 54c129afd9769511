package stix

import (
	"fmt"
	"strings"
)

// The OASIS TLP 2.0 marking definitions (cti-stix-common-objects,
// extension-definition-specifications/tlp-2.0). The Sentinel documentation
// samples still use the STIX 2.1 TLP 1.0 ids (e.g. green
// marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da); the project
// issue asks for TLP 2.0.
const (
	TLPClear       = "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"
	TLPGreen       = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
	TLPAmber       = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"
	TLPAmberStrict = "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003"
	TLPRed         = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"
)

// TLPMarkingID returns the TLP 2.0 marking-definition id for a level name:
// clear (alias white), green, amber, amber+strict or red, case-insensitive,
// with an optional "tlp:" prefix. "" means clear. Other names return an error
// matching ErrUnknownTLP.
func TLPMarkingID(name string) (string, error) {
	n := strings.TrimSpace(name)
	if len(n) >= 4 && strings.EqualFold(n[:4], "tlp:") {
		n = n[4:]
	}
	switch {
	case n == "", strings.EqualFold(n, "clear"), strings.EqualFold(n, "white"):
		return TLPClear, nil
	case strings.EqualFold(n, "green"):
		return TLPGreen, nil
	case strings.EqualFold(n, "amber"):
		return TLPAmber, nil
	case strings.EqualFold(n, "amber+strict"):
		return TLPAmberStrict, nil
	case strings.EqualFold(n, "red"):
		return TLPRed, nil
	}
	return "", fmt.Errorf("%w: %q", ErrUnknownTLP, name)
}

// tlpRank orders TLP marking ids from least (1, clear) to most restrictive
// (5, red); other ids rank 0.
func tlpRank(id string) int {
	switch id {
	case TLPClear:
		return 1
	case TLPGreen:
		return 2
	case TLPAmber:
		return 3
	case TLPAmberStrict:
		return 4
	case TLPRed:
		return 5
	}
	return 0
}

// IndicatorType returns the indicator-type-ov value for a source threat
// type. Everything a feed lists is "malicious-activity" (botnet_cc,
// payload_delivery, payload, phishing, malware_download, scanners, unknown
// and empty ones) except threat types with a token naming an anonymization
// service (tor, proxy, vpn, anonymizer, anonymization → "anonymization") or
// "compromised" ("compromised"). Tokens are matched case-insensitively
// between non-alphanumeric bytes ("tor_exit" names tor, "monitor" does not).
// The mapping is deliberately coarse: Sentinel gives an indicator a new
// identity when its indicator_types change (Azure/Azure-Sentinel #12538), and
// two feeds often disagree about one IOC's threat type.
func IndicatorType(threatType string) string {
	t := threatType
	switch t { // the feeds' usual values, without the token scan
	case "botnet_cc", "payload_delivery", "payload", "malware_download", "phishing", "":
		return "malicious-activity"
	}
	switch {
	case hasToken(t, "tor"), hasToken(t, "proxy"), hasToken(t, "vpn"),
		hasToken(t, "anonymizer"), hasToken(t, "anonymization"):
		return "anonymization"
	case hasToken(t, "compromised"):
		return "compromised"
	}
	return "malicious-activity"
}

// KillChainPhaseFor returns the Lockheed Martin kill-chain phase a threat
// type denotes and true, or "" and false, matching tokens as IndicatorType
// does: cc, c2 or command (botnet_cc) → command-and-control; delivery,
// download or phishing (payload_delivery, malware_download) → delivery;
// payload → installation (a payload hash identifies what is installed on the
// victim; exploitation was the alternative).
func KillChainPhaseFor(threatType string) (string, bool) {
	t := threatType
	switch t { // the feeds' usual values, without the token scan
	case "botnet_cc":
		return "command-and-control", true
	case "payload_delivery", "malware_download", "phishing":
		return "delivery", true
	case "payload":
		return "installation", true
	case "":
		return "", false
	}
	switch {
	case hasToken(t, "cc"), hasToken(t, "c2"), hasToken(t, "command"):
		return "command-and-control", true
	case hasToken(t, "delivery"), hasToken(t, "download"), hasToken(t, "phishing"):
		return "delivery", true
	case hasToken(t, "payload"):
		return "installation", true
	}
	return "", false
}

// hasToken reports whether tok occurs in s, case-insensitively, delimited by
// the ends of s or by bytes that are not ASCII letters or digits (so "tor"
// is a token of "tor_exit" but not of "monitor").
func hasToken(s, tok string) bool {
	for i := 0; i+len(tok) <= len(s); i++ {
		if (i == 0 || !isAlnum(s[i-1])) && strings.EqualFold(s[i:i+len(tok)], tok) &&
			(i+len(tok) == len(s) || !isAlnum(s[i+len(tok)])) {
			return true
		}
	}
	return false
}

func isAlnum(c byte) bool { return isLower(c) || isUpper(c) || isDigit(c) }
