package server

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/felixge/httpsnoop"
)

// instrument wraps a route's handler with its access log line and its metrics. The route
// pattern, not the path, labels the metrics, so their number stays bounded.
func instrument(log *slog.Logger, m *metrics, route string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.inFlight.Inc()
		defer m.inFlight.Dec()
		start := time.Now()
		// Every answer is what its Content-Type says.
		w.Header().Set("X-Content-Type-Options", "nosniff")
		upgraded := false // a websocket takes the connection over; record it as 101
		hooks := httpsnoop.Hooks{Hijack: func(next httpsnoop.HijackFunc) httpsnoop.HijackFunc {
			return func() (net.Conn, *bufio.ReadWriter, error) {
				upgraded = true
				return next()
			}
		}}
		got := httpsnoop.CaptureMetricsFn(w, func(w http.ResponseWriter) {
			h.ServeHTTP(httpsnoop.Wrap(w, hooks), r)
		})
		if upgraded {
			got.Code = http.StatusSwitchingProtocols
		}
		method := methodLabel(r.Method)
		m.observeRequest(route, method, got.Code, got.Duration)
		level := slog.LevelInfo
		if got.Code >= 500 {
			level = slog.LevelWarn
		}
		log.LogAttrs(r.Context(), level, "http request",
			slog.String("method", method),
			slog.String("route", route),
			slog.String("path", r.URL.Path),
			slog.Int("status", got.Code),
			slog.Int64("bytes", got.Written),
			slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
			slog.String("remote", r.RemoteAddr),
		)
	})
}

// methodLabel keeps the method label to the standard methods.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return m
	}
	return "OTHER"
}

// limitBody refuses request bodies over max bytes: at once when Content-Length says so, and
// when reading passes the limit otherwise.
func limitBody(max int64, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > max {
			writeJSON(w, http.StatusRequestEntityTooLarge, map[string]any{
				"errors": []map[string]any{{
					"message":    "request body too large",
					"extensions": map[string]any{"code": "BAD_USER_INPUT", "limitBytes": max},
				}},
			})
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, max)
		h.ServeHTTP(w, r)
	})
}

// oneJSONObject refuses a JSON POST whose body is not exactly one JSON value (gqlgen's decoder
// reads the first and ignores what follows: "{…}{…}" or "{…}garbage" would run the first), with
// a 400 in GraphQL's error shape; the body is read once, within limitBody's bound, and handed on.
func oneJSONObject(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			h.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(r.Body)
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge):
			writeGraphQLError(w, http.StatusRequestEntityTooLarge, "BAD_USER_INPUT", "request body too large", map[string]any{"limitBytes": tooLarge.Limit})
			return
		case err != nil:
			writeGraphQLError(w, http.StatusBadRequest, "BAD_USER_INPUT", "the request body could not be read", nil)
			return
		case !json.Valid(body):
			writeGraphQLError(w, http.StatusBadRequest, "BAD_USER_INPUT", "the request body is not one JSON value (nothing may follow it)", nil)
			return
		case !hasQuery(body):
			writeGraphQLError(w, http.StatusBadRequest, "BAD_USER_INPUT", `the request has no query: send {"query": "…", "variables": {…}}`, nil)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		h.ServeHTTP(w, r)
	})
}

// hasQuery says whether a GraphQL request body has a query string, or names a persisted one.
func hasQuery(body []byte) bool {
	var req struct {
		Query      any `json:"query"`
		Extensions struct {
			PersistedQuery any `json:"persistedQuery"`
		} `json:"extensions"`
	}
	if json.Unmarshal(body, &req) != nil {
		return false
	}
	q, ok := req.Query.(string)
	return ok && q != "" || req.Query == nil && req.Extensions.PersistedQuery != nil
}
