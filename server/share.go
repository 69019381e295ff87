package server

import (
	"context"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

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

// storeShares is the gqlgen extension that puts every operation's store reads and writes in
// its request's, its organization's and the API's shares, and gives queries and mutations
// their time budget.
type storeShares struct {
	api    *store.Share
	budget time.Duration
	mu     sync.Mutex
	orgs   map[string]*store.Share // one per organization that has called; as many as there are organizations
}

func newStoreShares(budget time.Duration) *storeShares {
	return &storeShares{api: store.NewShare(apiStoreShare), budget: budget, orgs: map[string]*store.Share{}}
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

func (s *storeShares) org(id string) *store.Share {
	s.mu.Lock()
	defer s.mu.Unlock()
	sh, ok := s.orgs[id]
	if !ok {
		sh = store.NewShare(orgStoreShare)
		s.orgs[id] = sh
	}
	return sh
}

// InterceptOperation implements graphql.OperationInterceptor.
func (s *storeShares) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	org := ""
	if id, ok := auth.FromContext(ctx); ok {
		org = id.OrgID
	}
	req := store.NewShare(requestStoreShare)
	ctx = context.WithValue(ctx, requestShareKey{}, req)
	return next(store.WithShare(ctx, req, s.org(org), s.api))
}

type requestShareKey struct{}

// storeOperations counts the store operations the operation on ctx has made so far.
func storeOperations(ctx context.Context) int64 {
	if s, ok := ctx.Value(requestShareKey{}).(*store.Share); ok {
		return s.Operations()
	}
	return 0
}

// InterceptResponse implements graphql.ResponseInterceptor: a query or mutation ends with its
// budget (its context's deadline; errors it causes are TIMEOUT).
func (s *storeShares) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	if oc := graphql.GetOperationContext(ctx); oc.Operation == nil || oc.Operation.Operation == ast.Subscription {
		return next(ctx)
	}
	ctx, cancel := context.WithTimeout(ctx, s.budget)
	defer cancel()
	return next(ctx)
}
