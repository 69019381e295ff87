package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/99designs/gqlgen/complexity"
	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/stretchr/testify/require"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/teamaccess/teamaccess/activities"
	"github.com/teamaccess/teamaccess/auth"
	"github.com/teamaccess/teamaccess/graph"
	"github.com/teamaccess/teamaccess/resolvers"
	"github.com/teamaccess/teamaccess/store"
)

// countingDirectory is the real directory, counting the resolvers' calls to list keys.
type countingDirectory struct {
	resolvers.Directory
	listed atomic.Int32
}

func (c *countingDirectory) Keys(ctx context.Context, orgID string) ([]auth.Key, error) {
	c.listed.Add(1)
	return c.Directory.Keys(ctx, orgID)
}

// inProcess is the /graphql handler chain with a real store and directory, without a listener.
type inProcess struct {
	handler http.Handler // with authentication and rate limiting
	bare    http.Handler // the GraphQL handler alone
	dirReal *auth.Directory
	key     string
	dir     *countingDirectory
}

func newInProcess(t testing.TB) *inProcess {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	st, err := store.Open(context.Background(), store.Options{DataDir: t.TempDir(), Logger: log})
	require.NoError(t, err)
	t.Cleanup(func() { st.Close(context.Background()) })
	dir := auth.NewDirectory(st)
	boot, err := dir.Bootstrap(context.Background())
	require.NoError(t, err)
	d := &deps{log: log, store: st, directory: dir, metrics: newMetrics(), streams: newStreams(), limits: newRateLimiter(1e6, 1e6)}
	counting := &countingDirectory{Directory: dir}
	d.graphql = newGraphQLHandler(&resolvers.Resolver{Directory: counting, DB: storageDescriber{st}, Version: "test"}, d)
	return &inProcess{handler: requireAPIKey(dir, log, d.limits.limitRate(d.graphql)), bare: d.graphql, dirReal: dir, key: boot.Secret, dir: counting}
}

func (p *inProcess) post(t testing.TB, query string, withKey bool) (int, gqlResponse) {
	body, _ := json.Marshal(map[string]string{"query": query})
	req := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if withKey {
		req.Header.Set("Authorization", "Bearer "+p.key)
	}
	rec := httptest.NewRecorder()
	p.handler.ServeHTTP(rec, req)
	var r gqlResponse
	_ = json.Unmarshal(rec.Body.Bytes(), &r)
	return rec.Code, r
}

func TestCostlyQueriesAreRefusedBeforeAnyResolverRuns(t *testing.T) {
	t.Parallel()
	p := newInProcess(t)
	var q strings.Builder
	q.WriteString("{")
	for _, alias := range []string{"a", "b", "c", "d", "e", "f"} {
		q.WriteString(alias + `: apiKeys { id name role status prefix createdAt expiresAt revokedAt lastUsedAt } `)
	}
	q.WriteString("}")
	_, r := p.post(t, q.String(), true)
	require.Equal(t, "null", string(r.Data))
	require.Len(t, r.Errors, 1)
	require.Equal(t, "COMPLEXITY_LIMIT_EXCEEDED", r.Errors[0].Extensions["code"])
	require.Contains(t, r.Errors[0].Message, "exceeds the limit of 5000")
	require.Zero(t, p.dir.listed.Load(), "no resolver ran")

	code, r := p.post(t, `{ apiKeys { id } }`, true)
	require.Equal(t, 200, code)
	require.Empty(t, r.Errors)
	require.EqualValues(t, 1, p.dir.listed.Load(), "an affordable query runs")
}

// The schema has no recursive path yet (mailboxes and activities bring them), so the depth
// rule is exercised on a schema that has one.
func TestDepthLimit(t *testing.T) {
	t.Parallel()
	schema := gqlparser.MustLoadSchema(&ast.Source{Input: `type Query { t: T } type T { t: T n: Int }`})
	nested := func(depth int, viaFragment bool) string {
		inner := "n" // depth: the outer t, depth-2 nested ts, and n
		for range depth - 2 {
			inner = "t { " + inner + " }"
		}
		if viaFragment {
			return "query { ...F } fragment F on Query { t { " + inner + " } }" // fragments add no depth
		}
		return "{ t { " + inner + " } }"
	}
	limit := depthLimit{max: 12, maxFields: 5000}
	for _, tc := range []struct {
		depth    int
		fragment bool
		ok       bool
	}{{11, false, true}, {12, false, true}, {13, false, false}, {13, true, false}, {40, false, false}} {
		doc, errs := gqlparser.LoadQueryWithRules(schema, nested(tc.depth, tc.fragment), nil)
		require.Empty(t, errs)
		err := limit.MutateOperationContext(context.Background(), &graphql.OperationContext{Operation: doc.Operations[0]})
		if tc.ok {
			require.Nil(t, err, "depth %d", tc.depth)
			continue
		}
		require.NotNil(t, err, "depth %d", tc.depth)
		require.Equal(t, "DEPTH_LIMIT_EXCEEDED", err.Extensions["reason"])
	}
	deepIntrospection := "{ __schema { types { fields { type { name " + strings.Repeat("ofType { name ", 12) + strings.Repeat("} ", 12) + "} } } } }"
	introspection, errs := gqlparser.LoadQueryWithRules(schema, deepIntrospection, nil)
	require.Empty(t, errs)
	require.Nil(t, limit.MutateOperationContext(context.Background(), &graphql.OperationContext{Operation: introspection.Operations[0]}),
		"GraphiQL's introspection is not limited")
}

// The cost of authentication on a trivial query, in one run: the GraphQL handler alone (with the
// identity put in the context directly), behind the API key middleware, and behind it and the
// per-key rate limiter as served. Compare the ns/op figures.
func BenchmarkAuthenticationOverhead(b *testing.B) {
	p := newInProcess(b)
	query := `{ serverInfo { version } }`
	b.Run("without-auth", func(b *testing.B) {
		benchPost(b, unwrapForBench(p), query, "")
	})
	b.Run("with-auth", func(b *testing.B) {
		benchPost(b, requireAPIKey(p.dirReal, slog.New(slog.DiscardHandler), p.bare), query, p.key)
	})
	b.Run("with-auth-and-rate-limit", func(b *testing.B) {
		benchPost(b, p.handler, query, p.key)
	})
}

// unwrapForBench builds the same GraphQL handler without the authentication middleware, with
// an identity put into the context directly.
func unwrapForBench(p *inProcess) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.bare.ServeHTTP(w, r.WithContext(auth.WithIdentity(r.Context(), auth.Identity{OrgID: "org", KeyID: "key", Role: auth.RoleAdmin})))
	})
}

func benchPost(b *testing.B, h http.Handler, query, key string) {
	body, _ := json.Marshal(map[string]string{"query": query})
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}

// Documents whose validation would cost far more than their size are refused by the parser,
// before validation: 10,000 copies of one field (50 KB), and 4,000 aliases of one field with
// different arguments (whose overlap check makes N²/2 conflicts: the process ran out of memory
// on 140 KB). Both get a parse error naming the token limit, and nothing runs.
func TestDocumentsTooLongToValidateAreRefusedByTheParser(t *testing.T) {
	t.Parallel()
	p := newInProcess(t)
	var fields, aliases strings.Builder
	fields.WriteString("{ apiKeys { ")
	for range 10000 {
		fields.WriteString("id ")
	}
	fields.WriteString("} }")
	aliases.WriteString("{ ")
	for i := range 4000 {
		fmt.Fprintf(&aliases, "a: node(id: \"ak_%d\") { id } ", i)
	}
	aliases.WriteString("}")
	for name, q := range map[string]string{"duplicated fields": fields.String(), "conflicting aliases": aliases.String()} {
		code, r := p.post(t, q, true)
		require.Equal(t, 422, code, name) // gqlgen answers a document it cannot parse 422
		require.Len(t, r.Errors, 1, name)
		require.Contains(t, r.Errors[0].Message, "exceeded token limit of 3000", name)
		require.Equal(t, "GRAPHQL_PARSE_FAILED", r.Errors[0].Extensions["code"], name)
	}
	require.Zero(t, p.dir.listed.Load(), "no resolver ran")
}

// Every connection and store lookup is costed: aliases that multiply store queries are refused
// by the complexity limit before anything runs (60 aliases of activities(first: 100) were once
// accepted, because only auditLog and apiKeys had a cost; 200 aliases of node(id:) make 200
// lookups). One page of 100 activities stays affordable.
func TestAliasesThatMultiplyStoreQueriesAreRefused(t *testing.T) {
	t.Parallel()
	p := newInProcess(t)
	var pages, nodes strings.Builder
	pages.WriteString("{ ")
	for i := range 60 {
		fmt.Fprintf(&pages, "a%d: activities(first: 100) { edges { node { id } } } ", i)
	}
	pages.WriteString("}")
	nodes.WriteString("{ ")
	for i := range 200 {
		fmt.Fprintf(&nodes, "n%d: node(id: \"ak_%d\") { id } ", i, i)
	}
	nodes.WriteString("}")
	for name, q := range map[string]string{"pages": pages.String(), "lookups": nodes.String()} {
		_, r := p.post(t, q, true)
		require.Len(t, r.Errors, 1, name)
		require.Equal(t, "COMPLEXITY_LIMIT_EXCEEDED", r.Errors[0].Extensions["code"], name)
	}
	_, r := p.post(t, `{ activities(first: 100) { totalCount edges { cursor node { id subject participants { email } } } } }`, true)
	for _, e := range r.Errors {
		require.NotEqual(t, "COMPLEXITY_LIMIT_EXCEEDED", e.Extensions["code"], "one page of 100 is affordable")
	}
}

// An argument the scalars cannot read is the caller's error, not the server's: BAD_USER_INPUT
// naming the argument (it was INTERNAL, and logged as a server failure).
func TestUnreadableArgumentsAreBadUserInput(t *testing.T) {
	t.Parallel()
	p := newInProcess(t)
	for _, v := range []string{"yesterday", "99999-01-01T00:00:00Z", strings.Repeat("9", 5000)} {
		_, r := p.post(t, `{ activities(filter: {occurredAfter: "`+v+`"}) { totalCount } }`, true)
		require.Len(t, r.Errors, 1, v[:min(len(v), 20)])
		require.Equal(t, "BAD_USER_INPUT", r.Errors[0].Extensions["code"])
		require.Contains(t, r.Errors[0].Message, "argument filter.occurredAfter of activities")
		require.Less(t, len(r.Errors[0].Message), 300, "the input is not quoted back whole")
	}
}

// A JSON body is one JSON value: trailing data after the object is refused with a 400 rather than
// silently ignored (gqlgen's decoder ran the first object of "{…}{…}").
func TestABodyWithTrailingDataIsRefused(t *testing.T) {
	t.Parallel()
	p := newInProcess(t)
	h := limitBody(maxGraphQLBody, oneJSONObject(p.handler))
	for name, body := range map[string]string{
		"two objects":   `{"query":"{ apiKeys { id } }"}{"query":"{ apiKeys { id } }"}`,
		"trailing junk": `{"query":"{ apiKeys { id } }"} junk`,
	} {
		req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+p.key)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		require.Equal(t, http.StatusBadRequest, rec.Code, name)
		require.Contains(t, rec.Body.String(), "not one JSON value", name)
	}
	require.Zero(t, p.dir.listed.Load(), "nothing ran")
	req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(`{"query":"{ apiKeys { id } }"}`+"\n"))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+p.key)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code, "a trailing newline is fine")
}

// gqlgen's refusals that carry no code get one: a persisted query whose hash does not match its
// text is BAD_USER_INPUT (it had no code at all).
func TestRequestErrorsHaveACode(t *testing.T) {
	t.Parallel()
	p := newInProcess(t)
	for name, body := range map[string]string{
		"APQ hash mismatch": `{"query":"{ apiKeys { id } }","extensions":{"persistedQuery":{"version":1,"sha256Hash":"00"}}}`,
	} {
		req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+p.key)
		rec := httptest.NewRecorder()
		p.handler.ServeHTTP(rec, req)
		var r gqlResponse
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &r), name)
		require.Len(t, r.Errors, 1, name)
		require.Equal(t, "BAD_USER_INPUT", r.Errors[0].Extensions["code"], "%s: %s", name, r.Errors[0].Message)
	}
}

// What every limit costs a normal request, in one run: a page of activities with their mailboxes
// and contacts through the GraphQL handler as served (token limit, depth and fragment expansion,
// complexity, cost points, store shares, time budget) against the same schema and resolvers with
// none of them. Compare the ns/op figures (target: under 2%).
func BenchmarkLimitsOverhead(b *testing.B) {
	e := newActivityEnv(b, activities.HubOptions{}, func(d *deps) { d.costs = newCostLimiter(1e12, 1e12) })
	e.add(b, 50)
	bare := handler.New(graph.NewExecutableSchema(resolvers.New(e.res)))
	bare.AddTransport(transport.POST{})
	bare.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	bare.Use(resolvers.Loaders{R: e.res})
	as := func(h http.Handler) http.Handler {
		id := auth.Identity{OrgID: e.org, KeyID: "bench", Role: auth.RoleAdmin}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.ServeHTTP(w, r.WithContext(auth.WithIdentity(r.Context(), id)))
		})
	}
	query := strings.Replace(activityPage, "$after: String, $filter: ActivityFilter", "$after: String", 1)
	query = strings.Replace(query, ", filter: $filter", "", 1)
	for name, h := range map[string]http.Handler{"no-limits": as(bare), "limits": as(e.graphql)} {
		body, _ := json.Marshal(map[string]string{"query": query})
		req := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		require.NotContains(b, rec.Body.String(), `"errors"`, name)
	}
	b.Run("no-limits", func(b *testing.B) { benchPost(b, as(bare), query, "") })
	b.Run("limits", func(b *testing.B) { benchPost(b, as(e.graphql), query, "") })
}

// The parse-time limits alone, on the same page query, for a figure finer than a request's
// noise: parsing with and without the token limit, the depth and fragment-expansion walk, and
// gqlgen's complexity calculation. Compare with BenchmarkLimitsOverhead's ns/op for a request.
func BenchmarkParseTimeLimits(b *testing.B) {
	es := graph.NewExecutableSchema(resolvers.New(&resolvers.Resolver{}))
	query := strings.Replace(activityPage, "$after: String, $filter: ActivityFilter", "$after: String", 1)
	query = strings.Replace(query, ", filter: $filter", "", 1)
	src := &ast.Source{Input: query}
	b.Run("parse", func(b *testing.B) {
		for b.Loop() {
			if _, err := parser.ParseQuery(src); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parse-with-token-limit", func(b *testing.B) {
		for b.Loop() {
			if _, err := parser.ParseQueryWithTokenLimit(src, maxQueryTokens); err != nil {
				b.Fatal(err)
			}
		}
	})
	doc, errs := gqlparser.LoadQueryWithRules(es.Schema(), query, nil)
	require.Empty(b, errs)
	op := doc.Operations[0]
	b.Run("depth-and-expansion", func(b *testing.B) {
		l := depthLimit{max: maxQueryDepth, maxFields: maxQueryComplexity}
		for b.Loop() {
			if err := l.MutateOperationContext(context.Background(), &graphql.OperationContext{Operation: op}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("complexity", func(b *testing.B) {
		for b.Loop() {
			complexity.Calculate(context.Background(), es, op, nil)
		}
	})
}
