package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// capturePolicyCollection holds each organisation's capture policy: which kinds of mailbox are
// captured. It is configuration, kept across a disconnect and a purge.
const capturePolicyCollection = "capturePolicies"

// CapturePolicy is an organisation's capture policy.
type CapturePolicy struct {
	OrgID string `bson:"_id"`
	// Kinds maps a mailbox kind to whether mailboxes of that kind are captured; a kind not
	// named takes its default.
	Kinds     map[string]bool `bson:"kinds"`
	UpdatedAt time.Time       `bson:"updatedAt"`
}

// CapturePolicy reads the organisation's policy; an empty one when it has none.
func (o OrgScope) CapturePolicy(ctx context.Context) (CapturePolicy, error) {
	var p CapturePolicy
	err := o.s.collection(capturePolicyCollection).FindOne(ctx, bson.D{{Key: "_id", Value: o.org}}).Decode(&p)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return CapturePolicy{OrgID: o.org, Kinds: map[string]bool{}}, nil
	}
	if err != nil {
		return p, fmt.Errorf("read capture policy: %w", err)
	}
	if p.Kinds == nil {
		p.Kinds = map[string]bool{}
	}
	return p, nil
}

// SetKindCapture records whether mailboxes of a kind are captured.
func (o OrgScope) SetKindCapture(ctx context.Context, kind string, enabled bool, at time.Time) error {
	_, err := o.s.collection(capturePolicyCollection).UpdateOne(ctx, bson.D{{Key: "_id", Value: o.org}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "kinds." + kind, Value: enabled}, {Key: "updatedAt", Value: at}}}},
		options.UpdateOne().SetUpsert(true))
	if err != nil {
		return fmt.Errorf("set capture policy: %w", err)
	}
	return nil
}
