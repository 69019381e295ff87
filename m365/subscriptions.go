package m365

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
	"github.com/microsoftgraph/msgraph-sdk-go/subscriptions"
)

func (c *Client) subscriptions(tenantID string) (*subscriptions.SubscriptionsRequestBuilder, error) {
	g, err := c.graph(tenantID)
	if err != nil {
		return nil, err
	}
	return subscriptions.NewSubscriptionsRequestBuilderInternal(map[string]string{}, g.adapter), nil
}

// CreateSubscription creates a subscription; Graph validates the notification URLs first.
func (c *Client) CreateSubscription(ctx context.Context, tenantID string, r SubscriptionRequest) (Subscription, error) {
	b, err := c.subscriptions(tenantID)
	if err != nil {
		return Subscription{}, err
	}
	body := models.NewSubscription()
	body.SetResource(&r.Resource)
	body.SetChangeType(&r.ChangeType)
	body.SetNotificationUrl(&r.NotificationURL)
	if r.LifecycleNotificationURL != "" {
		body.SetLifecycleNotificationUrl(&r.LifecycleNotificationURL)
	}
	body.SetClientState(&r.ClientState)
	exp := r.ExpiresAt.UTC()
	body.SetExpirationDateTime(&exp)
	s, err := b.Post(ctx, body, nil)
	if err != nil {
		err = subscriptionError("create subscription", err)
		if errors.Is(err, ErrSubscriptionGone) {
			// A 404 at creation names a user or folder that does not exist: a refusal.
			return Subscription{}, fmt.Errorf("%w: %s", ErrRefused, err.Error()) // no longer "gone"
		}
		return Subscription{}, err
	}
	return toSubscription(s), nil
}

// RenewSubscription extends a subscription (api-reference/v1.0/api/subscription-update.md).
func (c *Client) RenewSubscription(ctx context.Context, tenantID, id string, expiresAt time.Time) (Subscription, error) {
	b, err := c.subscriptions(tenantID)
	if err != nil {
		return Subscription{}, err
	}
	body := models.NewSubscription()
	exp := expiresAt.UTC()
	body.SetExpirationDateTime(&exp)
	s, err := b.BySubscriptionId(id).Patch(ctx, body, nil)
	if err != nil {
		return Subscription{}, subscriptionError("renew subscription", err)
	}
	return toSubscription(s), nil
}

// ReauthorizeSubscription answers a reauthorizationRequired lifecycle event
// (api-reference/v1.0/api/subscription-reauthorize.md).
func (c *Client) ReauthorizeSubscription(ctx context.Context, tenantID, id string) error {
	b, err := c.subscriptions(tenantID)
	if err != nil {
		return err
	}
	if err := b.BySubscriptionId(id).Reauthorize().Post(ctx, nil); err != nil {
		return subscriptionError("reauthorize subscription", err)
	}
	return nil
}

// DeleteSubscription deletes a subscription; one already gone is not an error.
func (c *Client) DeleteSubscription(ctx context.Context, tenantID, id string) error {
	b, err := c.subscriptions(tenantID)
	if err != nil {
		return err
	}
	if err := b.BySubscriptionId(id).Delete(ctx, nil); err != nil {
		if err := subscriptionError("delete subscription", err); !errors.Is(err, ErrSubscriptionGone) {
			return err
		}
	}
	return nil
}

func toSubscription(s models.Subscriptionable) Subscription {
	out := Subscription{}
	if s == nil {
		return out
	}
	if s.GetId() != nil {
		out.ID = *s.GetId()
	}
	if s.GetExpirationDateTime() != nil {
		out.ExpiresAt = s.GetExpirationDateTime().UTC()
	}
	return out
}

// subscriptionError classifies a failed subscription call: 404 gone, 429/5xx transient, other
// 4xx refused, with Graph's message.
func subscriptionError(what string, err error) error {
	var oe *odataerrors.ODataError
	if !errors.As(err, &oe) {
		return fmt.Errorf("%s: %w: %v", what, ErrTransient, err)
	}
	code, msg := odataDetail(oe)
	switch s := oe.ResponseStatusCode; {
	case s == http.StatusNotFound:
		return fmt.Errorf("%s: %w: %s", what, ErrSubscriptionGone, msg)
	case s == http.StatusTooManyRequests || s >= 500 || s == 0:
		return fmt.Errorf("%s: %w: %d %s: %s", what, ErrTransient, s, code, msg)
	default:
		return fmt.Errorf("%s: %w: %d %s: %s", what, ErrRefused, s, code, msg)
	}
}

// ListSubscriptions lists the subscriptions the app holds in the tenant, following Graph's
// pages (api-reference/v1.0/api/subscription-list.md: with application permissions, those the
// app created in the tenant).
func (c *Client) ListSubscriptions(ctx context.Context, tenantID string) ([]ListedSubscription, error) {
	b, err := c.subscriptions(tenantID)
	if err != nil {
		return nil, err
	}
	var out []ListedSubscription
	page, err := b.Get(ctx, nil)
	for {
		if err != nil {
			return nil, subscriptionError("list subscriptions", err)
		}
		for _, s := range page.GetValue() {
			l := ListedSubscription{ID: toSubscription(s).ID, ExpiresAt: toSubscription(s).ExpiresAt}
			if s.GetResource() != nil {
				l.Resource = *s.GetResource()
			}
			if s.GetNotificationUrl() != nil {
				l.NotificationURL = *s.GetNotificationUrl()
			}
			out = append(out, l)
		}
		next := page.GetOdataNextLink()
		if next == nil || *next == "" {
			return out, nil
		}
		page, err = b.WithUrl(*next).Get(ctx, nil)
	}
}
