package invoke

import (
	"encoding/json"
	"errors"
	"testing"
	"time"
)

func TestDecodeString(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		raw     string
		want    string
		wantErr bool
	}{
		{name: "absent", raw: "", want: ""},
		{name: "null", raw: "null", want: ""},
		{name: "plain", raw: `"abc"`, want: "abc"},
		{name: "double encoded", raw: `"\"abc\""`, want: "abc"},
		{name: "double encoded with escapes", raw: `"\"a\\\"b\""`, want: `a"b`},
		{name: "lone quote kept", raw: `"\""`, want: `"`},
		{name: "quoted but not JSON kept", raw: `"\"a\"b\""`, want: `"a"b"`},
		{name: "number", raw: `42`, want: "42"},
		{name: "bool", raw: ` true `, want: "true"},
		{name: "object", raw: `{"a":1}`, wantErr: true},
		{name: "array", raw: `[1]`, wantErr: true},
		{name: "broken string", raw: `"abc`, wantErr: true},
		{name: "garbage", raw: `abc`, wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := DecodeString(json.RawMessage(tc.raw))
			if tc.wantErr {
				if !errors.Is(err, ErrValue) {
					t.Fatalf("DecodeString(%s) error = %v, want ErrValue", tc.raw, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("DecodeString(%s) = %q, %v; want %q", tc.raw, got, err, tc.want)
			}
		})
	}
}

func TestDecodeInt(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		raw     string
		want    int64
		wantErr bool
	}{
		{name: "absent", raw: "", want: 0},
		{name: "null", raw: "null", want: 0},
		{name: "number", raw: "7", want: 7},
		{name: "string", raw: `"1"`, want: 1},
		{name: "double encoded", raw: `"\"42\""`, want: 42},
		{name: "negative", raw: `"-3"`, want: -3},
		{name: "padded", raw: `" 5 "`, want: 5},
		{name: "float", raw: `1.5`, wantErr: true},
		{name: "word", raw: `"one"`, wantErr: true},
		{name: "overflow", raw: `"99999999999999999999"`, wantErr: true},
		{name: "object", raw: `{}`, wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := DecodeInt(json.RawMessage(tc.raw))
			if tc.wantErr {
				if !errors.Is(err, ErrValue) {
					t.Fatalf("DecodeInt(%s) error = %v, want ErrValue", tc.raw, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("DecodeInt(%s) = %d, %v; want %d", tc.raw, got, err, tc.want)
			}
		})
	}
}

func TestDecodeTime(t *testing.T) {
	t.Parallel()
	base := time.Date(2023, 10, 12, 20, 13, 49, 0, time.UTC)
	cases := []struct {
		name    string
		raw     string
		want    time.Time
		wantErr bool
	}{
		{name: "absent", raw: ""},
		{name: "null", raw: "null"},
		{name: "empty", raw: `""`},
		{name: "zone-less is UTC", raw: `"2023-10-12T20:13:49"`, want: base},
		{name: "zone-less fractional", raw: `"2023-10-12T20:13:49.5"`, want: base.Add(500 * time.Millisecond)},
		{name: "Z", raw: `"2023-10-12T20:13:49Z"`, want: base},
		{name: "offset zero", raw: `"2023-10-12T20:13:49+00:00"`, want: base},
		{name: "offset converted to UTC", raw: `"2023-10-12T22:13:49+02:00"`, want: base},
		{name: "seven digits", raw: `"2023-10-12T20:13:49.1234567Z"`, want: base.Add(123456700)},
		{name: "six digits", raw: `"2023-10-12T20:13:49.640002Z"`, want: base.Add(640002000)},
		{name: "double encoded", raw: `"\"2023-10-12T20:13:49\""`, want: base},
		{name: "space separator", raw: `"2023-10-12 20:13:49"`, want: base},
		{name: "dotnet invariant", raw: `"10/12/2023 20:13:49"`, want: base},
		{name: "dotnet en-US", raw: `"10/12/2023 8:13:49 PM"`, want: base},
		{name: "garbage", raw: `"yesterday"`, wantErr: true},
		{name: "number", raw: `1697141629`, wantErr: true},
		{name: "object", raw: `{}`, wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := DecodeTime(json.RawMessage(tc.raw))
			if tc.wantErr {
				if !errors.Is(err, ErrValue) {
					t.Fatalf("DecodeTime(%s) error = %v, want ErrValue", tc.raw, err)
				}
				return
			}
			if err != nil || !got.Equal(tc.want) || got.Location() != time.UTC {
				t.Fatalf("DecodeTime(%s) = %v, %v; want %v in UTC", tc.raw, got, err, tc.want)
			}
		})
	}
}

func TestJSONBody(t *testing.T) {
	t.Parallel()
	const body = `{"feed":"threatfox","batch":1}`
	cases := []struct {
		name    string
		raw     string
		want    string
		wantErr bool
	}{
		{name: "object", raw: body, want: body},
		{name: "array with spaces", raw: " [1, 2] \n", want: "[1, 2]"},
		{name: "single encoded", raw: `"{\"feed\":\"threatfox\",\"batch\":1}"`, want: body},
		{name: "double encoded", raw: `"\"{\\\"feed\\\":\\\"threatfox\\\",\\\"batch\\\":1}\""`, want: body},
		{name: "base64", raw: `"eyJmZWVkIjoidGhyZWF0Zm94IiwiYmF0Y2giOjF9"`, want: body},
		{name: "base64 url unpadded", raw: `"W3siYSI6Ij8_PiJ9XQ"`, want: `[{"a":"??>"}]`},
		{name: "plain string", raw: `"hello"`, wantErr: true},
		{name: "double encoded plain string", raw: `"\"hello\""`, wantErr: true},
		{name: "number", raw: `42`, wantErr: true},
		{name: "base64 of non-JSON", raw: `"aGVsbG8="`, wantErr: true},
		{name: "relaxed JSON", raw: `"{ message: \"Message sent\" }"`, wantErr: true},
		{name: "truncated object", raw: `{"a":`, wantErr: true},
		{name: "empty", raw: ``, wantErr: true},
		{name: "null", raw: `null`, wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := JSONBody(json.RawMessage(tc.raw))
			if tc.wantErr {
				if !errors.Is(err, ErrUnexpectedBody) {
					t.Fatalf("JSONBody(%s) error = %v, want ErrUnexpectedBody", tc.raw, err)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Fatalf("JSONBody(%s) = %s, %v; want %s", tc.raw, got, err, tc.want)
			}
		})
	}
}

func TestDecodeTimerForms(t *testing.T) {
	t.Parallel()
	next := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name       string
		data       string
		wantPast   bool
		wantStatus *ScheduleStatus
		wantErr    error
	}{
		{name: "status null", data: `{"timer":{"Schedule":{},"ScheduleStatus":null,"IsPastDue":true}}`, wantPast: true},
		{name: "status absent", data: `{"timer":{"IsPastDue":false}}`},
		{name: "offsets", data: `{"timer":{"ScheduleStatus":{"Last":"2026-01-01T11:45:00+00:00","Next":"2026-01-01T12:00:00+00:00","LastUpdated":"2026-01-01T11:46:00+00:00"},"IsPastDue":false}}`,
			wantStatus: &ScheduleStatus{Last: next.Add(-15 * time.Minute), Next: next, LastUpdated: next.Add(-14 * time.Minute)}},
		{name: "invalid timestamps stay zero", data: `{"timer":{"ScheduleStatus":{"Last":"0001-01-01T00:00:00+00:00 junk","Next":"2026-01-01T12:00:00","LastUpdated":"?"},"IsPastDue":"true"}}`,
			wantPast: true, wantStatus: &ScheduleStatus{Next: next}},
		{name: "lower-case keys", data: `{"timer":{"isPastDue":true,"scheduleStatus":{"next":"2026-01-01T12:00:00Z"}}}`,
			wantPast: true, wantStatus: &ScheduleStatus{Next: next}},
		{name: "string-encoded timer", data: `{"timer":"{\"IsPastDue\":true}"}`, wantPast: true},
		{name: "missing binding", data: `{"myTimer":{}}`, wantErr: ErrNoBinding},
		{name: "timer not an object", data: `{"timer":[1]}`, wantErr: ErrValue},
		{name: "IsPastDue not a bool", data: `{"timer":{"IsPastDue":"maybe"}}`, wantErr: ErrValue},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := &Request{}
			if err := json.Unmarshal([]byte(tc.data), &req.Data); err != nil {
				t.Fatal(err)
			}
			got, err := DecodeTimer(req)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("DecodeTimer error = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("DecodeTimer: %v", err)
			}
			if got.IsPastDue != tc.wantPast {
				t.Errorf("IsPastDue = %v, want %v", got.IsPastDue, tc.wantPast)
			}
			switch {
			case tc.wantStatus == nil && got.ScheduleStatus != nil:
				t.Errorf("ScheduleStatus = %+v, want nil", *got.ScheduleStatus)
			case tc.wantStatus != nil && got.ScheduleStatus == nil:
				t.Errorf("ScheduleStatus = nil, want %+v", *tc.wantStatus)
			case tc.wantStatus != nil && *got.ScheduleStatus != *tc.wantStatus:
				t.Errorf("ScheduleStatus = %+v, want %+v", *got.ScheduleStatus, *tc.wantStatus)
			}
		})
	}
}
