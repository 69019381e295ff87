package outbound

import (
	"context"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/teamaccess/teamaccess/auth"
	"github.com/teamaccess/teamaccess/errkind"
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
	var set bson.D
	if c.URL != nil {
		u, err := s.o.Guard.CheckURL(*c.URL)
		if err != nil {
			return e, err
		}
		set = append(set, bson.E{Key: "url", Value: u.String()})
	}
	if c.Description != nil {
		if len(*c.Description) > 500 {
			return e, errkind.E(errkind.ErrInvalid, "description is at most 500 characters")
		}
		set = append(set, bson.E{Key: "description", Value: *c.Description})
	}
	if c.Query != nil || c.Variables != nil {
		q, vars := e.Query, e.Variables
		if c.Query != nil {
			q = *c.Query
		}
		if c.Variables != nil {
			vars = c.Variables
		}
		if len(q) > 20_000 {
			return e, errkind.E(errkind.ErrInvalid, "query is at most 20,000 characters")
		}
		if err := s.exec.Check(ctx, actor.OrgID, q, vars); err != nil {
			return e, err
		}
		// A new document: the process delivering it starts over with it, from its place (this
		// one at once, another when it next reads the endpoint, within a second).
		set = append(set, bson.E{Key: "query", Value: q}, bson.E{Key: "variables", Value: vars})
	}
	if len(set) == 0 {
		return e, nil
	}
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
