package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/teamaccess/teamaccess/auth"
	"github.com/teamaccess/teamaccess/errkind"
	"github.com/teamaccess/teamaccess/gqlws"
	"github.com/teamaccess/teamaccess/graph"
	"github.com/teamaccess/teamaccess/resolvers"
)

// Limits on GraphQL requests.
const (
	maxGraphQLBody     = 1 << 20 // bytes of an HTTP request body
	maxWebsocketFrame  = 1 << 20 // bytes of one websocket message
	maxQueryComplexity = 5000    // gqlgen's complexity: one per field, lists times their page size
	maxQueryDepth      = 12      // fields nested in fields, introspection aside
	// maxQueryTokens bounds a query document before it is validated (the approach of
	// graphql-js's maxTokens and graphql-armor): validation costs grow faster than the
	// document (N aliases of one field with different arguments make N²/2 conflicts), so a
	// document too long is refused by the parser, at a cost linear in its size. GraphiQL's
	// introspection query has about 300 tokens; this service's own queries under 200.
	maxQueryTokens = 3000
)

// newGraphQLHandler serves the schema over every transport clients use: GET and POST
// (application/json or application/graphql-response+json, as the Accept header asks), server-sent
// events, and websockets with both the graphql-transport-ws and the legacy graphql-ws
// subprotocols.
func newGraphQLHandler(r *resolvers.Resolver, d *deps) *handler.Server {
	log, m := d.log, d.metrics
	srv := handler.New(graph.NewExecutableSchema(resolvers.New(r)))
	var ws graphql.Transport = gqlws.Transport{
		// The connection keeps only the caller's identity from the upgrade request (when it
		// came with an Authorization header) and its Origin, for a key limited to origins.
		Context: func(r *http.Request) context.Context {
			ctx := withOrigin(context.Background(), r.Header.Get("Origin"))
			if id, ok := auth.FromContext(r.Context()); ok {
				token, _ := r.Context().Value(apiKeyKey{}).(string)
				return withAPIKey(auth.WithIdentity(ctx, id), token)
			}
			return ctx
		},
		Recheck: func(ctx context.Context) error {
			token, _ := ctx.Value(apiKeyKey{}).(string)
			if err := recheckKey(ctx, d.directory, token); err != nil {
				return &gqlws.CloseError{Code: 4403, Reason: errkind.Message(err), Err: err}
			}
			return nil
		},
		RecheckEvery: recheckEvery,
		InitFunc:     websocketInit(d.directory, d.limits),
		InitTimeout:  10 * time.Second,
		KeepAlive:    cmp.Or(d.keepAlive, 15*time.Second),
		ReadLimit:    maxWebsocketFrame,
		Hold: func() (func(), bool) { // open websockets count as requests in flight
			release, ok := d.streams.hold()
			if !ok {
				return nil, false
			}
			m.inFlight.Inc()
			return func() { m.inFlight.Dec(); release() }, true
		},
		Shutdown: d.streams.ctx,
		Log:      log,
	}
	if d.websocket != nil {
		ws = d.websocket
	}
	srv.AddTransport(ws)
	srv.AddTransport(transport.Options{})
	// An event stream sends a comment every 15 s, so that proxies and clients do not take a quiet
	// stream for a dead one. Before POST: an SSE request is a POST that prefers text/event-stream.
	srv.AddTransport(sseTransport{transport.SSE{KeepAlivePingInterval: cmp.Or(d.keepAlive, 15*time.Second)}})
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	srv.SetParserTokenLimit(maxQueryTokens)
	srv.SetValidationRulesFn(cappedRules)
	srv.Use(extension.Introspection{})
	srv.Use(extension.AutomaticPersistedQuery{Cache: lru.New[string](100)})
	srv.Use(depthLimit{max: maxQueryDepth, maxFields: maxQueryComplexity}) // before the complexity limit
	srv.Use(extension.FixedComplexityLimit(maxQueryComplexity))
	srv.Use(websocketRate{d.limits})
	srv.Use(subscriptionLimit{max: maxSubscriptionsPerConnection})
	srv.Use(responseMetrics{m})
	srv.Use(newStoreShares(cmp.Or(d.budget, requestBudget), cmp.Or(d.orgRunning, orgRunning())))
	if d.costs != nil {
		srv.Use(d.costs)
	}
	srv.Use(resolvers.Loaders{R: r, Wait: d.loaderWait})
	srv.SetErrorPresenter(presentError(log, m))
	srv.SetRecoverFunc(func(ctx context.Context, v any) error {
		log.Error("graphql resolver panicked", "panic", fmt.Sprint(v), "path", graphql.GetPath(ctx).String())
		return errInternal
	})
	return srv
}

// errInternal stands for any failure the caller cannot act on; the log has the details.
var errInternal = errors.New("internal error")

// presentError turns resolver errors into what callers see: errors that gqlgen or a resolver
// built for the caller (parse, validation, bad input) pass through with their code; anything
// else is logged and reported as INTERNAL without its text, which may name internals.
func presentError(log *slog.Logger, m *metrics) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		var gerr *gqlerror.Error
		if errors.As(err, &gerr) && gerr.Err == nil {
			code, _ := gerr.Extensions["code"].(string)
			if code == "" {
				// gqlgen's own refusals of a request that carry no code (an APQ hash that does not
				// match its query, an operation name not in the document): the caller's to fix.
				code = "BAD_USER_INPUT"
				ext := map[string]any{"code": code}
				for k, v := range gerr.Extensions {
					ext[k] = v
				}
				copied := *gerr
				copied.Extensions = ext
				gerr = &copied
			}
			m.gqlErrors.WithLabelValues(code).Inc()
			return gerr
		}
		if errors.As(err, &gerr) {
			if input, ok := inputError(ctx, gerr); ok {
				m.gqlErrors.WithLabelValues("BAD_USER_INPUT").Inc()
				return input
			}
		}
		path := graphql.GetPath(ctx)
		if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
			m.gqlErrors.WithLabelValues("TIMEOUT").Inc()
			return &gqlerror.Error{
				Message: "the request ran over its time budget and was stopped; ask for less (smaller pages, fewer fields) or split it",
				Path:    path, Extensions: map[string]any{"code": "TIMEOUT"},
			}
		}
		if !errors.Is(err, errInternal) {
			log.Error("graphql resolver failed", "path", path.String(), "err", err)
		}
		m.gqlErrors.WithLabelValues("INTERNAL").Inc()
		return &gqlerror.Error{
			Message:    "internal error: the server could not complete this field; try again, and report it if it persists",
			Path:       path,
			Extensions: map[string]any{"code": "INTERNAL"},
		}
	}
}

// inputError recognises an argument the scalars could not read (a DateTime that is not RFC 3339,
// a year 99999, an Int out of range): gqlgen reports it on the argument's input path, below the
// field's response path, where a resolver's error stands on the field's own path. The caller
// gets BAD_USER_INPUT naming the argument, with the reader's reason cut short (it may quote the
// input).
func inputError(ctx context.Context, gerr *gqlerror.Error) (*gqlerror.Error, bool) {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || gerr.Err == nil {
		return nil, false
	}
	field := fc.Path()
	if len(gerr.Path) <= len(field) {
		return nil, false
	}
	var names []string
	for _, el := range gerr.Path[len(field):] {
		switch v := el.(type) {
		case ast.PathName:
			names = append(names, string(v))
		case ast.PathIndex:
			names = append(names, fmt.Sprintf("[%d]", int(v)))
		}
	}
	reason := gerr.Err.Error()
	if len(reason) > 160 {
		reason = reason[:160] + "…"
	}
	return &gqlerror.Error{
		Message:    fmt.Sprintf("argument %s of %s: %s", strings.Join(names, "."), fc.Field.Name, reason),
		Path:       field,
		Extensions: map[string]any{"code": "BAD_USER_INPUT"},
	}, true
}

// responseMetrics counts GraphQL responses and times them.
type responseMetrics struct{ m *metrics }

var (
	_ graphql.HandlerExtension    = responseMetrics{}
	_ graphql.ResponseInterceptor = responseMetrics{}
)

// ExtensionName implements graphql.HandlerExtension.
func (responseMetrics) ExtensionName() string { return "ResponseMetrics" }

// Validate implements graphql.HandlerExtension.
func (responseMetrics) Validate(graphql.ExecutableSchema) error { return nil }

// InterceptResponse implements graphql.ResponseInterceptor.
func (e responseMetrics) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	start := time.Now()
	resp := next(ctx)
	op := "unknown"
	if graphql.HasOperationContext(ctx) {
		if oc := graphql.GetOperationContext(ctx); oc.Operation != nil {
			op = string(oc.Operation.Operation)
		}
	}
	outcome := "ok"
	if resp != nil && len(resp.Errors) > 0 {
		outcome = "error"
	}
	e.m.gqlResponses.WithLabelValues(op, outcome).Inc()
	e.m.gqlDuration.WithLabelValues(op).Observe(time.Since(start).Seconds())
	return resp
}
