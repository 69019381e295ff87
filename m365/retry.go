package m365

import (
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	khttp "github.com/microsoft/kiota-http-go"
)

// retryHandler retries Graph requests that were throttled or met an unavailable service (429,
// 503, 504), waiting exactly what Retry-After says. It takes the place of kiota's RetryHandler,
// which parses the header as a float and then truncates it to whole seconds
// (time.Duration(2.128) * time.Second is 2 s, and 0.5 is no wait at all), so it retried early
// and was throttled again. Graph sends fractional values (concepts/throttling.md's sample had
// "2.128", microsoft-graph-docs-contrib issue 2023; microsoft/dotnet issue 955 reports "2.542").
// Without the header it backs off exponentially, as kiota does.
type retryHandler struct {
	maxRetries int           // 3, kiota's default
	maxDelay   time.Duration // the waits of one request add up to at most this: 180 s, kiota's cap
	base       time.Duration // first wait without Retry-After: 3 s, kiota's default
}

var _ khttp.Middleware = retryHandler{}

func newRetryHandler() retryHandler {
	return retryHandler{maxRetries: 3, maxDelay: 180 * time.Second, base: 3 * time.Second}
}

// Intercept implements khttp.Middleware.
func (h retryHandler) Intercept(p khttp.Pipeline, i int, req *http.Request) (*http.Response, error) {
	var waited time.Duration
	for attempt := 0; ; attempt++ {
		resp, err := p.Next(req, i)
		if err != nil || !retriable(resp.StatusCode) || attempt >= h.maxRetries || !replayable(req) {
			return resp, err
		}
		wait := h.delay(resp.Header.Get("Retry-After"), attempt)
		if waited+wait > h.maxDelay {
			return resp, nil
		}
		waited += wait
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		_ = resp.Body.Close()
		t := time.NewTimer(wait)
		select {
		case <-req.Context().Done():
			t.Stop()
			return nil, req.Context().Err()
		case <-t.C:
		}
		if req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			req.Body = body
		}
		req.Header.Set("Retry-Attempt", strconv.Itoa(attempt+1))
	}
}

// delay is how long to wait before retry number attempt+1: Retry-After's seconds, fractions
// kept, or its HTTP date; without one, base doubling.
func (h retryHandler) delay(retryAfter string, attempt int) time.Duration {
	if v := strings.TrimSpace(retryAfter); v != "" {
		if secs, err := strconv.ParseFloat(v, 64); err == nil && secs >= 0 && !math.IsInf(secs, 0) {
			return min(time.Duration(secs*float64(time.Second)), h.maxDelay+time.Second)
		}
		if at, err := http.ParseTime(v); err == nil {
			return max(0, time.Until(at))
		}
	}
	return h.base << attempt
}

func retriable(status int) bool {
	return status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout
}

// replayable: a request without a body, or one whose body can be had again.
func replayable(req *http.Request) bool {
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

// graphMiddlewares are the Graph SDK's default middlewares with retryHandler in place of kiota's,
// and without its compression handler. That one gzips every request body: the SDKs' design
// says some of Graph does not take them (415, or 400 "Unable to read JSON request payload":
// msgraph-sdk-design, middleware/CompressionHandler.md), and kiota-http-go falls back to a plain
// body on 415 only, so a 415 doubles a subscription write (the tenant's budget is 1,000 in
// 20 s) and a 400 fails it. The bodies (subscriptions, $batch) are a few hundred bytes, and a
// gzip writer for each cost 0.64 ms of CPU: 4% of a process's CPU in the 300-mailbox
// backfill. Responses are still asked for and taken compressed (net/http's transport).
func graphMiddlewares(all []khttp.Middleware) []khttp.Middleware {
	out := make([]khttp.Middleware, 0, len(all))
	for _, m := range all {
		switch m.(type) {
		case *khttp.RetryHandler:
			m = newRetryHandler()
		case *khttp.CompressionHandler:
			continue
		}
		out = append(out, m)
	}
	return out
}
