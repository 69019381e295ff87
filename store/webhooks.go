package store

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

const (
	webhookEndpointCollection = "webhookEndpoints"
	webhookDeliveryCollection = "webhookDeliveries"
)

// WebhookEndpoint is a partner's URL that receives the results of a GraphQL subscription
// document, one POST per event.
type WebhookEndpoint struct {
	ID          string         `bson:"_id"`
	OrgID       string         `bson:"orgId"`
	URL         string         `bson:"url"`
	Description string         `bson:"description"`
	Query       string         `bson:"query"`
	Variables   map[string]any `bson:"variables,omitempty"`
	// Secrets sign deliveries; more than one while a rotation's old secret still signs.
	Secrets        []WebhookSecret `bson:"secrets"`
	Status         string          `bson:"status"` // ACTIVE or DISABLED
	DisabledReason string          `bson:"disabledReason,omitempty"`
	CreatedAt      time.Time       `bson:"createdAt"`
	// Cursor is the change-log cursor of the last event delivered (or of the log's head when the
	// endpoint was created): delivery resumes after it.
	Cursor string `bson:"cursor"`
	// FailingSince is when the event being delivered first failed; nil while deliveries succeed.
	FailingSince *time.Time `bson:"failingSince,omitempty"`
	// Attempts made for the event after Cursor, and when the next may be made.
	Attempts      int        `bson:"attempts"`
	NextAttemptAt *time.Time `bson:"nextAttempt,omitempty"`
	LastSuccessAt *time.Time `bson:"lastSuccess,omitempty"`
	// Generation changes when an admin moves the endpoint's place (a replay): the process
	// delivering it starts again from the new cursor.
	Generation int `bson:"generation"`
}

// WebhookSecret is a signing secret, until it expires (nil: never).
type WebhookSecret struct {
	Secret    string     `bson:"secret"`
	CreatedAt time.Time  `bson:"createdAt"`
	ExpiresAt *time.Time `bson:"expiresAt,omitempty"`
}

// WebhookDelivery is one attempt to deliver one event.
type WebhookDelivery struct {
	ID         bson.ObjectID `bson:"_id"`
	OrgID      string        `bson:"orgId"`
	EndpointID string        `bson:"endpointId"`
	EventID    string        `bson:"eventId"` // the webhook-id header, the same for every attempt
	Cursor     string        `bson:"cursor"`
	Attempt    int           `bson:"attempt"`
	At         time.Time     `bson:"at"`
	Status     int           `bson:"status"` // the HTTP status; 0 when no answer came
	Error      string        `bson:"error,omitempty"`
	Latency    time.Duration `bson:"latency"`
	Response   string        `bson:"response,omitempty"` // the first bytes of the answer
}

// InsertWebhookEndpoint stores a new endpoint in the organization.
func (o OrgScope) InsertWebhookEndpoint(ctx context.Context, e WebhookEndpoint) error {
	e.OrgID = o.org
	if _, err := o.s.collection(webhookEndpointCollection).InsertOne(ctx, e); err != nil {
		return fmt.Errorf("insert webhook endpoint: %w", err)
	}
	return nil
}

// WebhookEndpoints lists the organization's endpoints, oldest first.
func (o OrgScope) WebhookEndpoints(ctx context.Context) ([]WebhookEndpoint, error) {
	return findAll[WebhookEndpoint](ctx, o.s.collection(webhookEndpointCollection), "list webhook endpoints", o.filter(),
		options.Find().SetSort(bson.D{{Key: "createdAt", Value: 1}, {Key: "_id", Value: 1}}).SetLimit(1000))
}

// WebhookEndpoint reads one of the organization's endpoints.
func (o OrgScope) WebhookEndpoint(ctx context.Context, id string) (WebhookEndpoint, error) {
	var e WebhookEndpoint
	err := o.s.collection(webhookEndpointCollection).FindOne(ctx, o.filter(bson.E{Key: "_id", Value: id})).Decode(&e)
	if err != nil {
		return WebhookEndpoint{}, notFound(err, "webhook endpoint "+id)
	}
	return e, nil
}

// UpdateWebhookEndpoint sets fields of one of the organization's endpoints and returns it.
func (o OrgScope) UpdateWebhookEndpoint(ctx context.Context, id string, set bson.D) (WebhookEndpoint, error) {
	var e WebhookEndpoint
	err := o.s.collection(webhookEndpointCollection).FindOneAndUpdate(ctx, o.filter(bson.E{Key: "_id", Value: id}),
		bson.D{{Key: "$set", Value: set}}, options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&e)
	if err != nil {
		return WebhookEndpoint{}, notFound(err, "webhook endpoint "+id)
	}
	return e, nil
}

// AdvanceWebhookEndpoint is UpdateWebhookEndpoint for the delivering process: it changes
// nothing (ErrNotFound) once an admin has moved the endpoint to another generation.
func (o OrgScope) AdvanceWebhookEndpoint(ctx context.Context, id string, generation int, set bson.D) (WebhookEndpoint, error) {
	var e WebhookEndpoint
	err := o.s.collection(webhookEndpointCollection).FindOneAndUpdate(ctx,
		o.filter(bson.E{Key: "_id", Value: id}, bson.E{Key: "generation", Value: generation}),
		bson.D{{Key: "$set", Value: set}}, options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&e)
	if err != nil {
		return WebhookEndpoint{}, notFound(err, "webhook endpoint "+id)
	}
	return e, nil
}

// DeleteWebhookEndpoint removes an endpoint and its delivery log.
func (o OrgScope) DeleteWebhookEndpoint(ctx context.Context, id string) error {
	res, err := o.s.collection(webhookEndpointCollection).DeleteOne(ctx, o.filter(bson.E{Key: "_id", Value: id}))
	if err != nil {
		return fmt.Errorf("delete webhook endpoint: %w", err)
	}
	if res.DeletedCount == 0 {
		return fmt.Errorf("webhook endpoint %s: %w", id, ErrNotFound)
	}
	if _, err := o.s.collection(webhookDeliveryCollection).DeleteMany(ctx, o.filter(bson.E{Key: "endpointId", Value: id})); err != nil {
		return fmt.Errorf("delete webhook deliveries: %w", err)
	}
	return nil
}

// ActiveWebhookEndpoints lists every organization's active endpoints, for the delivery workers.
func (s *Store) ActiveWebhookEndpoints(ctx context.Context) ([]WebhookEndpoint, error) {
	return findAll[WebhookEndpoint](ctx, s.collection(webhookEndpointCollection), "list active webhook endpoints",
		bson.D{{Key: "status", Value: "ACTIVE"}}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(100_000))
}

// InsertWebhookDelivery records an attempt.
func (o OrgScope) InsertWebhookDelivery(ctx context.Context, d WebhookDelivery) error {
	d.OrgID = o.org
	if _, err := o.s.collection(webhookDeliveryCollection).InsertOne(ctx, d); err != nil {
		return fmt.Errorf("record webhook delivery: %w", err)
	}
	return nil
}
