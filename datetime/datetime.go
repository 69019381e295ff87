// Package datetime is the API's DateTime scalar: every value written in UTC with milliseconds
// (2026-12-01T20:58:52.123Z), fixed width, so that the strings sort as the times do; any RFC
// 3339 time read, with an error that says what is expected.
package datetime

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/99designs/gqlgen/graphql"
)

// Layout is how a DateTime is written.
const Layout = "2006-01-02T15:04:05.000Z"

// MarshalDateTime writes t (gqlgen's marshaler for the DateTime scalar).
func MarshalDateTime(t time.Time) graphql.Marshaler {
	if t.IsZero() {
		return graphql.Null
	}
	return graphql.WriterFunc(func(w io.Writer) { _, _ = io.WriteString(w, strconv.Quote(t.UTC().Format(Layout))) })
}

// UnmarshalDateTime reads an RFC 3339 time (gqlgen's unmarshaler for the DateTime scalar).
func UnmarshalDateTime(v any) (time.Time, error) {
	s, ok := v.(string)
	if !ok {
		return time.Time{}, errors.New("a DateTime is a string, an RFC 3339 time like 2026-12-01T20:58:52Z")
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		if len(s) > 40 {
			s = s[:40] + "…"
		}
		return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time like 2026-12-01T20:58:52Z", s)
	}
	return t, nil
}
