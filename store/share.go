package store

import (
	"context"
	"sync/atomic"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"golang.org/x/sync/semaphore"
)

// A Share bounds the store operations that run at once on behalf of some callers: an API
// request, every request of one organization, the whole API. The store's connection pool is
// shared by everything the process does; without shares one request of 200 aliased lookups took
// all 100 pooled connections, and another organization's query and Graph's change notifications
// (which must be acknowledged within 3 s) waited behind it. A context carries the shares its
// operations must fit in (WithShare); work with none (the notification intake, delta rounds,
// scheduled jobs) is never held back by the API's.
type Share struct {
	sem *semaphore.Weighted
	ops atomic.Int64
}

// Operations counts the operations the share has admitted.
func (s *Share) Operations() int64 { return s.ops.Load() }

// NewShare allows n operations at once.
func NewShare(n int) *Share { return &Share{sem: semaphore.NewWeighted(int64(max(n, 1)))} }

type sharesKey struct{}

// WithShare returns a context whose store operations must each fit in every share given, in
// addition to those already on ctx. Shares are taken in the order they were added, the narrowest
// (a request's) first, so that an operation waiting for the API's share holds no more than its
// own request's and organization's.
func WithShare(ctx context.Context, shares ...*Share) context.Context {
	old, _ := ctx.Value(sharesKey{}).([]*Share)
	all := make([]*Share, 0, len(old)+len(shares))
	all = append(append(all, old...), shares...)
	return context.WithValue(ctx, sharesKey{}, all)
}

// admit waits until every share on ctx has room for one more operation, or ctx ends.
func admit(ctx context.Context) (release func(), err error) {
	shares, _ := ctx.Value(sharesKey{}).([]*Share)
	if len(shares) == 0 {
		return func() {}, nil
	}
	for i, s := range shares {
		if err := s.sem.Acquire(ctx, 1); err != nil {
			for _, held := range shares[:i] {
				held.sem.Release(1)
			}
			return nil, err
		}
	}
	for _, s := range shares {
		s.ops.Add(1)
	}
	return func() {
		for _, s := range shares {
			s.sem.Release(1)
		}
	}, nil
}

// coll is a collection whose operations wait for the shares on their context. A cursor's later
// batches run outside it: a page is at most a few hundred documents, read in one or two batches.
// On the embedded FerretDB a bulk write goes in commands of at most `statements` writes
// (bulk.go).
type coll struct {
	*mongo.Collection
	statements int // 0: no bound
}

// gated runs op once ctx's shares admit it.
func gated[T any](ctx context.Context, op func() (T, error)) (T, error) {
	release, err := admit(ctx)
	if err != nil {
		var zero T
		return zero, err
	}
	defer release()
	return op()
}

// gatedResult runs an operation whose error travels in its result: when ctx ends before the
// shares admit it, the driver itself fails it, at once, with ctx's error.
func gatedResult[T any](ctx context.Context, op func(context.Context) T) T {
	release, err := admit(ctx)
	if err != nil {
		return op(ctx) // ctx is done: the driver answers its error without a connection
	}
	defer release()
	return op(ctx)
}

func (c coll) Find(ctx context.Context, filter any, opts ...options.Lister[options.FindOptions]) (*mongo.Cursor, error) {
	return gated(ctx, func() (*mongo.Cursor, error) { return c.Collection.Find(ctx, filter, opts...) })
}

func (c coll) FindOne(ctx context.Context, filter any, opts ...options.Lister[options.FindOneOptions]) *mongo.SingleResult {
	return gatedResult(ctx, func(ctx context.Context) *mongo.SingleResult { return c.Collection.FindOne(ctx, filter, opts...) })
}

func (c coll) FindOneAndUpdate(ctx context.Context, filter, update any, opts ...options.Lister[options.FindOneAndUpdateOptions]) *mongo.SingleResult {
	return gatedResult(ctx, func(ctx context.Context) *mongo.SingleResult {
		return c.Collection.FindOneAndUpdate(ctx, filter, update, opts...)
	})
}

func (c coll) Distinct(ctx context.Context, field string, filter any, opts ...options.Lister[options.DistinctOptions]) *mongo.DistinctResult {
	return gatedResult(ctx, func(ctx context.Context) *mongo.DistinctResult {
		return c.Collection.Distinct(ctx, field, filter, opts...)
	})
}

func (c coll) Aggregate(ctx context.Context, pipeline any, opts ...options.Lister[options.AggregateOptions]) (*mongo.Cursor, error) {
	return gated(ctx, func() (*mongo.Cursor, error) { return c.Collection.Aggregate(ctx, pipeline, opts...) })
}

func (c coll) CountDocuments(ctx context.Context, filter any, opts ...options.Lister[options.CountOptions]) (int64, error) {
	return gated(ctx, func() (int64, error) { return c.Collection.CountDocuments(ctx, filter, opts...) })
}

func (c coll) InsertOne(ctx context.Context, doc any, opts ...options.Lister[options.InsertOneOptions]) (*mongo.InsertOneResult, error) {
	return gated(ctx, func() (*mongo.InsertOneResult, error) { return c.Collection.InsertOne(ctx, doc, opts...) })
}

func (c coll) InsertMany(ctx context.Context, docs any, opts ...options.Lister[options.InsertManyOptions]) (*mongo.InsertManyResult, error) {
	return gated(ctx, func() (*mongo.InsertManyResult, error) { return c.Collection.InsertMany(ctx, docs, opts...) })
}

func (c coll) UpdateOne(ctx context.Context, filter, update any, opts ...options.Lister[options.UpdateOneOptions]) (*mongo.UpdateResult, error) {
	return gated(ctx, func() (*mongo.UpdateResult, error) { return c.Collection.UpdateOne(ctx, filter, update, opts...) })
}

func (c coll) UpdateMany(ctx context.Context, filter, update any, opts ...options.Lister[options.UpdateManyOptions]) (*mongo.UpdateResult, error) {
	return gated(ctx, func() (*mongo.UpdateResult, error) { return c.Collection.UpdateMany(ctx, filter, update, opts...) })
}

func (c coll) ReplaceOne(ctx context.Context, filter, doc any, opts ...options.Lister[options.ReplaceOptions]) (*mongo.UpdateResult, error) {
	return gated(ctx, func() (*mongo.UpdateResult, error) { return c.Collection.ReplaceOne(ctx, filter, doc, opts...) })
}

func (c coll) DeleteOne(ctx context.Context, filter any, opts ...options.Lister[options.DeleteOneOptions]) (*mongo.DeleteResult, error) {
	return gated(ctx, func() (*mongo.DeleteResult, error) { return c.Collection.DeleteOne(ctx, filter, opts...) })
}

func (c coll) DeleteMany(ctx context.Context, filter any, opts ...options.Lister[options.DeleteManyOptions]) (*mongo.DeleteResult, error) {
	return gated(ctx, func() (*mongo.DeleteResult, error) { return c.Collection.DeleteMany(ctx, filter, opts...) })
}

func (c coll) BulkWrite(ctx context.Context, models []mongo.WriteModel, opts ...options.Lister[options.BulkWriteOptions]) (*mongo.BulkWriteResult, error) {
	if c.statements > 0 && len(models) > c.statements {
		return c.bulkInCommands(ctx, models, opts...)
	}
	return gated(ctx, func() (*mongo.BulkWriteResult, error) { return c.Collection.BulkWrite(ctx, models, opts...) })
}
