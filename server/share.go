package server

import (
	"context"
	"runtime"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/teamaccess/teamaccess/auth"
	"github.com/teamaccess/teamaccess/store"
)

// The API's shares of the store (store.Share). The driver pools 100 connections per server
// (its default); the API may use 40 of them at once, an organization 12, one request 6, so that
// one caller's heaviest requests leave room for other organizations and, outside the API's
// share, for the change-notification intake and the delta sync.
const (
	apiStoreShare     = 40
	orgStoreShare     = 12
	requestStoreShare = 6
	// requestBudget is how long a query or mutation may run; a subscription's operations are
	// each a read of one change, bounded by the same shares.
	requestBudget = 10 * time.Second
)

// orgRunning is how many queries and mutations of one organization run at once: half the
// server's processors (at least one), so that one organization's heaviest requests leave the
// other half of the CPU to everyone else. The rest wait their turn within their time budget.
// Subscriptions are not counted: each of their events is one bounded read.
func orgRunning() int { return max(1, runtime.GOMAXPROCS(0)/2) }

// storeShares is the gqlgen extension that puts every operation's store reads and writes in
// its request's, its organization's and the API's shares, and gives queries and mutations
// their time budget.
type storeShares struct {
	api     *store.Share
	budget  time.Duration
	running int // orgRunning()
	mu      sync.Mutex
	orgs    map[string]*orgShare // one per organization that has called; as many as there are organizations
}

// orgShare is an organization's share of the store and of the processors.
type orgShare struct {
	store   *store.Share
	running chan struct{}
}

func newStoreShares(budget time.Duration, running int) *storeShares {
	return &storeShares{api: store.NewShare(apiStoreShare), budget: budget, running: running, orgs: map[string]*orgShare{}}
}

var (
	_ graphql.HandlerExtension     = (*storeShares)(nil)
	_ graphql.OperationInterceptor = (*storeShares)(nil)
	_ graphql.ResponseInterceptor  = (*storeShares)(nil)
)

// ExtensionName implements graphql.HandlerExtension.
func (*storeShares) ExtensionName() string { return "StoreShares" }

// Validate implements graphql.HandlerExtension.
func (*storeShares) Validate(graphql.ExecutableSchema) error { return nil }

func (s *storeShares) org(id string) *orgShare {
	s.mu.Lock()
	defer s.mu.Unlock()
	sh, ok := s.orgs[id]
	if !ok {
		sh = &orgShare{store: store.NewShare(orgStoreShare), running: make(chan struct{}, s.running)}
		s.orgs[id] = sh
	}
	return sh
}

func orgOf(ctx context.Context) string {
	if id, ok := auth.FromContext(ctx); ok {
		return id.OrgID
	}
	return ""
}

// InterceptOperation implements graphql.OperationInterceptor.
func (s *storeShares) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	req := store.NewShare(requestStoreShare)
	ctx = context.WithValue(ctx, requestShareKey{}, req)
	return next(store.WithShare(ctx, req, s.org(orgOf(ctx)).store, s.api))
}

type requestShareKey struct{}

// storeOperations counts the store operations the operation on ctx has made so far.
func storeOperations(ctx context.Context) int64 {
	if s, ok := ctx.Value(requestShareKey{}).(*store.Share); ok {
		return s.Operations()
	}
	return 0
}

// InterceptResponse implements graphql.ResponseInterceptor: a query or mutation waits for one
// of its organization's running places, then ends with its budget (its context's deadline,
// which the wait counts against; errors it causes are TIMEOUT).
func (s *storeShares) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	if oc := graphql.GetOperationContext(ctx); oc.Operation == nil || oc.Operation.Operation == ast.Subscription {
		return next(ctx)
	}
	ctx, cancel := context.WithTimeout(ctx, s.budget)
	defer cancel()
	running := s.org(orgOf(ctx)).running
	select {
	case running <- struct{}{}:
		defer func() { <-running }()
	case <-ctx.Done():
		return &graphql.Response{Errors: gqlerror.List{{
			Message:    "the request waited its whole time budget (" + s.budget.String() + ") behind its organization's other requests; send fewer at once",
			Extensions: map[string]any{"code": "TIMEOUT"},
		}}}
	}
	return next(ctx)
}
