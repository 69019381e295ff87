package server

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/teamaccess/teamaccess/activities"
	"github.com/teamaccess/teamaccess/store"
)

func get(t testing.TB, u string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	require.NoError(t, err)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultTransport.RoundTrip(req) // no transparent gzip: see what was sent
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, body
}

func TestHTTPSurface(t *testing.T) {
	t.Parallel()
	svc := startService(t, filepath.Join(t.TempDir(), "data"))
	waitReady(t, svc.url)

	t.Run("healthz", func(t *testing.T) {
		resp, body := get(t, svc.url+"/healthz")
		require.Equal(t, 200, resp.StatusCode)
		require.JSONEq(t, `{"status":"ok"}`, string(body))
	})
	t.Run("GET query", func(t *testing.T) {
		resp, body := get(t, svc.url+"/graphql?query="+url.QueryEscape("{ serverInfo { storage { embedded } } }"), "Authorization", "Bearer "+svc.key)
		require.Equal(t, 200, resp.StatusCode)
		var out struct {
			Data       json.RawMessage     `json:"data"`
			Extensions struct{ Cost cost } `json:"extensions"`
		}
		require.NoError(t, json.Unmarshal(body, &out))
		require.JSONEq(t, `{"serverInfo":{"storage":{"embedded":true}}}`, string(out.Data))
		require.Equal(t, 10000, out.Extensions.Cost.Limit, "the default bucket")
		require.Equal(t, "10000", resp.Header.Get("X-RateLimit-Limit"))
	})
	t.Run("graphql-response+json", func(t *testing.T) {
		resp, r := postGraphQL(t, svc.url, svc.key, "{ serverInfo { nope } }", "Accept", "application/graphql-response+json")
		require.Equal(t, "application/graphql-response+json", resp.Header.Get("Content-Type"))
		require.Equal(t, 400, resp.StatusCode, "the GraphQL-over-HTTP spec's status for a validation error")
		require.Len(t, r.Errors, 1)
		require.Equal(t, "GRAPHQL_VALIDATION_FAILED", r.Errors[0].Extensions["code"])
		resp, _ = postGraphQL(t, svc.url, svc.key, "{ serverInfo { version } }", "Accept", "application/json")
		require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	})
	t.Run("body limit", func(t *testing.T) {
		big := `{"query":"{ serverInfo { version } }","extra":"` + strings.Repeat("x", maxGraphQLBody) + `"}`
		req, _ := http.NewRequest(http.MethodPost, svc.url+"/graphql", strings.NewReader(big))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+svc.key)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	})
	t.Run("graphiql", func(t *testing.T) {
		resp, body := get(t, svc.url+"/graphiql")
		require.Equal(t, 200, resp.StatusCode)
		require.Contains(t, string(body), `<script src="/graphiql/graphiql.min.js">`)
		resp, zipped := get(t, svc.url+"/graphiql/graphiql.min.js", "Accept-Encoding", "gzip, br")
		require.Equal(t, 200, resp.StatusCode)
		require.Equal(t, "gzip", resp.Header.Get("Content-Encoding"))
		zr, err := gzip.NewReader(bytes.NewReader(zipped))
		require.NoError(t, err)
		unzipped, err := io.ReadAll(zr)
		require.NoError(t, err)
		resp, plain := get(t, svc.url+"/graphiql/graphiql.min.js")
		require.Empty(t, resp.Header.Get("Content-Encoding"))
		require.Contains(t, resp.Header.Get("Content-Type"), "javascript")
		require.Equal(t, unzipped, plain)
		require.Contains(t, string(plain), "GraphiQL")
		resp, _ = get(t, svc.url+"/graphiql/nothing.js")
		require.Equal(t, 404, resp.StatusCode)
	})
	t.Run("admin page and unknown paths", func(t *testing.T) {
		resp, page := get(t, svc.url+"/")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Contains(t, string(page), "Team Access")
		require.Contains(t, string(page), "Authorize Team Access")
		resp, js := get(t, svc.url+"/admin/admin.js")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Contains(t, string(js), "teamAccessChanged")
		resp, body := get(t, svc.url+"/no/such/page")
		require.Equal(t, 404, resp.StatusCode)
		require.Contains(t, string(body), `"not found"`)
	})
	t.Run("metrics", func(t *testing.T) {
		postGraphQL(t, svc.url, svc.key, "{ serverInfo { version } }")
		resp, body := get(t, svc.url+"/metrics")
		require.Equal(t, 200, resp.StatusCode)
		for _, series := range []string{
			`teamaccess_http_requests_total{code="200",method="POST",route="/graphql"}`,
			`teamaccess_http_requests_total{code="413",method="POST",route="/graphql"}`,
			`teamaccess_http_request_duration_seconds_bucket{method="GET",route="GET /healthz",le="+Inf"}`,
			`teamaccess_graphql_responses_total{operation="query",outcome="ok"}`,
			`teamaccess_graphql_errors_total{code="GRAPHQL_VALIDATION_FAILED"} 1`,
			`go_goroutines`,
			`process_resident_memory_bytes`,
		} {
			require.Contains(t, string(body), series)
		}
		// A live activityChanged subscription shows, and its websocket counts as in flight.
		ctx := wsContext(t)
		c := subscribeWS(t, ctx, svc.url, svc.key, "graphql-transport-ws", "")
		require.Eventually(t, func() bool {
			_, body := get(t, svc.url+"/metrics")
			return strings.Contains(string(body), "\nteamaccess_activity_subscribers 1\n") &&
				strings.Contains(string(body), "\nteamaccess_http_requests_in_flight 2\n")
		}, 5*time.Second, 10*time.Millisecond)
		_ = c.Close(websocket.StatusNormalClosure, "")
		require.Eventually(t, func() bool {
			_, body := get(t, svc.url+"/metrics")
			return strings.Contains(string(body), "\nteamaccess_activity_subscribers 0\n") &&
				strings.Contains(string(body), "\nteamaccess_http_requests_in_flight 1\n")
		}, 5*time.Second, 10*time.Millisecond, "gone once the client closes")
	})
	t.Run("access log", func(t *testing.T) {
		var found bool
		for _, e := range svc.logs.entries() {
			if e["msg"] == "http request" && e["route"] == "GET /healthz" && e["status"] == float64(200) {
				found = true
			}
		}
		require.True(t, found, svc.logs.String())
	})
}

func TestReadyzFailsWhileTheStoreIsDown(t *testing.T) {
	t.Parallel()
	st, err := store.Open(t.Context(), store.Options{DataDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	h := handleReadyz(st, func() bool { return false })
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	require.Equal(t, 200, rec.Code)

	require.NoError(t, st.Close(context.Background()))
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	require.Equal(t, 503, rec.Code)
	require.Contains(t, rec.Body.String(), "database unreachable")

	rec = httptest.NewRecorder()
	handleReadyz(st, func() bool { return true }).ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	require.Equal(t, 503, rec.Code, "a draining server is not ready")
}

func TestInternalErrorsDoNotReachCallers(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	present := presentError(slog.New(slog.NewJSONHandler(&logs, nil)), newMetrics())
	ctx := graphql.WithResponseContext(context.Background(), graphql.DefaultErrorPresenter, nil)

	got := present(ctx, errors.New("server selection error: 10.1.2.3:27017 refused"))
	require.Equal(t, "INTERNAL", got.Extensions["code"])
	require.NotContains(t, got.Message, "10.1.2.3")
	require.Contains(t, logs.String(), "10.1.2.3", "the operator still sees it")

	mine := &gqlerror.Error{Message: "first must be at most 100", Extensions: map[string]any{"code": "BAD_USER_INPUT"}}
	require.Equal(t, mine, present(ctx, mine), "errors meant for the caller pass through")
}

func TestPagesCannotBeFramedAndTalkOnlyToThisOrigin(t *testing.T) {
	t.Parallel()
	e := newActivityEnv(t, activities.HubOptions{})
	for _, path := range []string{"/", "/graphiql"} {
		resp, err := http.Get(e.url + path)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		csp := resp.Header.Get("Content-Security-Policy")
		for _, want := range []string{"frame-ancestors 'none'", "connect-src 'self';", "script-src 'self';", "object-src 'none'"} {
			require.Contains(t, csp, want, path)
		}
		require.Equal(t, "DENY", resp.Header.Get("X-Frame-Options"), path)
		require.Equal(t, "no-referrer", resp.Header.Get("Referrer-Policy"), path)
		require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"), path)
	}
	resp, _ := postGraphQL(t, e.url, e.key, `{ viewer { organization { id } } }`)
	require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
}
