package outbound

import (
	"context"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/teamaccess/teamaccess/auth"
	"github.com/teamaccess/teamaccess/store"
)

// An admin's changes to an endpoint after its creation.

// EndpointChange is what updateWebhookEndpoint changes; nil fields stay.
type EndpointChange struct {
	URL, Description, Query *string
	Variables               map[string]any
}

// Update changes an endpoint's URL, description or document (checked as at creation). A new
// document applies from the next change not yet delivered.
func (s *Service) Update(ctx context.Context, actor auth.Actor, id string, c EndpointChange) (store.WebhookEndpoint, error) {
	e, err := s.Get(ctx, actor.OrgID, id)
	if err != nil {
		return e, err
	}
	if c.URL == nil && c.Description == nil && c.Query == nil && c.Variables == nil {
		return e, nil
	}
	n := NewEndpoint{URL: e.URL, Description: e.Description, Query: e.Query, Variables: e.Variables}
	if c.URL != nil {
		n.URL = *c.URL
	}
	if c.Description != nil {
		n.Description = *c.Description
	}
	if c.Query != nil {
		n.Query = *c.Query
	}
	if c.Variables != nil {
		n.Variables = c.Variables
	}
	url, err := s.check(ctx, actor.OrgID, n) // the endpoint as it would be, whole
	if err != nil {
		return e, err
	}
	// A new document takes effect when the process delivering the endpoint starts over with it,
	// from its place (this one at once, another when it next reads the endpoint, within a second).
	set := bson.D{{Key: "url", Value: url}, {Key: "description", Value: n.Description},
		{Key: "query", Value: n.Query}, {Key: "variables", Value: n.Variables}}
	e, err = s.st.Org(actor.OrgID).UpdateWebhookEndpoint(ctx, id, set)
	if err != nil {
		return e, err
	}
	s.restart(id)
	return e, s.audit(ctx, actor, "webhookEndpoint.update", id, "updated webhook endpoint "+e.URL)
}

// Replay moves an endpoint back (or forward) to just after a change cursor within the change
// log's window: every change after it is delivered again, in order, with the webhook-ids it had.
func (s *Service) Replay(ctx context.Context, actor auth.Actor, id, after string) (store.WebhookEndpoint, error) {
	e, err := s.Get(ctx, actor.OrgID, id)
	if err != nil {
		return e, err
	}
	if err := s.exec.CheckCursor(after); err != nil {
		return e, err
	}
	e, err = s.st.Org(actor.OrgID).UpdateWebhookEndpoint(ctx, id, bson.D{{Key: "cursor", Value: after}, {Key: "attempts", Value: 0},
		{Key: "failingSince", Value: nil}, {Key: "nextAttempt", Value: nil}, {Key: "generation", Value: e.Generation + 1}})
	if err != nil {
		return e, err
	}
	s.restart(id)
	return e, s.audit(ctx, actor, "webhookEndpoint.replay", id, "replayed webhook endpoint "+e.URL+" after "+after)
}

// SendTest delivers a test event to an endpoint now, signed like every delivery, and returns
// the attempt; it changes nothing of the endpoint's place.
func (s *Service) SendTest(ctx context.Context, actor auth.Actor, id string) (store.WebhookDelivery, error) {
	e, err := s.Get(ctx, actor.OrgID, id)
	if err != nil {
		return store.WebhookDelivery{}, err
	}
	at := s.o.Now()
	body := []byte(`{"data":null,"extensions":{"teamaccessTest":{"endpointId":"` + e.ID + `","sentAt":"` + at.UTC().Format(time.RFC3339) + `"}}}`)
	e.Attempts = 0
	d := s.post(ctx, &e, eventID(e.ID, "test:"+at.Format(time.RFC3339Nano)), Event{Cursor: "test", Body: body})
	if err := s.st.Org(e.OrgID).InsertWebhookDelivery(ctx, d); err != nil {
		return d, err
	}
	return d, nil
}

// RotationOverlap is how long a rotated-out secret still signs.
const RotationOverlap = 24 * time.Hour

// RotateSecret gives an endpoint a new secret, returned this once; the old one signs too for
// RotationOverlap, so the partner can switch without losing a delivery.
func (s *Service) RotateSecret(ctx context.Context, actor auth.Actor, id string) (store.WebhookEndpoint, string, error) {
	e, err := s.Get(ctx, actor.OrgID, id)
	if err != nil {
		return e, "", err
	}
	now := s.o.Now().UTC().Truncate(time.Millisecond)
	until := now.Add(RotationOverlap)
	secrets := []store.WebhookSecret{{Secret: NewSecret(), CreatedAt: now}}
	for _, old := range liveSecrets(e.Secrets, now) {
		if old.ExpiresAt == nil || old.ExpiresAt.After(until) {
			old.ExpiresAt = &until
		}
		secrets = append(secrets, old)
	}
	e, err = s.st.Org(actor.OrgID).UpdateWebhookEndpoint(ctx, id, bson.D{{Key: "secrets", Value: secrets}})
	if err != nil {
		return e, "", err
	}
	return e, secrets[0].Secret, s.audit(ctx, actor, "webhookEndpoint.rotateSecret", id, "rotated the secret of webhook endpoint "+e.URL)
}
