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

// APIKey is a stored API key: its secret only as a hash.
type APIKey struct {
	ID         string     `bson:"_id"`
	OrgID      string     `bson:"orgId"`
	Name       string     `bson:"name"`
	Role       string     `bson:"role"`
	Hash       []byte     `bson:"hash"`
	CreatedAt  time.Time  `bson:"createdAt"`
	ExpiresAt  *time.Time `bson:"expiresAt,omitempty"`
	RevokedAt  *time.Time `bson:"revokedAt,omitempty"`
	LastUsedAt *time.Time `bson:"lastUsedAt,omitempty"`
	// AllowedOrigins, if any, are the only web origins the key may be used from.
	AllowedOrigins []string `bson:"allowedOrigins,omitempty"`
}

// APIKeyForAuthentication reads a key by ID whatever its organisation: authentication is the
// one place that learns the organisation from the key.
func (s *Store) APIKeyForAuthentication(ctx context.Context, id string) (APIKey, error) {
	var k APIKey
	err := s.collection(apiKeysCollection).FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&k)
	if err != nil {
		return APIKey{}, notFound(err, "api key "+id)
	}
	return k, nil
}

// RecordAPIKeyUse moves each key's last-used time forward (never back), in one bulk write.
func (s *Store) RecordAPIKeyUse(ctx context.Context, used map[string]time.Time) error {
	if len(used) == 0 {
		return nil
	}
	models := make([]mongo.WriteModel, 0, len(used))
	for id, at := range used {
		models = append(models, mongo.NewUpdateOneModel().
			SetFilter(bson.D{{Key: "_id", Value: id}}).
			SetUpdate(bson.D{{Key: "$max", Value: bson.D{{Key: "lastUsedAt", Value: at.UTC()}}}}))
	}
	if _, err := s.collection(apiKeysCollection).BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false)); err != nil {
		return fmt.Errorf("record api key use: %w", err)
	}
	return nil
}

// InsertAPIKey stores a new key in the organisation.
func (o OrgScope) InsertAPIKey(ctx context.Context, k APIKey) error {
	k.OrgID = o.org
	if _, err := o.s.collection(apiKeysCollection).InsertOne(ctx, k); err != nil {
		return fmt.Errorf("insert api key: %w", err)
	}
	return nil
}

// APIKeys lists the organisation's keys, newest first.
func (o OrgScope) APIKeys(ctx context.Context) ([]APIKey, error) {
	cur, err := o.s.collection(apiKeysCollection).Find(ctx, o.filter(),
		options.Find().SetSort(bson.D{{Key: "createdAt", Value: -1}, {Key: "_id", Value: -1}}))
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	keys := []APIKey{}
	if err := cur.All(ctx, &keys); err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	return keys, nil
}

// APIKey reads one of the organisation's keys.
func (o OrgScope) APIKey(ctx context.Context, id string) (APIKey, error) {
	var k APIKey
	err := o.s.collection(apiKeysCollection).FindOne(ctx, o.filter(bson.E{Key: "_id", Value: id})).Decode(&k)
	if err != nil {
		return APIKey{}, notFound(err, "api key "+id)
	}
	return k, nil
}

// RevokeAPIKey marks one of the organisation's keys revoked at the given time, unless it is
// already; it returns the key as it now is and whether this call revoked it.
func (o OrgScope) RevokeAPIKey(ctx context.Context, id string, at time.Time) (APIKey, bool, error) {
	var k APIKey
	err := o.s.collection(apiKeysCollection).FindOneAndUpdate(ctx,
		o.filter(bson.E{Key: "_id", Value: id}, bson.E{Key: "revokedAt", Value: nil}),
		bson.D{{Key: "$set", Value: bson.D{{Key: "revokedAt", Value: at.UTC()}}}},
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&k)
	if errors.Is(err, mongo.ErrNoDocuments) {
		k, err := o.APIKey(ctx, id) // revoked already, or not the organisation's
		return k, false, err
	}
	if err != nil {
		return APIKey{}, false, fmt.Errorf("revoke api key %s: %w", id, err)
	}
	return k, true, nil
}
