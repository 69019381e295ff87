package store

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// ErrNoChangeStreams says the database cannot watch a collection: FerretDB, or a MongoDB that
// is not a replica set.
var ErrNoChangeStreams = errors.New("the database has no change streams")

// WatchChanges follows the change log with a change stream
// (https://www.mongodb.com/docs/manual/changeStreams/): ready is called once the stream is open,
// then wrote with the organisation of every change any process writes, until ctx ends (nil) or
// the stream fails. It fails at once with ErrNoChangeStreams where there are none. The stream
// only says that something was written; the changes themselves are read by number, so their
// order and completeness never depend on it.
func (s *Store) WatchChanges(ctx context.Context, ready func(), wrote func(org string)) error {
	pipeline := mongo.Pipeline{
		{{Key: "$match", Value: bson.D{{Key: "operationType", Value: "insert"}}}},
		{{Key: "$project", Value: bson.D{{Key: "fullDocument.orgId", Value: 1}}}},
	}
	cs, err := s.collection(changeCollection).Watch(ctx, pipeline)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		if unsupported(err) {
			return fmt.Errorf("%w: %w", ErrNoChangeStreams, err)
		}
		return fmt.Errorf("watch the change log: %w", err)
	}
	defer cs.Close(context.WithoutCancel(ctx))
	ready()
	for cs.Next(ctx) {
		var ev struct {
			FullDocument struct {
				OrgID string `bson:"orgId"`
			} `bson:"fullDocument"`
		}
		if cs.Decode(&ev) == nil && ev.FullDocument.OrgID != "" {
			wrote(ev.FullDocument.OrgID)
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("watch the change log: %w", cs.Err())
}

// unsupported reports whether a server refused a change stream as something it cannot do,
// rather than failed to open one.
func unsupported(err error) bool {
	var ce mongo.CommandError
	if !errors.As(err, &ce) {
		return false
	}
	switch ce.Code {
	case 20, // IllegalOperation
		59,    // CommandNotFound
		115,   // CommandNotSupported
		238,   // NotImplemented
		40324, // Unrecognized pipeline stage name
		40573: // The $changeStream stage is only supported on replica sets
		return true
	}
	return false
}
