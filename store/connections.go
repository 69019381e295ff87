package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// connectionsDocID names the document of the meta collection whose generation every write of
// a connection (teamAccess) replaces: the polls of the connected organisations (discovery,
// probes, rounds due, subscription upkeep, re-verification) read it, one small document, and
// every connection only when it moved. Discovery polls twice a second, so that a consent
// another process took is discovered here, where its tenant's partition is held, within half a
// second rather than two (three processes' backfill of 300 mailboxes waited up to 2 s of its
// 8-10 s for it); with hundreds of tenants, a read of every connection twice a second in every
// process would cost more than the work.
const connectionsDocID = "connections"

// raiseConnectionsGen records that a connection changed.
func (s *Store) raiseConnectionsGen(ctx context.Context) error {
	if err := replaceGen(ctx, s.collection(metaCollection), connectionsDocID); err != nil {
		return fmt.Errorf("record a connection change: %w", err)
	}
	return nil
}

// replaceGen gives a generation document of the meta collection a new random number rather
// than a count: FerretDB applies $inc as a read and a write, so two writers' raises could leave
// the count where one of them put it, and a reader that had read that value would miss the
// other write; a new number differs from any a reader has read.
func replaceGen(ctx context.Context, meta interface {
	UpdateOne(context.Context, any, any, ...options.Lister[options.UpdateOneOptions]) (*mongo.UpdateResult, error)
}, docID string) error {
	_, err := meta.UpdateOne(ctx, bson.D{{Key: "_id", Value: docID}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "gen", Value: rand.Int64()}}}}, options.UpdateOne().SetUpsert(true))
	return err
}

// metaGen reads a generation document of the meta collection; 0 when it was never raised.
func (s *Store) metaGen(ctx context.Context, docID string) (int64, error) {
	var doc struct {
		Gen int64 `bson:"gen"`
	}
	err := s.collection(metaCollection).FindOne(ctx, bson.D{{Key: "_id", Value: docID}}).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read the generation of %s: %w", docID, err)
	}
	return doc.Gen, nil
}

// ConnectedTeamAccess lists every organisation's connection that has a tenant, for the
// scheduled jobs. It comes from this process's snapshot while the connections' generation is
// the one it was read at (one read of a small document) and the snapshot is younger than
// snapshotMaxAge (a writer whose raise failed, or a process of a release before generations, is
// seen within it); it is read afresh otherwise. The caller may change what it gets.
func (s *Store) ConnectedTeamAccess(ctx context.Context) ([]TeamAccess, error) {
	all, err := s.conns.get(ctx, s, connectionsDocID, func(ctx context.Context) ([]TeamAccess, error) {
		return findAll[TeamAccess](ctx, s.collection(teamAccessCollection), "list connections",
			bson.D{{Key: "tenantId", Value: bson.D{{Key: "$exists", Value: true}}}})
	})
	if err != nil {
		return nil, err
	}
	out := slices.Clone(all)
	for i := range out {
		out[i].Granted = slices.Clone(out[i].Granted)
	}
	return out, nil
}

// genList is a list read from the database and kept while a generation document of the meta
// collection is the one read before it, for at most snapshotMaxAge (a writer whose raise
// failed, or a process of a release before generations, is seen within it).
type genList[T any] struct {
	mu   sync.Mutex
	gen  int64
	read time.Time
	all  []T
}

// get is the list: kept while the generation in docID is unchanged, loaded afresh otherwise.
// The generation is read before the list: a write that lands after this read raises the
// generation after it too, and the next call loads again. What it returns is shared: callers
// must not change it.
func (l *genList[T]) get(ctx context.Context, s *Store, docID string, load func(context.Context) ([]T, error)) ([]T, error) {
	gen, err := s.metaGen(ctx, docID)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	last, lastGen, lastRead := l.all, l.gen, l.read
	l.mu.Unlock()
	if !lastRead.IsZero() && lastGen == gen && time.Since(lastRead) < snapshotMaxAge {
		return last, nil
	}
	read := time.Now()
	all, err := load(ctx)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	if l.read.Before(read) { // not over a later load that ended first
		l.gen, l.read, l.all = gen, read, all
	}
	l.mu.Unlock()
	return all, nil
}
