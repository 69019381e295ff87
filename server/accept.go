package server

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql/handler/transport"
)

// sseTransport is gqlgen's SSE transport chosen only when the client prefers an event stream:
// gqlgen's own takes any request whose Accept merely lists text/event-stream, and urql's default
// Accept lists it after the JSON types, so urql's queries got a stream its fetch could not read.
type sseTransport struct{ transport.SSE }

// Supports implements graphql.Transport.
func (t sseTransport) Supports(r *http.Request) bool {
	return prefersEventStream(r.Header.Get("Accept")) && t.SSE.Supports(r)
}

// refuseSingleConnectionSSE answers graphql-sse's "single connection mode" with what to do
// instead: that mode reserves a stream with PUT and then sends operations that refer to it by a
// token (X-GraphQL-Event-Stream-Token), which this server does not keep; the default "distinct
// connections mode" (one stream per operation, HTTP/2 multiplexes them) works.
func refuseSingleConnectionSSE(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, hasToken := r.URL.Query()["token"]
		if r.Method == http.MethodPut || r.Header.Get("X-GraphQL-Event-Stream-Token") != "" || (hasToken && r.Method != http.MethodPost) {
			w.Header().Set("Allow", "GET, POST, OPTIONS")
			writeGraphQLError(w, http.StatusMethodNotAllowed, "UNSUPPORTED",
				"graphql-sse's single connection mode is not supported: create the client with singleConnection: false (the default), one event stream per subscription", nil)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// jsonTypes are the answers a GraphQL client accepts besides an event stream.
var jsonTypes = map[string]bool{"application/json": true, "application/graphql-response+json": true, "application/graphql+json": true}

// prefersEventStream reads an Accept header (RFC 9110, 12.5.1): whether text/event-stream has a
// higher quality than every JSON type, or the same and comes first.
func prefersEventStream(accept string) bool {
	streamQ, jsonQ := -1.0, -1.0
	streamAt, jsonAt := -1, -1
	for i, part := range strings.Split(accept, ",") {
		media, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		media = strings.ToLower(strings.TrimSpace(media))
		q := 1.0
		for p := range strings.SplitSeq(params, ";") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(p), "q="); ok {
				if f, err := strconv.ParseFloat(v, 64); err == nil {
					q = f
				}
			}
		}
		switch {
		case media == "text/event-stream" && q > streamQ:
			streamQ, streamAt = q, i
		case jsonTypes[media] && q > jsonQ:
			jsonQ, jsonAt = q, i
		}
	}
	if streamQ <= 0 {
		return false
	}
	return streamQ > jsonQ || streamQ == jsonQ && streamAt < jsonAt
}
