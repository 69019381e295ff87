package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/felixge/httpsnoop"
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

// accepted is one media range of an Accept header: its quality and its place.
type accepted struct {
	q  float64
	at int
}

// parseAccept reads an Accept header (RFC 9110, 12.5.1) into each media type's best quality.
func parseAccept(accept string) map[string]accepted {
	out := map[string]accepted{}
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
		if old, ok := out[media]; !ok || q > old.q {
			out[media] = accepted{q, i}
		}
	}
	return out
}

// best returns the best of the types an Accept header lists (higher quality, then earlier), or
// none when it lists none of them with a quality above 0.
func best(a map[string]accepted, types ...string) (string, accepted) {
	var top string
	topA := accepted{q: 0, at: -1}
	for _, t := range types {
		c, ok := a[t]
		if ok && c.q > 0 && (c.q > topA.q || c.q == topA.q && c.at < topA.at) {
			top, topA = t, c
		}
	}
	return top, topA
}

// prefersEventStream says whether an Accept header gives text/event-stream a higher quality
// than every JSON type, or the same and comes first.
func prefersEventStream(accept string) bool {
	a := parseAccept(accept)
	stream, _ := best(a, "text/event-stream", "application/json", "application/graphql-response+json", "application/graphql+json")
	return stream == "text/event-stream"
}

// errorMediaType sets the media type a GraphQL client asked for on an answer that the edge
// (authentication, rate limits, body checks) may give before gqlgen would: Apollo Client reads
// the errors of a non-2xx answer only as application/graphql-response+json, and showed
// "Received status code 401" instead of "unknown API key". writeGraphQLError keeps it.
func errorMediaType(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if t, _ := best(parseAccept(r.Header.Get("Accept")), "application/json", graphqlResponseJSON); t == graphqlResponseJSON && r.Header.Get("Upgrade") == "" {
			w.Header().Set("Content-Type", graphqlResponseJSON)
		}
		next.ServeHTTP(w, r)
	})
}

const graphqlResponseJSON = "application/graphql-response+json"

// specAnswers brings gqlgen's answers to request errors in line with the GraphQL over HTTP
// specification, as its audit (clients/audit.mjs, graphql-http) checks: under the legacy
// application/json media type a document that does not parse or validate is answered 200
// (gqlgen answers 422), and under either media type a request error has no "data" entry (gqlgen
// writes "data": null). Streams and websockets pass untouched.
func specAnswers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "" || prefersEventStream(r.Header.Get("Accept")) {
			next.ServeHTTP(w, r)
			return
		}
		var held *bytes.Buffer // a request error's body, rewritten before it is sent
		status := 0
		hooks := httpsnoop.Hooks{
			WriteHeader: func(write httpsnoop.WriteHeaderFunc) httpsnoop.WriteHeaderFunc {
				return func(code int) {
					if status != 0 {
						return
					}
					status = code
					if code == http.StatusUnprocessableEntity || code == http.StatusBadRequest {
						held = &bytes.Buffer{}
						return
					}
					write(code)
				}
			},
			Write: func(write httpsnoop.WriteFunc) httpsnoop.WriteFunc {
				return func(b []byte) (int, error) {
					if held != nil {
						return held.Write(b)
					}
					return write(b)
				}
			},
		}
		next.ServeHTTP(httpsnoop.Wrap(w, hooks), r)
		if held == nil {
			return
		}
		body := held.Bytes()
		var fields map[string]json.RawMessage
		if json.Unmarshal(body, &fields) == nil {
			if d, ok := fields["data"]; ok && string(d) == "null" {
				delete(fields, "data")
				body, _ = json.Marshal(fields)
			}
		}
		if status == http.StatusUnprocessableEntity && strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
			status = http.StatusOK
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(status)
		_, _ = w.Write(body)
	})
}
