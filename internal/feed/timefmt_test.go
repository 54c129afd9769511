package feed

import (
	"testing"
	"time"
)

func TestParseTime(t *testing.T) {
	t.Parallel()
	want := time.Date(2022, 8, 5, 19, 43, 8, 0, time.UTC)
	cases := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"2022-08-05 19:43:08", want, true},
		{"2022-08-05 19:43:08 UTC", want, true},
		{" 2022-08-05 19:43:08 UTC ", want, true},
		{"2022-08-05T19:43:08Z", want, true},
		{"2022-08-05T21:43:08+02:00", want, true},
		{"2022-08-05T17:43:08-02:00", want, true},
		{"2022-08-05T19:43:08.855000", want.Add(855 * time.Millisecond), true},
		{"2022-08-05", time.Date(2022, 8, 5, 0, 0, 0, 0, time.UTC), true},
		{"", time.Time{}, true},
		{"None", time.Time{}, true},
		{"null", time.Time{}, true},
		{"n/a", time.Time{}, true},
		{"2022-02-30", time.Time{}, false},
		{"2022-13-01 00:00:00", time.Time{}, false},
		{"2022-08-05 24:00:00", time.Time{}, false},
		{"2022-08-05 19:43:08 CEST", time.Time{}, false},
		{"05/08/2022", time.Time{}, false},
		{"2022-08-05 19:43", time.Time{}, false},
		{"2022-08-05T19:43:08.", time.Time{}, false},
	}
	for _, tc := range cases {
		got, err := ParseTime(tc.in)
		if (err == nil) != tc.ok || !got.Equal(tc.want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
		if got.Location() != time.UTC {
			t.Errorf("ParseTime(%q) location %v, want UTC", tc.in, got.Location())
		}
	}
}

func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2022-08-05 19:43:08 UTC", "2022-08-05T19:43:08.855000", "2022-08-05", "None"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseTime(s)
		if err != nil && !got.IsZero() {
			t.Fatalf("error with non-zero time %v", got)
		}
	})
}
