package server

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
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
