package server

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql/handler/transport"

	"github.com/teamaccess/teamaccess/auth"
	"github.com/teamaccess/teamaccess/errkind"
)

// authenticator checks an API key.
type authenticator interface {
	Authenticate(ctx context.Context, token string) (auth.Identity, error)
}

// requireAPIKey admits only requests with a valid `Authorization: Bearer <key>`. A websocket
// upgrade without the header is let through: its key comes in the connection_init payload
// (see websocketInit). Rejections are 401 with a GraphQL-shaped JSON error and nothing else
// happens.
func requireAPIKey(a authenticator, log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		header := r.Header.Get("Authorization")
		if header == "" && r.Header.Get("Upgrade") != "" {
			next.ServeHTTP(w, r)
			return
		}
		if header == "" {
			unauthorized(w, "", "missing API key: send the header Authorization: Bearer <API key>")
			return
		}
		token, ok := bearer(header)
		if !ok {
			unauthorized(w, "invalid_request", "malformed Authorization header: expected Bearer <API key>")
			return
		}
		id, err := a.Authenticate(r.Context(), token)
		if errors.Is(err, auth.ErrUnauthenticated) {
			unauthorized(w, "invalid_token", errkind.Message(err))
			return
		}
		if err != nil {
			log.Error("authenticating a request", "err", err)
			w.Header().Set("Retry-After", "5")
			writeGraphQLError(w, http.StatusServiceUnavailable, "INTERNAL", "cannot check API keys right now; try again shortly", nil)
			return
		}
		if err := id.CheckOrigin(r.Header.Get("Origin")); err != nil {
			writeGraphQLError(w, http.StatusForbidden, "FORBIDDEN", errkind.Message(err), nil)
			return
		}
		ctx := withAPIKey(auth.WithIdentity(r.Context(), id), token)
		if streaming(r) {
			// An event stream lasts as long as its client wants: it ends within recheckEvery
			// of its key being revoked or expiring.
			var stop func()
			ctx, stop = watchKey(ctx, a, token, log)
			defer stop()
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// recheckEvery is how often a long-lived connection's key is checked again (the websocket
// transport's Recheck, an event stream's watch): a revocation through the API ends them within
// it; one from the command line or another process within it and the 5 s of the key cache.
const recheckEvery = 2 * time.Second

type apiKeyKey struct{}

// withAPIKey keeps the key a connection authenticated with, for checking it again later.
func withAPIKey(ctx context.Context, token string) context.Context {
	return context.WithValue(ctx, apiKeyKey{}, token)
}

// recheckKey says whether the key of a connection still holds: an error when it was revoked or
// has expired, nil otherwise (a store that does not answer is no reason to end the connection).
func recheckKey(ctx context.Context, a authenticator, token string) error {
	if token == "" {
		return nil
	}
	if _, err := a.Authenticate(ctx, token); errors.Is(err, auth.ErrUnauthenticated) {
		return err
	}
	return nil
}

// streaming reports a request for an event stream (SSE), which stays open.
func streaming(r *http.Request) bool { return prefersEventStream(r.Header.Get("Accept")) }

// watchKey returns ctx ended as soon as the key is found revoked or expired, checked every
// recheckEvery by a timer (no goroutine waits for it); stop ends the watch.
func watchKey(ctx context.Context, a authenticator, token string, log *slog.Logger) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	var t *time.Timer
	var mu sync.Mutex
	mu.Lock()
	defer mu.Unlock()
	t = time.AfterFunc(recheckEvery, func() {
		if err := recheckKey(ctx, a, token); err != nil {
			log.Info("event stream ended: its API key no longer holds", "reason", errkind.Message(err))
			cancel(err)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if ctx.Err() == nil {
			t.Reset(recheckEvery)
		}
	})
	return ctx, func() {
		mu.Lock()
		t.Stop()
		mu.Unlock()
		cancel(nil)
	}
}

// bearer extracts the token of a Bearer Authorization header (RFC 6750; the scheme is
// case-insensitive).
func bearer(header string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" || strings.ContainsAny(token, " \t") {
		return "", false
	}
	return token, true
}

func unauthorized(w http.ResponseWriter, oauthErr, msg string) {
	challenge := `Bearer realm="teamaccess"`
	if oauthErr != "" {
		challenge += `, error="` + oauthErr + `"`
	}
	w.Header().Set("WWW-Authenticate", challenge)
	writeGraphQLError(w, http.StatusUnauthorized, "UNAUTHENTICATED", msg, nil)
}

// writeGraphQLError answers with a GraphQL-shaped error body, so that GraphQL clients show it.
func writeGraphQLError(w http.ResponseWriter, status int, code, msg string, ext map[string]any) {
	extensions := map[string]any{"code": code}
	for k, v := range ext {
		extensions[k] = v
	}
	body := map[string]any{"errors": []map[string]any{{"message": msg, "extensions": extensions}}}
	if w.Header().Get("Content-Type") == graphqlResponseJSON { // as the client asked (errorMediaType)
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(body)
		return
	}
	writeJSON(w, status, body)
}

// websocketInit authenticates a websocket from its connection_init payload, unless the upgrade
// request carried a valid Authorization header already. The key may be sent as
// {"Authorization": "Bearer <key>"} (or lower-case), or {"apiKey": "<key>"}. A refusal closes
// the socket with 4403 Forbidden, as graphql-transport-ws prescribes.
func websocketInit(a authenticator, limits *rateLimiter) func(context.Context, transport.InitPayload) (context.Context, error) {
	return func(ctx context.Context, p transport.InitPayload) (context.Context, error) {
		ctx = withSubscriptionCount(withWebsocket(ctx))
		if _, ok := auth.FromContext(ctx); ok {
			return ctx, nil
		}
		token := p.GetString("apiKey")
		if token == "" {
			if t, ok := bearer(p.Authorization()); ok {
				token = t
			} else {
				token = strings.TrimSpace(p.Authorization())
			}
		}
		refuse := func(msg string) (context.Context, error) { // closed with 4403 Forbidden
			return nil, errors.New(msg)
		}
		if token == "" {
			return refuse("missing API key: send {\"Authorization\": \"Bearer <API key>\"} in connection_init")
		}
		id, err := a.Authenticate(ctx, token)
		if err != nil {
			if errors.Is(err, auth.ErrUnauthenticated) {
				return refuse(errkind.Message(err))
			}
			return refuse("cannot check API keys right now; try again shortly")
		}
		if err := id.CheckOrigin(originOf(ctx)); err != nil {
			return refuse(errkind.Message(err))
		}
		if ok, wait := limits.allow(id.KeyID); !ok {
			return refuse("rate limit exceeded; retry in " + strconv.Itoa(retrySeconds(wait)) + " s")
		}
		return withAPIKey(auth.WithIdentity(ctx, id), token), nil
	}
}

type originKey struct{}

// withOrigin keeps a websocket's upgrade request's Origin header, for a key limited to origins.
func withOrigin(ctx context.Context, origin string) context.Context {
	return context.WithValue(ctx, originKey{}, origin)
}

func originOf(ctx context.Context) string {
	o, _ := ctx.Value(originKey{}).(string)
	return o
}

type websocketKey struct{}

// withWebsocket marks a context as a websocket connection's.
func withWebsocket(ctx context.Context) context.Context {
	return context.WithValue(ctx, websocketKey{}, true)
}

// overWebsocket reports whether an operation arrived over a websocket.
func overWebsocket(ctx context.Context) bool {
	v, _ := ctx.Value(websocketKey{}).(bool)
	return v
}
