package sentineltest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
)

// stixPatternRE is a loose check that a STIX pattern starts with a bracketed
// comparison: "[" object-type ":" path operator ... "]". It accepts compound
// patterns ("[a] AND [b]", qualifiers) as long as the first comparison looks right.
var stixPatternRE = regexp.MustCompile(`^\[\s*\(*\s*[a-z0-9][a-z0-9-]*:[A-Za-z0-9_.'*\[\]-]+\s*(NOT\s+)?(=|!=|<>|>=|<=|>|<|LIKE|MATCHES|IN|ISSUBSET|ISSUPERSET)\s*\S.*\]`)

// validate returns the per-record error messages for one object, in the
// service's documented form "Error for Property=<name>: <problem>. Actual
// value: <value>." (only the "Required property is missing" text is
// documented; the other problem texts are this fake's). legacy applies the
// upload-indicators API's rule that every object is an indicator.
func validate(raw json.RawMessage, legacy bool) []string {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return []string{propErr("object", "Object is not a JSON object", raw)}
	}
	var msgs []string
	fail := func(prop, problem string) {
		msgs = append(msgs, propErr(prop, problem, obj[prop]))
	}
	str := func(prop string) (string, bool) {
		v, ok := obj[prop]
		if !ok || isNull(v) {
			fail(prop, "Required property is missing")
			return "", false
		}
		var s string
		if json.Unmarshal(v, &s) != nil {
			fail(prop, "Property must be a string")
			return "", false
		}
		return s, true
	}

	id, hasID := str("id")
	typ, hasType := str("type")
	if hasID {
		prefix, rest, ok := strings.Cut(id, "--")
		if !ok || uuid.Validate(rest) != nil || len(rest) != 36 {
			fail("id", "Invalid identifier, expected <type>--<UUID>")
		} else if hasType && prefix != typ {
			fail("id", "Identifier prefix does not match type "+typ)
		}
	}
	if hasType && legacy && typ != "indicator" {
		fail("type", "Only indicator objects are supported")
	}

	spec := "2.1"
	if v, ok := obj["spec_version"]; ok {
		if json.Unmarshal(v, &spec) != nil || (spec != "2.0" && spec != "2.1") {
			fail("spec_version", "Only STIX 2.0 and 2.1 are supported")
		}
	}
	times := map[string]time.Time{}
	timestamp := func(prop string, required bool) {
		v, ok := obj[prop]
		if !ok || isNull(v) {
			if required {
				fail(prop, "Required property is missing")
			}
			return
		}
		var s string
		if json.Unmarshal(v, &s) != nil {
			fail(prop, "Property must be a timestamp string")
			return
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			fail(prop, "Invalid timestamp")
			return
		}
		times[prop] = t
	}
	timestamp("created", true)
	timestamp("modified", true)

	if typ == "indicator" {
		pattern, hasPattern := str("pattern")
		if hasPattern && strings.TrimSpace(pattern) == "" {
			fail("pattern", "Required property is empty")
			hasPattern = false
		}
		patternType := "stix"
		if spec != "2.0" || obj["pattern_type"] != nil {
			var ok bool
			if patternType, ok = str("pattern_type"); ok && strings.TrimSpace(patternType) == "" {
				fail("pattern_type", "Required property is empty")
			}
		}
		if hasPattern && patternType == "stix" && !stixPatternRE.MatchString(strings.TrimSpace(pattern)) {
			fail("pattern", "Invalid STIX pattern")
		}
		timestamp("valid_from", true)
		timestamp("valid_until", false)
		from, okFrom := times["valid_from"]
		until, okUntil := times["valid_until"]
		if okFrom && okUntil && !until.After(from) {
			fail("valid_until", "valid_until must be greater than valid_from")
		}
	}
	if v, ok := obj["confidence"]; ok && !isNull(v) {
		var f float64
		if json.Unmarshal(v, &f) != nil || f != math.Trunc(f) || f < 0 || f > 100 {
			fail("confidence", "Confidence must be an integer between 0 and 100")
		}
	}
	return msgs
}

// propErr formats one message the way the service does.
func propErr(prop, problem string, v json.RawMessage) string {
	actual := "NULL"
	if len(v) > 0 && !isNull(v) {
		var s string
		if json.Unmarshal(v, &s) == nil {
			actual = s
		} else {
			actual = string(bytes.TrimSpace(v))
		}
		if len(actual) > 100 {
			actual = actual[:100]
		}
	}
	return fmt.Sprintf("Error for Property=%s: %s. Actual value: %s.", prop, problem, actual)
}

// isNull reports whether v is the JSON null.
func isNull(v json.RawMessage) bool { return string(bytes.TrimSpace(v)) == "null" }
