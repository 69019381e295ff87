package resolvers

import (
	"context"

	"github.com/teamaccess/teamaccess/auth"
	"github.com/teamaccess/teamaccess/outbound"
	"github.com/teamaccess/teamaccess/store"
)

// WebhookService is what the resolvers need of outbound.Service.
type WebhookService interface {
	Create(ctx context.Context, actor auth.Actor, n outbound.NewEndpoint) (store.WebhookEndpoint, string, error)
	List(ctx context.Context, orgID string) ([]store.WebhookEndpoint, error)
	Get(ctx context.Context, orgID, id string) (store.WebhookEndpoint, error)
	Disable(ctx context.Context, actor auth.Actor, id string) (store.WebhookEndpoint, error)
	Enable(ctx context.Context, actor auth.Actor, id string) (store.WebhookEndpoint, error)
	Delete(ctx context.Context, actor auth.Actor, id string) error
	Update(ctx context.Context, actor auth.Actor, id string, c outbound.EndpointChange) (store.WebhookEndpoint, error)
	RotateSecret(ctx context.Context, actor auth.Actor, id string) (store.WebhookEndpoint, string, error)
	Deliveries(ctx context.Context, orgID, id, before string, limit int) ([]store.WebhookDelivery, error)
	Replay(ctx context.Context, actor auth.Actor, id, after string) (store.WebhookEndpoint, error)
	SendTest(ctx context.Context, actor auth.Actor, id string) (store.WebhookDelivery, error)
	Backlog(ctx context.Context, e store.WebhookEndpoint) (int, error)
}

var _ WebhookService = (*outbound.Service)(nil)

// endpointAction runs an admin's action on one endpoint.
func (r *mutationResolver) endpointAction(ctx context.Context, id string,
	act func(context.Context, auth.Actor, string) (store.WebhookEndpoint, error)) (*store.WebhookEndpoint, error) {
	who, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	e, err := act(ctx, auth.ActorOf(who), id)
	if err != nil {
		return nil, userError(ctx, err)
	}
	return &e, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
