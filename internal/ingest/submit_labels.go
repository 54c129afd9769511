package ingest

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/feeds2sentinel/feeds2sentinel/internal/ioc"
	"github.com/feeds2sentinel/feeds2sentinel/internal/state"
)

func stateSeen(source string, now time.Time) state.SourceSeen {
	return state.SourceSeen{Source: source, FirstSeen: now, LastSeen: now}
}

// CleanLabels checks and cleans submitted labels in linear time: at most
// MaxLabels, each at most MaxLabelLen bytes of valid UTF-8 without control
// characters (NUL, newlines) after trimming; invisible format characters
// (bidirectional overrides such as U+202E, zero-width U+200B and U+FEFF)
// are removed; empty labels and case-insensitive duplicates are dropped.
func CleanLabels(labels []string) ([]string, error) {
	if len(labels) == 0 {
		return nil, nil
	}
	if len(labels) > MaxLabels {
		return nil, &ioc.Rejection{Reason: ioc.ReasonInvalid,
			Detail: fmt.Sprintf("%d labels: at most %d per item or request", len(labels), MaxLabels)}
	}
	out := make([]string, 0, len(labels))
	seen := make(map[string]bool, len(labels))
	for _, l := range labels {
		if len(l) > 4*MaxLabelLen {
			return nil, labelError(l, fmt.Sprintf("longer than %d bytes", MaxLabelLen))
		}
		if !utf8.ValidString(l) {
			return nil, labelError(l, "not valid UTF-8")
		}
		if strings.ContainsFunc(l, unicode.IsControl) {
			return nil, labelError(l, "control characters (such as NUL or a newline) are not allowed")
		}
		l = strings.TrimSpace(strings.Map(dropFormat, l))
		if l == "" {
			continue
		}
		if len(l) > MaxLabelLen {
			return nil, labelError(l, fmt.Sprintf("longer than %d bytes", MaxLabelLen))
		}
		k := strings.ToLower(l)
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, l)
	}
	return out, nil
}

// dropFormat removes Unicode format characters (category Cf: bidirectional
// controls, zero-width spaces and joiners, the byte-order mark).
func dropFormat(r rune) rune {
	if unicode.Is(unicode.Cf, r) {
		return -1
	}
	return r
}

func labelError(l, what string) error {
	if len(l) > 32 {
		l = l[:32] + "…"
	}
	return &ioc.Rejection{Reason: ioc.ReasonInvalid,
		Detail: fmt.Sprintf("label %q: %s", strings.ToValidUTF8(l, "?"), what)}
}

// Label limits of a submission. They bound the work and the memory a
// submission costs: request-level labels are added to every item.
const (
	// MaxLabels is the most labels an item, or the request level, may
	// carry (after removing duplicates and empty labels the count can only
	// fall).
	MaxLabels = 16
	// MaxLabelLen is the longest label in bytes, after trimming.
	MaxLabelLen = 64
	// MaxMergedLabels is the most labels one indicator may collect when
	// the same IOC is submitted several times in one submission; an item
	// that would add more is rejected.
	MaxMergedLabels = 64
)
