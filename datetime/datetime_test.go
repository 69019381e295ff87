package datetime

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// Every value is written in UTC with milliseconds, so the strings have one width and sort as
// the times do; a time is read in any RFC 3339 form, and a bad one is told what is expected.
func TestDateTimesHaveOneWidthAndSortAsTimes(t *testing.T) {
	tokyo := time.FixedZone("JST", 9*3600)
	times := []time.Time{
		time.Date(2026, 12, 1, 9, 0, 0, 0, tokyo), // 00:00 UTC
		time.Date(2026, 12, 1, 0, 0, 0, 500_000_000, time.UTC),
		time.Date(2026, 12, 1, 0, 0, 1, 0, time.UTC),
	}
	var out []string
	for _, tm := range times {
		var b bytes.Buffer
		MarshalDateTime(tm).MarshalGQL(&b)
		out = append(out, b.String())
	}
	if want := []string{`"2026-12-01T00:00:00.000Z"`, `"2026-12-01T00:00:00.500Z"`, `"2026-12-01T00:00:01.000Z"`}; strings.Join(out, " ") != strings.Join(want, " ") {
		t.Fatalf("got %v, want %v", out, want)
	}
	for _, s := range []string{"2026-12-01T09:00:00+09:00", "2026-12-01T00:00:00Z", "2026-12-01T00:00:00.123456Z"} {
		if _, err := UnmarshalDateTime(s); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	for _, v := range []any{"yesterday", "99999-01-01T00:00:00Z", 17} {
		if _, err := UnmarshalDateTime(v); err == nil || !strings.Contains(err.Error(), "RFC 3339") {
			t.Errorf("%v: %v", v, err)
		}
	}
}
