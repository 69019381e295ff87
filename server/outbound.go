package server

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/executor"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/teamaccess/teamaccess/activities"
	"github.com/teamaccess/teamaccess/auth"
	"github.com/teamaccess/teamaccess/errkind"
	"github.com/teamaccess/teamaccess/graph"
	"github.com/teamaccess/teamaccess/outbound"
	"github.com/teamaccess/teamaccess/resolvers"
)

// webhookExec runs endpoints' subscription documents in process, through the same schema,
// resolvers and limits as the API, so that a delivery is byte for byte what the subscription
// sends a websocket client.
type webhookExec struct {
	exec *executor.Executor
	hub  *activities.Hub
}

var _ outbound.Executor = (*webhookExec)(nil)

func newWebhookExec(r *resolvers.Resolver, hub *activities.Hub, log *slog.Logger, m *metrics) *webhookExec {
	ex := executor.New(graph.NewExecutableSchema(resolvers.New(r)))
	ex.SetParserTokenLimit(maxQueryTokens)
	ex.SetDefaultRulesFn(cappedRules)
	ex.Use(depthLimit{max: maxQueryDepth, maxFields: maxQueryComplexity})
	ex.Use(extension.FixedComplexityLimit(maxQueryComplexity))
	ex.SetErrorPresenter(presentError(log, m))
	ex.SetRecoverFunc(func(ctx context.Context, v any) error {
		log.Error("webhook subscription panicked", "panic", v)
		return errInternal
	})
	return &webhookExec{exec: ex, hub: hub}
}

// as runs as the endpoint's organization, read-only (and starts the operation's clock, as a
// transport does).
func as(ctx context.Context, orgID string) context.Context {
	ctx = graphql.StartOperationTrace(ctx)
	return auth.WithIdentity(ctx, auth.Identity{OrgID: orgID, KeyID: "webhook", KeyName: "webhook endpoint", Role: auth.RoleReader})
}

// Check implements outbound.Executor: one subscription to activityChanged, mailboxChanged or
// teamAccessChanged, valid against the schema and within the API's limits, with no after
// argument (teamaccess keeps the endpoint's place).
func (w *webhookExec) Check(ctx context.Context, orgID, query string, vars map[string]any) error {
	ctx = as(ctx, orgID)
	oc, errs := w.exec.CreateOperationContext(ctx, &graphql.RawParams{Query: query, Variables: vars})
	if len(errs) > 0 {
		return errkind.E(errkind.ErrInvalid, "query: %s", errs[0].Message)
	}
	if oc.Operation.Operation != ast.Subscription {
		return errkind.E(errkind.ErrInvalid, "query must be a subscription, such as subscription { activityChanged { type activity { id subject } } }")
	}
	if len(oc.Operation.SelectionSet) != 1 {
		return errkind.E(errkind.ErrInvalid, "query must subscribe to one field")
	}
	f, ok := oc.Operation.SelectionSet[0].(*ast.Field)
	if !ok || (f.Name != "activityChanged" && f.Name != "mailboxChanged" && f.Name != "teamAccessChanged") {
		return errkind.E(errkind.ErrInvalid, "webhooks deliver activityChanged, mailboxChanged or teamAccessChanged")
	}
	if f.Arguments.ForName("after") != nil {
		return errkind.E(errkind.ErrInvalid, "leave out after: teamaccess keeps the endpoint's place in the change log (replay with replayWebhookEndpoint)")
	}
	return nil
}

// Head implements outbound.Executor.
func (w *webhookExec) Head(ctx context.Context, orgID string) (string, error) {
	return w.hub.Head(ctx, orgID)
}

// Behind implements outbound.Executor.
func (w *webhookExec) Behind(ctx context.Context, orgID, after string) (int64, error) {
	return w.hub.Behind(ctx, orgID, after)
}

// CheckCursor implements outbound.Executor.
func (w *webhookExec) CheckCursor(after string) error { return activities.CheckCursor(after) }

// Run implements outbound.Executor.
func (w *webhookExec) Run(ctx context.Context, orgID, query string, vars map[string]any, after string) (<-chan outbound.Event, func() error, error) {
	var mu sync.Mutex
	var seen []outbound.Event // cursors and mailboxes, told before their responses come
	ctx = resolvers.WithWebhookFeed(as(ctx, orgID), after, func(cursor, mailbox string) {
		mu.Lock()
		seen = append(seen, outbound.Event{Cursor: cursor, Key: mailbox})
		mu.Unlock()
	})
	oc, errs := w.exec.CreateOperationContext(ctx, &graphql.RawParams{Query: query, Variables: vars})
	if len(errs) > 0 {
		return nil, nil, errkind.E(errkind.ErrInvalid, "%s", errs[0].Message)
	}
	responses, ctx := w.exec.DispatchOperation(ctx, oc)
	out := make(chan outbound.Event, 64) // the next events are made while earlier ones are in flight
	var streamErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(out)
		for {
			resp := responses(ctx)
			if resp == nil {
				return
			}
			mu.Lock()
			var ev outbound.Event
			if len(seen) > 0 {
				ev, seen = seen[0], seen[1:]
			}
			mu.Unlock()
			cursor := ev.Cursor
			if cursor == "" || (len(resp.Errors) > 0 && isNull(resp.Data)) {
				// Not an event: the subscription could not start (a cursor out of the change log's
				// window) or ended (a cut): the worker starts again from its last delivery.
				streamErr = errors.New("the subscription ended")
				if len(resp.Errors) > 0 {
					streamErr = errors.New(resp.Errors[0].Message)
					if code, _ := resp.Errors[0].Extensions["code"].(string); code == "BAD_USER_INPUT" && cursor == "" {
						streamErr = errkind.E(errkind.ErrInvalid, "%s", resp.Errors[0].Message)
					}
				}
				return
			}
			body, err := json.Marshal(resp)
			if err != nil {
				streamErr = err
				return
			}
			select {
			case out <- outbound.Event{Cursor: cursor, Body: body, Key: ev.Key}:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, func() error { <-done; return streamErr }, nil
}

func isNull(raw json.RawMessage) bool { return len(raw) == 0 || string(raw) == "null" }
