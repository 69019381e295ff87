package store

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// AuditEntry records one administrative action.
type AuditEntry struct {
	// ID orders entries by time: "aud_" and a MongoDB ObjectID in hex.
	ID         string    `bson:"_id"`
	OrgID      string    `bson:"orgId"`
	At         time.Time `bson:"at"`
	ActorKeyID string    `bson:"actorKeyId,omitempty"`
	ActorName  string    `bson:"actorName"`
	Action     string    `bson:"action"`
	TargetID   string    `bson:"targetId,omitempty"`
	Summary    string    `bson:"summary"`
}

// NewAuditID returns a new, time-ordered audit entry ID.
func NewAuditID() string { return "aud_" + bson.NewObjectID().Hex() }

// AppendAudit records an action in the organisation's audit log.
func (o OrgScope) AppendAudit(ctx context.Context, e AuditEntry) error {
	e.OrgID = o.org
	if e.ID == "" {
		e.ID = NewAuditID()
	}
	if _, err := o.s.collection(auditCollection).InsertOne(ctx, e); err != nil {
		return fmt.Errorf("append audit entry: %w", err)
	}
	return nil
}

// AuditLog returns up to limit entries older than the entry `before` (all if empty), newest
// first.
func (o OrgScope) AuditLog(ctx context.Context, limit int, before string) ([]AuditEntry, error) {
	f := o.filter()
	if before != "" {
		f = o.filter(bson.E{Key: "_id", Value: bson.D{{Key: "$lt", Value: before}}})
	}
	cur, err := o.s.collection(auditCollection).Find(ctx, f,
		options.Find().SetSort(bson.D{{Key: "_id", Value: -1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	entries := []AuditEntry{}
	if err := cur.All(ctx, &entries); err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	return entries, nil
}

// AuditEntry reads one of the organisation's audit entries.
func (o OrgScope) AuditEntry(ctx context.Context, id string) (AuditEntry, error) {
	var e AuditEntry
	err := o.s.collection(auditCollection).FindOne(ctx, o.filter(bson.E{Key: "_id", Value: id})).Decode(&e)
	if err != nil {
		return AuditEntry{}, notFound(err, "audit entry "+id)
	}
	return e, nil
}

// deleteBatch bounds a DeleteMany: FerretDB's SQLite backend fails on very large ones.
const deleteBatch = 1000

// DeleteAuditBefore removes entries of every organisation older than t, in batches, and says
// how many it removed.
func (s *Store) DeleteAuditBefore(ctx context.Context, t time.Time) (int64, error) {
	n, err := s.deleteInBatches(ctx, auditCollection, bson.D{{Key: "at", Value: bson.D{{Key: "$lt", Value: t.UTC()}}}})
	if err != nil {
		return n, fmt.Errorf("delete expired audit entries: %w", err)
	}
	return n, nil
}

// deleteInBatches deletes what a filter selects, deleteBatch documents at a time, and says how
// many it deleted.
func (s *Store) deleteInBatches(ctx context.Context, name string, filter bson.D) (int64, error) {
	coll := s.collection(name)
	var total int64
	for {
		cur, err := coll.Find(ctx, filter, options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}).SetLimit(deleteBatch))
		if err != nil {
			return total, err
		}
		var ids []struct {
			ID any `bson:"_id"` // strings or ObjectIDs, as the collection has them
		}
		if err := cur.All(ctx, &ids); err != nil {
			return total, err
		}
		if len(ids) == 0 {
			return total, nil
		}
		in := make(bson.A, len(ids))
		for i, d := range ids {
			in[i] = d.ID
		}
		res, err := coll.DeleteMany(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: in}}}})
		if err != nil {
			return total, err
		}
		total += res.DeletedCount
		if len(ids) < deleteBatch {
			return total, nil
		}
	}
}
