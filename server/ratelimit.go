package server

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"golang.org/x/time/rate"

	"github.com/teamaccess/teamaccess/auth"
)

// rateLimiter gives each API key a token bucket: a sustained rate and a burst. Only keys that
// authenticated get a bucket, so the map grows with the number of keys, not of callers.
type rateLimiter struct {
	limit rate.Limit
	burst int
	mu    sync.Mutex
	keys  map[string]*rate.Limiter
}

func newRateLimiter(perSecond float64, burst int) *rateLimiter {
	return &rateLimiter{limit: rate.Limit(perSecond), burst: burst, keys: map[string]*rate.Limiter{}}
}

// allow takes a token for the key, or says how long until one is free.
func (l *rateLimiter) allow(key string) (bool, time.Duration) {
	l.mu.Lock()
	lim, ok := l.keys[key]
	if !ok {
		lim = rate.NewLimiter(l.limit, l.burst)
		l.keys[key] = lim
	}
	l.mu.Unlock()
	now := time.Now()
	if lim.AllowN(now, 1) {
		return true, 0
	}
	r := lim.ReserveN(now, 1) // only to learn how long until a token is free
	d := r.DelayFrom(now)
	r.CancelAt(now)
	return false, d
}

// retrySeconds rounds a wait up to whole seconds, as Retry-After needs.
func retrySeconds(d time.Duration) int { return max(1, int(math.Ceil(d.Seconds()))) }

// limitRate answers 429 with Retry-After when an authenticated key exceeds its rate.
func (l *rateLimiter) limitRate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id, ok := auth.FromContext(r.Context()); ok {
			if ok, wait := l.allow(id.KeyID); !ok {
				s := retrySeconds(wait)
				w.Header().Set("Retry-After", strconv.Itoa(s))
				writeGraphQLError(w, http.StatusTooManyRequests, "RATE_LIMITED",
					fmt.Sprintf("rate limit exceeded: %g requests a second per API key, bursts of %d; retry in %d s", float64(l.limit), l.burst, s),
					map[string]any{"retryAfterSeconds": s})
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// websocketRate applies the same limit to each operation sent over a websocket, where there is
// no HTTP request to refuse.
type websocketRate struct{ l *rateLimiter }

var (
	_ graphql.HandlerExtension     = websocketRate{}
	_ graphql.OperationInterceptor = websocketRate{}
)

// ExtensionName implements graphql.HandlerExtension.
func (websocketRate) ExtensionName() string { return "WebsocketRateLimit" }

// Validate implements graphql.HandlerExtension.
func (websocketRate) Validate(graphql.ExecutableSchema) error { return nil }

// InterceptOperation implements graphql.OperationInterceptor.
func (e websocketRate) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	id, ok := auth.FromContext(ctx)
	if !overWebsocket(ctx) || !ok {
		return next(ctx)
	}
	if ok, wait := e.l.allow(id.KeyID); !ok {
		s := retrySeconds(wait)
		err := &gqlerror.Error{
			Message:    fmt.Sprintf("rate limit exceeded; retry in %d s", s),
			Extensions: map[string]any{"code": "RATE_LIMITED", "retryAfterSeconds": s},
		}
		return graphql.OneShot(&graphql.Response{Errors: gqlerror.List{err}})
	}
	return next(ctx)
}
