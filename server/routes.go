package server

import (
	"net/http"

	"github.com/rs/cors"

	"github.com/teamaccess/teamaccess/subscriptions"
)

// addRoutes lists every route the server answers. Each is instrumented under its pattern.
func addRoutes(mux *http.ServeMux, d *deps) {
	handle := func(pattern string, h http.Handler) {
		mux.Handle(pattern, instrument(d.log, d.metrics, pattern, h))
	}
	handle("/graphql", crossOrigin.Handler(errorMediaType(refuseSingleConnectionSSE(specAnswers(limitBody(maxGraphQLBody, oneJSONObject(
		requireAPIKey(d.directory, d.log, d.limits.limitRate(d.costs.headers(d.streams.track(d.graphql)))))))))))
	handle("GET /graphiql", handleGraphiQL())
	handle("GET /graphiql/{file}", handleGraphiQLAsset())
	handle("GET /healthz", handleHealthz())
	handle("GET /readyz", handleReadyz(d.store, d.streams.draining))
	handle("GET /metrics", d.metrics.handler())
	handle("GET /consent/callback", handleConsentCallback(d.access, d.log))
	if d.subs != nil {
		// Graph is not an API key holder: these answer anyone, and trust only what matches a
		// subscription's clientState.
		handle(subscriptions.NotificationPath, handleGraphWebhook(d.subs, d.log))
		handle(subscriptions.LifecyclePath, handleGraphWebhook(d.subs, d.log))
	}
	handle("GET /{$}", handleAdminPage())
	handle("GET /admin/{file}", handleAdminAsset())
	handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "not found", "path": r.URL.Path})
	}))
}

// crossOrigin lets pages on any origin call /graphql, as websockets from any origin may
// connect: callers authenticate with a bearer API key, never a cookie, so a page gains nothing
// from being on another origin that a script of its own could not do. A key a browser holds can
// be limited to its frontend's origins (createApiKey's allowedOrigins), over HTTP and websockets
// alike. The rate limit's headers are exposed to scripts.
var crossOrigin = cors.New(cors.Options{
	AllowedOrigins: []string{"*"},
	AllowedMethods: []string{http.MethodGet, http.MethodPost},
	AllowedHeaders: []string{"*"},
	ExposedHeaders: []string{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Used", "X-RateLimit-Reset", "Retry-After", "WWW-Authenticate"},
	MaxAge:         600,
})
