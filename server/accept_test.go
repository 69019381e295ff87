package server

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/teamaccess/teamaccess/activities"
)

// The Accept headers clients send: urql's default lists the JSON types first and gets JSON;
// graphql-sse's and a plain EventSource-style client ask for a stream and get one.
func TestEventStreamOnlyWhenPreferred(t *testing.T) {
	t.Parallel()
	for accept, want := range map[string]bool{
		"application/graphql-response+json, application/graphql+json, application/json, text/event-stream, multipart/mixed": false, // urql
		"text/event-stream":                         true, // graphql-sse
		"text/event-stream, application/json":       true,
		"application/json;q=0.5, text/event-stream": true,
		"application/json, text/event-stream;q=0.9": false,
		"text/event-stream;q=0":                     false,
		"":                                          false,
		"*/*":                                       false,
	} {
		if got := prefersEventStream(accept); got != want {
			t.Errorf("prefersEventStream(%q) = %v, want %v", accept, got, want)
		}
	}
}

// Over HTTP: a query with urql's default Accept is answered in JSON, not as an event stream.
func TestUrqlsDefaultAcceptGetsJSON(t *testing.T) {
	t.Parallel()
	p := newInProcess(t)
	req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(`{"query":"{ apiKeys { id } }"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/graphql-response+json, application/graphql+json, application/json, text/event-stream, multipart/mixed")
	req.Header.Set("Authorization", "Bearer "+p.key)
	rec := httptest.NewRecorder()
	p.handler.ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code)
	require.NotContains(t, rec.Header().Get("Content-Type"), "text/event-stream")
	require.Contains(t, rec.Header().Get("Content-Type"), "json")
	require.Contains(t, rec.Body.String(), `"apiKeys"`)
}

func TestAQuietEventStreamIsKeptAliveWithComments(t *testing.T) {
	t.Parallel()
	e := newActivityEnv(t, activities.HubOptions{Interval: 10 * time.Millisecond}, func(d *deps) { d.keepAlive = 50 * time.Millisecond })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp := openEventStream(t, ctx, e.url, e.key, changedSub, nil)
	sc := bufio.NewScanner(resp.Body)
	pings := 0
	for pings < 3 && sc.Scan() { // nothing changes: only the keep-alive comments come
		if strings.HasPrefix(sc.Text(), ":") {
			pings++
		}
	}
	require.Equal(t, 3, pings)
}

func TestSingleConnectionModeOfGraphQLSSEIsRefusedSayingWhatWorks(t *testing.T) {
	t.Parallel()
	e := newActivityEnv(t, activities.HubOptions{})
	for method, url := range map[string]string{
		http.MethodPut: e.url + "/graphql",           // reserving a stream
		http.MethodGet: e.url + "/graphql?token=abc", // an operation on the reserved stream
	} {
		req, err := http.NewRequest(method, url, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+e.key)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		var out gqlResponse
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
		resp.Body.Close()
		require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
		require.Equal(t, "UNSUPPORTED", out.Errors[0].Extensions["code"])
		require.Contains(t, out.Errors[0].Message, "singleConnection: false")
	}
}
