package server

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/felixge/httpsnoop"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"golang.org/x/time/rate"

	"github.com/teamaccess/teamaccess/auth"
	"github.com/teamaccess/teamaccess/resolvers"
)

// costLimiter limits each API key by what its requests cost, in the complexity limit's points,
// as Shopify's and GitHub's GraphQL APIs do: a key has a bucket of points that refills at a
// steady rate; an operation whose requested cost (known before it runs, from the complexity
// calculation) is more than the bucket holds is refused with RATE_LIMITED, and one that runs is
// charged its actual cost (fields answered, and 25 per store query made), which is lower when
// pages come back short. Every response says so, in extensions.cost and, over HTTP, in
// X-RateLimit-Limit, -Remaining, -Used and -Reset headers.
type costLimiter struct {
	restore float64 // points a second
	bucket  int
	mu      sync.Mutex
	keys    map[string]*rate.Limiter // one per API key that has called
}

func newCostLimiter(restorePerSecond float64, bucket int) *costLimiter {
	return &costLimiter{restore: restorePerSecond, bucket: bucket, keys: map[string]*rate.Limiter{}}
}

func (c *costLimiter) limiter(key string) *rate.Limiter {
	c.mu.Lock()
	defer c.mu.Unlock()
	lim, ok := c.keys[key]
	if !ok {
		lim = rate.NewLimiter(rate.Limit(c.restore), c.bucket)
		c.keys[key] = lim
	}
	return lim
}

// cost is what extensions.cost reports.
type cost struct {
	Requested   int     `json:"requested"`
	Actual      int     `json:"actual"`
	Limit       int     `json:"limit"`
	Remaining   int     `json:"remaining"`
	RestoreRate float64 `json:"restoreRate"`
}

// costReport carries an HTTP request's cost from the operation to its response headers.
type costReport struct {
	mu   sync.Mutex
	cost *cost
	at   time.Time
}

type costReportKey struct{}

var (
	_ graphql.HandlerExtension     = (*costLimiter)(nil)
	_ graphql.OperationInterceptor = (*costLimiter)(nil)
)

// ExtensionName implements graphql.HandlerExtension.
func (*costLimiter) ExtensionName() string { return "CostLimit" }

// Validate implements graphql.HandlerExtension.
func (*costLimiter) Validate(graphql.ExecutableSchema) error { return nil }

// InterceptOperation implements graphql.OperationInterceptor.
func (c *costLimiter) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	who, ok := auth.FromContext(ctx)
	stats := extension.GetComplexityStats(ctx)
	if !ok || stats == nil {
		return next(ctx)
	}
	lim, now := c.limiter(who.KeyID), time.Now()
	requested := stats.Complexity
	if avail := lim.TokensAt(now); float64(requested) > avail {
		wait := retrySeconds(time.Duration((float64(requested) - avail) / c.restore * float64(time.Second)))
		k := c.report(ctx, lim, now, requested, 0)
		return graphql.OneShot(&graphql.Response{
			Errors: gqlerror.List{{
				Message: "rate limit exceeded: this operation costs " + strconv.Itoa(requested) + " points and the API key has " +
					strconv.Itoa(k.Remaining) + " of " + strconv.Itoa(c.bucket) + " left, restored at " +
					strconv.FormatFloat(c.restore, 'f', -1, 64) + " a second; retry in " + strconv.Itoa(wait) + " s",
				Extensions: map[string]any{"code": "RATE_LIMITED", "retryAfterSeconds": wait},
			}},
			Extensions: map[string]any{"cost": k},
		})
	}
	subscription := graphql.GetOperationContext(ctx).Operation.Operation == ast.Subscription
	charged := false
	h := next(ctx)
	return func(ctx context.Context) *graphql.Response {
		resp := h(ctx)
		if resp == nil {
			return nil
		}
		var k *cost
		if !charged { // a query's one response, a subscription's first event: charged once
			charged = true
			actual := requested
			if !subscription {
				actual = min(requested, answeredFields(resp.Data)+resolvers.StoreCost*int(storeOperations(ctx)))
			}
			now := time.Now()
			lim.ReserveN(now, actual) // may leave the bucket below zero: the next request waits
			k = c.report(ctx, lim, now, requested, actual)
		}
		if k != nil {
			if resp.Extensions == nil {
				resp.Extensions = map[string]any{}
			}
			resp.Extensions["cost"] = k
		}
		return resp
	}
}

// report builds the cost for extensions and hands it to the HTTP response's headers.
func (c *costLimiter) report(ctx context.Context, lim *rate.Limiter, now time.Time, requested, actual int) *cost {
	k := &cost{Requested: requested, Actual: actual, Limit: c.bucket, RestoreRate: c.restore,
		Remaining: max(0, int(math.Floor(lim.TokensAt(now))))}
	if r, ok := ctx.Value(costReportKey{}).(*costReport); ok {
		r.mu.Lock()
		r.cost, r.at = k, now
		r.mu.Unlock()
	}
	return k
}

// answeredFields counts the fields in a response's data: the colons outside strings.
func answeredFields(data []byte) int {
	n, inString, escaped := 0, false, false
	for _, b := range data {
		switch {
		case escaped:
			escaped = false
		case inString && b == '\\':
			escaped = true
		case b == '"':
			inString = !inString
		case !inString && b == ':':
			n++
		}
	}
	return n
}

// headers sets X-RateLimit-* on HTTP responses from the cost their operation reported.
func (c *costLimiter) headers(next http.Handler) http.Handler {
	if c == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rep := &costReport{}
		once := sync.Once{}
		set := func() { once.Do(func() { c.setHeaders(w.Header(), rep) }) }
		hooks := httpsnoop.Hooks{
			WriteHeader: func(next httpsnoop.WriteHeaderFunc) httpsnoop.WriteHeaderFunc {
				return func(code int) { set(); next(code) }
			},
			Write: func(next httpsnoop.WriteFunc) httpsnoop.WriteFunc {
				return func(b []byte) (int, error) { set(); return next(b) }
			},
			Flush: func(next httpsnoop.FlushFunc) httpsnoop.FlushFunc {
				return func() { set(); next() }
			},
		}
		next.ServeHTTP(httpsnoop.Wrap(w, hooks), r.WithContext(context.WithValue(r.Context(), costReportKey{}, rep)))
	})
}

// setHeaders writes the cost the operation reported, if it did (a websocket's operations
// report theirs in their extensions only).
func (c *costLimiter) setHeaders(h http.Header, rep *costReport) {
	rep.mu.Lock()
	k, at := rep.cost, rep.at
	rep.mu.Unlock()
	if k == nil {
		return
	}
	full := at.Add(time.Duration(float64(k.Limit-k.Remaining) / c.restore * float64(time.Second)))
	h.Set("X-RateLimit-Limit", strconv.Itoa(k.Limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(k.Remaining))
	h.Set("X-RateLimit-Used", strconv.Itoa(k.Limit-k.Remaining))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(int64(math.Ceil(float64(full.UnixMilli())/1000)), 10))
}
