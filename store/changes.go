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

// Change is an entry of the change log: what happened to an activity, in the order it was
// stored. Its _id ("chg_" and a time-ordered ObjectID) is the cursor live subscribers resume
// from; the log is polled by every process, which is how changes reach the subscribers of all of
// them (FerretDB has no change streams).
type Change struct {
	ID         string    `bson:"_id"`
	OrgID      string    `bson:"orgId"`
	Type       string    `bson:"type"`
	ActivityID string    `bson:"activityId"`
	At         time.Time `bson:"at"`
	// Activity is the activity as this change left it, so that the live feed reads the log
	// alone; absent on deletions, whose tombstone the feed looks up.
	Activity *Activity `bson:"activity,omitempty"`
}

// NewChangeID is a time-ordered change id.
func NewChangeID() string { return "chg_" + bson.NewObjectID().Hex() }

// AppendChanges writes change log entries in one bulk insert.
//
// It gives the changes their ids itself, and in this process no id is handed out while an
// earlier one is not yet written: a poller that has read past an id never finds a smaller one
// later (concurrent syncs would otherwise commit out of id order, and the poller would skip the
// late one). The insert is ordered for the same reason.
func (o OrgScope) AppendChanges(ctx context.Context, cs []Change) error {
	if len(cs) == 0 {
		return nil
	}
	o.s.changeMu.Lock()
	defer o.s.changeMu.Unlock()
	docs := make([]any, len(cs))
	for i := range cs {
		cs[i].OrgID, cs[i].ID = o.org, NewChangeID()
		docs[i] = cs[i]
	}
	if _, err := o.s.collection(changeCollection).InsertMany(ctx, docs, options.InsertMany().SetOrdered(true)); err != nil {
		return fmt.Errorf("append changes: %w", err)
	}
	return nil
}

// ChangesAfter reads up to limit changes of the organisation after a cursor, oldest first.
func (o OrgScope) ChangesAfter(ctx context.Context, after string, limit int) ([]Change, error) {
	f := o.filter()
	if after != "" {
		f = append(f, bson.E{Key: "_id", Value: bson.D{{Key: "$gt", Value: after}}})
	}
	cur, err := o.s.collection(changeCollection).Find(ctx, f, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, fmt.Errorf("read changes: %w", err)
	}
	out := []Change{}
	if err := cur.All(ctx, &out); err != nil {
		return nil, fmt.Errorf("read changes: %w", err)
	}
	return out, nil
}

// PruneChanges deletes the change log's entries, of every organisation, older than a time:
// subscribers can resume within that window.
func (s *Store) PruneChanges(ctx context.Context, before time.Time) (int64, error) {
	n, err := s.deleteInBatches(ctx, changeCollection, bson.D{{Key: "at", Value: bson.D{{Key: "$lt", Value: before}}}})
	if err != nil {
		return n, fmt.Errorf("prune changes: %w", err)
	}
	return n, nil
}

// LastChangeID is the newest change of the organisation's log, "" when it is empty.
func (o OrgScope) LastChangeID(ctx context.Context) (string, error) {
	var c Change
	err := o.s.collection(changeCollection).FindOne(ctx, o.filter(), options.FindOne().SetSort(bson.D{{Key: "_id", Value: -1}})).Decode(&c)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read changes: %w", err)
	}
	return c.ID, nil
}
