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

const (
	teamAccessCollection    = "teamAccess"
	tenantBindingCollection = "tenantBindings"
	consentStateCollection  = "consentStates"
)

// Errors of the team access records.
var (
	ErrExpired  = errors.New("expired")
	ErrUsed     = errors.New("already used")
	ErrConflict = errors.New("conflict")
)

// Problem is the last error of a connection, as shown to admins.
type Problem struct {
	Code    string    `bson:"code"`
	Message string    `bson:"message"`
	At      time.Time `bson:"at"`
}

// TeamAccess is an organisation's Microsoft 365 connection.
type TeamAccess struct {
	OrgID          string     `bson:"_id"`
	Status         string     `bson:"status"`
	TenantID       string     `bson:"tenantId,omitempty"`
	ConsentedAt    *time.Time `bson:"consentedAt,omitempty"`
	Granted        []string   `bson:"granted"`
	LastVerifiedAt *time.Time `bson:"lastVerifiedAt,omitempty"`
	LastError      *Problem   `bson:"lastError,omitempty"`
	UpdatedAt      time.Time  `bson:"updatedAt"`
	// PurgingAt marks an organisation whose captured data is being purged: every process's
	// syncs stop writing it. The disconnect that follows the purge replaces the record.
	PurgingAt *time.Time `bson:"purgingAt,omitempty"`
}

// ConsentState is the state of an admin-consent link: its hash, never the value.
type ConsentState struct {
	Hash       string     `bson:"_id"`
	OrgID      string     `bson:"orgId"`
	TenantHint string     `bson:"tenantHint,omitempty"`
	CreatedBy  string     `bson:"createdBy,omitempty"`
	CreatedAt  time.Time  `bson:"createdAt"`
	ExpiresAt  time.Time  `bson:"expiresAt"`
	UsedAt     *time.Time `bson:"usedAt,omitempty"`
}

// TeamAccess reads the organisation's connection; a zero value with its OrgID when it has none.
func (o OrgScope) TeamAccess(ctx context.Context) (TeamAccess, error) {
	var ta TeamAccess
	err := o.s.collection(teamAccessCollection).FindOne(ctx, bson.D{{Key: "_id", Value: o.org}}).Decode(&ta)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return TeamAccess{OrgID: o.org}, nil
	}
	if err != nil {
		return TeamAccess{}, fmt.Errorf("read team access: %w", err)
	}
	return ta, nil
}

// MarkPurging marks the organisation's data as being purged (see TeamAccess.PurgingAt).
func (o OrgScope) MarkPurging(ctx context.Context, at time.Time) error {
	_, err := o.s.collection(teamAccessCollection).UpdateOne(ctx, bson.D{{Key: "_id", Value: o.org}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "purgingAt", Value: at}}}}, options.UpdateOne().SetUpsert(true))
	if err != nil {
		return fmt.Errorf("mark purge: %w", err)
	}
	return o.s.raiseConnectionsGen(ctx)
}

// SaveTeamAccess writes the organisation's connection.
func (o OrgScope) SaveTeamAccess(ctx context.Context, ta TeamAccess) error {
	ta.OrgID = o.org
	_, err := o.s.collection(teamAccessCollection).ReplaceOne(ctx, bson.D{{Key: "_id", Value: o.org}}, ta,
		options.Replace().SetUpsert(true))
	if err != nil {
		return fmt.Errorf("save team access: %w", err)
	}
	return o.s.raiseConnectionsGen(ctx)
}

// InsertConsentState records a new consent link's state for the organisation.
func (o OrgScope) InsertConsentState(ctx context.Context, cs ConsentState) error {
	cs.OrgID = o.org
	if _, err := o.s.collection(consentStateCollection).InsertOne(ctx, cs); err != nil {
		return fmt.Errorf("insert consent state: %w", err)
	}
	return nil
}

// ConsumeConsentState marks a state used, once: it returns ErrNotFound for an unknown state,
// ErrUsed for one used already and ErrExpired for one past its expiry. The state names the
// organisation, which is why this is not scoped by one.
func (s *Store) ConsumeConsentState(ctx context.Context, hash string, now time.Time) (ConsentState, error) {
	var cs ConsentState
	coll := s.collection(consentStateCollection)
	err := coll.FindOneAndUpdate(ctx,
		bson.D{{Key: "_id", Value: hash}, {Key: "usedAt", Value: nil}, {Key: "expiresAt", Value: bson.D{{Key: "$gt", Value: now.UTC()}}}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "usedAt", Value: now.UTC()}}}},
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&cs)
	if err == nil {
		return cs, nil
	}
	if !errors.Is(err, mongo.ErrNoDocuments) {
		return ConsentState{}, fmt.Errorf("consume consent state: %w", err)
	}
	if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: hash}}).Decode(&cs); err != nil {
		return ConsentState{}, notFound(err, "consent state")
	}
	if cs.UsedAt != nil {
		return cs, fmt.Errorf("consent state: %w", ErrUsed)
	}
	return cs, fmt.Errorf("consent state: %w", ErrExpired)
}

// DeleteConsentStatesBefore removes states that expired before t.
func (s *Store) DeleteConsentStatesBefore(ctx context.Context, t time.Time) (int64, error) {
	res, err := s.collection(consentStateCollection).DeleteMany(ctx, bson.D{{Key: "expiresAt", Value: bson.D{{Key: "$lt", Value: t.UTC()}}}})
	if err != nil {
		return 0, fmt.Errorf("delete expired consent states: %w", err)
	}
	return res.DeletedCount, nil
}

// BindTenant records that a tenant belongs to the organisation. A tenant belongs to at most one
// organisation: binding it to another returns ErrConflict. (A separate collection keyed by
// tenant, because FerretDB has no partial unique index.)
func (o OrgScope) BindTenant(ctx context.Context, tenantID string) error {
	coll := o.s.collection(tenantBindingCollection)
	_, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: tenantID}, {Key: "orgId", Value: o.org}})
	if err == nil {
		return nil
	}
	if !mongo.IsDuplicateKeyError(err) {
		return fmt.Errorf("bind tenant: %w", err)
	}
	var b struct {
		OrgID string `bson:"orgId"`
	}
	if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: tenantID}}).Decode(&b); err != nil {
		return fmt.Errorf("bind tenant: %w", err)
	}
	if b.OrgID != o.org {
		return fmt.Errorf("tenant %s is connected to another organization: %w", tenantID, ErrConflict)
	}
	return nil
}

// UnbindTenant releases the organisation's tenant.
func (o OrgScope) UnbindTenant(ctx context.Context, tenantID string) error {
	_, err := o.s.collection(tenantBindingCollection).DeleteOne(ctx, o.filter(bson.E{Key: "_id", Value: tenantID}))
	if err != nil {
		return fmt.Errorf("unbind tenant: %w", err)
	}
	return nil
}
