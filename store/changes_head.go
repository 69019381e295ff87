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

// changeHeadCollection holds each organisation's newest change number (_id: the organisation),
// raised by every write of the log. On the embedded FerretDB over SQLite every query of the
// log reads and decodes all of it (about 200 us a change with its activity; FerretDB pushes
// down only a filter of _id alone, and even that one misses its index: the index is on
// sjson->"_id", the query asks sjson->'$._id'), so a live feed's poll that finds nothing new
// would cost a read of the whole log: the head, a collection of one small document per
// organisation, says so first.
const changeHeadCollection = "changeHeads"

type changeHead struct {
	ID  string `bson:"_id"`
	Seq int64  `bson:"seq"`
	// Reserved is the last number a writer has taken (changes_shared.go), written or not:
	// numbers are taken past it. Seq, what readers go by, is raised once they are written.
	Reserved int64 `bson:"reserved,omitempty"`
}

// raiseHead records seq as the organisation's newest change number (and the numbers up to it
// as taken), unless a higher one is; it answers the numbers taken before (0 for a head from
// before reservations).
func (o OrgScope) raiseHead(ctx context.Context, seq int64) (reserved int64, err error) {
	for range 2 { // two writers' first upserts may both insert: the loser's second finds the head
		var h changeHead
		err = o.s.collection(changeHeadCollection).FindOneAndUpdate(ctx, bson.D{{Key: "_id", Value: o.org}},
			bson.D{{Key: "$max", Value: bson.D{{Key: "seq", Value: seq}, {Key: "reserved", Value: seq}}}},
			options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.Before)).Decode(&h)
		if errors.Is(err, mongo.ErrNoDocuments) { // inserted
			return 0, nil
		}
		if !mongo.IsDuplicateKeyError(err) {
			reserved = h.Reserved
			break
		}
	}
	if err != nil {
		return 0, fmt.Errorf("record the newest change: %w", err)
	}
	return reserved, nil
}

// head is the organisation's newest change number; not known for a log written before heads
// were kept (until its next change).
func (o OrgScope) head(ctx context.Context) (int64, bool, error) {
	var h changeHead
	err := o.s.collection(changeHeadCollection).FindOne(ctx, bson.D{{Key: "_id", Value: o.org}}).Decode(&h)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("read the newest change: %w", err)
	}
	return h.Seq, true, nil
}

// headTrust is how long the embedded store answers "nothing new" from an organisation's head
// alone before it looks at the log itself again: FerretDB's updates are not atomic under
// concurrency, so two processes raising the head at once may leave it a change behind (which
// this bounds the delay of); one process's own writes raise it in turn.
const headTrust = 2 * time.Second

// nothingAfter says, on FerretDB (embedded or not), from the head alone, that no change comes after
// `after`: most reads of a live feed find nothing new, and there a query of the log decodes
// all of it. Every headTrust it also asks the log, by a lookup of the next number by _id
// (FerretDB reads an _id without decoding every document; a sorted query decodes them all),
// which finds a change the head was left behind by (numbers run on without a gap, except below
// a purge's mark or a pruning, which the head is past): byLog says the log answered.
func (o OrgScope) nothingAfter(ctx context.Context, after int64) (none, byLog bool, err error) {
	if !o.s.ferret {
		return false, false, nil
	}
	o.s.headMu.Lock()
	stale := time.Since(o.s.queried[o.org]) >= headTrust
	if stale {
		o.s.queried[o.org] = time.Now()
	}
	o.s.headMu.Unlock()
	head, known, err := o.head(ctx)
	if err != nil || !known || head > after || !stale {
		return known && head <= after, false, err
	}
	taken, err := o.changeTaken(ctx, after+1)
	return !taken && err == nil, true, err
}
