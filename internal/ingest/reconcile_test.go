package ingest

import (
	"testing"
	"time"

	"github.com/feeds2sentinel/feeds2sentinel/internal/state"
)

func TestReconcile(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	row := func(rev int, st state.Status, uploaded time.Time, id string) *state.Indicator {
		return &state.Indicator{Key: "ipv4:45.1.2.3", ID: id, Revision: rev, Status: st, LastUploaded: uploaded,
			Fingerprint: id + string(st), Sources: []state.SourceSeen{{Source: id, LastSeen: uploaded}}}
	}
	tests := []struct {
		name         string
		mine, theirs *state.Indicator
		wantID       string
		wantStatus   state.Status
	}{
		{"their revocation sticks against my newer refresh",
			row(0, state.StatusActive, t0.Add(time.Hour), "a"), row(0, state.StatusRevoked, t0, "b"), "b", state.StatusRevoked},
		{"my revocation sticks against their newer refresh",
			row(0, state.StatusRevoked, t0, "a"), row(0, state.StatusActive, t0.Add(time.Hour), "b"), "a", state.StatusRevoked},
		{"a higher revision wins over a newer upload of an older one",
			row(0, state.StatusActive, t0.Add(time.Hour), "rev0"), row(1, state.StatusActive, t0, "rev1"), "rev1", state.StatusActive},
		{"my higher revision wins",
			row(2, state.StatusActive, t0, "rev2"), row(1, state.StatusRevoked, t0.Add(time.Hour), "rev1"), "rev2", state.StatusActive},
		{"same revision: the newer upload wins",
			row(0, state.StatusActive, t0.Add(time.Hour), "a"), row(0, state.StatusActive, t0, "b"), "a", state.StatusActive},
	}
	for _, tt := range tests {
		got := reconcile(tt.mine, tt.theirs)
		if got.ID != tt.wantID || got.Status != tt.wantStatus {
			t.Errorf("%s: got %s/%s, want %s/%s", tt.name, got.ID, got.Status, tt.wantID, tt.wantStatus)
		}
		if len(got.Sources) != 2 {
			t.Errorf("%s: sources not united: %+v", tt.name, got.Sources)
		}
	}
}
