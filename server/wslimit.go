package server

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// maxSubscriptionsPerConnection bounds the live subscriptions one websocket may hold.
const maxSubscriptionsPerConnection = 32

type connSubsKey struct{}

// withSubscriptionCount gives a websocket connection its count of live subscriptions.
func withSubscriptionCount(ctx context.Context) context.Context {
	return context.WithValue(ctx, connSubsKey{}, new(atomic.Int32))
}

// subscriptionLimit refuses a subscription beyond the connection's limit; the count goes down
// when a subscription ends (its context is cancelled when it completes or the client stops it).
type subscriptionLimit struct{ max int32 }

var (
	_ graphql.HandlerExtension     = subscriptionLimit{}
	_ graphql.OperationInterceptor = subscriptionLimit{}
)

// ExtensionName implements graphql.HandlerExtension.
func (subscriptionLimit) ExtensionName() string { return "SubscriptionLimit" }

// Validate implements graphql.HandlerExtension.
func (subscriptionLimit) Validate(graphql.ExecutableSchema) error { return nil }

// InterceptOperation implements graphql.OperationInterceptor.
func (l subscriptionLimit) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	count, ok := ctx.Value(connSubsKey{}).(*atomic.Int32)
	oc := graphql.GetOperationContext(ctx)
	if !ok || oc.Operation == nil || oc.Operation.Operation != ast.Subscription {
		return next(ctx)
	}
	if count.Add(1) > l.max {
		count.Add(-1)
		return graphql.OneShot(&graphql.Response{Errors: gqlerror.List{{
			Message:    fmt.Sprintf("this connection has %d subscriptions already, the most one connection may hold; stop one or open another connection", l.max),
			Extensions: map[string]any{"code": "BAD_USER_INPUT", "reason": "TOO_MANY_SUBSCRIPTIONS"},
		}}})
	}
	context.AfterFunc(ctx, func() { count.Add(-1) })
	return next(ctx)
}
