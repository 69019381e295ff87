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

// A change log that several processes write: numbered the way they do without meeting each
// other's inserts at each append.
//
// Numbering after the head as read, each writer met the insert of another under way: the head
// was raised only after it (in the three-process backfill bench, 56 of 99 inserts of one
// process refused, each followed by a search for where the log was, and appends of up to
// 2.4 s while the rounds of the process waited for them). So a writer first takes its numbers
// past the head's reservation (an $inc of it, which answers the reservation it made), which the
// next writer takes its own after at once; then waits until the number before its own is in
// the log, which keeps the rule every reader relies on: a number is written only once the one
// before it is; then inserts. FerretDB's findAndModify is not atomic under concurrency, so two
// writers may still take the same numbers: the unique _id refuses the second insert, and its
// writer numbers after the end of the insert it met (End, in every change), which always
// covers the numbers it had taken, so that no writer waits for numbers that will not come.
//
// A writer that took numbers and stopped before writing them (its process died) would hold
// every later writer up: after changeWait the next one fills them with marks (a writer that
// was only slow finds its numbers taken, and numbers its changes again after these).
const defaultChangeWait = 5 * time.Second

// maxFill bounds the marks a writer writes for numbers another writer took and did not write.
const maxFill = 100 * maxAppend

// appendShared is appendLocked where another process may write the log.
func (o OrgScope) appendShared(ctx context.Context, cs []Change) error {
	// after is -1 for numbers past the head's reservation, or the end of an insert that refused
	// this writer's (its numbers come after it, for they must reach `owe`: the last number
	// this writer took, which later writers may be waiting for).
	after, owe := int64(-1), int64(0)
	for attempt := 0; ; attempt++ {
		var wait, written int64 // the number to be in the log first; the head's, written
		if after < 0 {
			var err error
			if wait, written, err = o.reserve(ctx, len(cs)); err != nil {
				return err
			}
		} else {
			wait = after
			if err := o.raiseReserved(ctx, after+int64(len(cs))); err != nil {
				return err
			}
		}
		fill, err := o.await(ctx, wait, written)
		if err != nil {
			return err
		}
		end := wait + int64(len(cs))
		owe = max(owe, end)
		for i := range cs {
			cs[i].Seq, cs[i].End = wait+int64(i)+1, end
		}
		for i := range fill {
			fill[i].End = end
		}
		all := append(fill, cs...)
		n, _, err := o.insertChanges(ctx, all)
		copy(cs, all[len(fill):])
		if !refused(err) || attempt == 100 {
			return err
		}
		// Another writer had the same numbers (FerretDB's $inc is not atomic) or numbered
		// without taking them (it had not met another writer yet).
		cs = cs[max(0, n-len(fill)):]
		if after, err = o.endAt(ctx, all[n].Seq); err != nil {
			return err
		}
		if after >= owe {
			after = -1 // the numbers this writer took are written: new ones
		}
	}
}

// reserve takes n numbers past the head's reservation: the change before them is `after`;
// written is the head's newest change written.
func (o OrgScope) reserve(ctx context.Context, n int) (after, written int64, err error) {
	var h changeHead
	for range 2 { // two writers' first upserts may both insert: the loser's second finds the head
		err = o.s.collection(changeHeadCollection).FindOneAndUpdate(ctx, bson.D{{Key: "_id", Value: o.org}},
			bson.D{{Key: "$inc", Value: bson.D{{Key: "reserved", Value: n}}}},
			options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.After)).Decode(&h)
		if !mongo.IsDuplicateKeyError(err) {
			break
		}
	}
	if err != nil {
		return 0, 0, fmt.Errorf("take change numbers: %w", err)
	}
	after = h.Reserved - int64(n)
	if after < h.Seq { // the reservation lags what is written (a head from before reservations)
		after = h.Seq
		if err := o.raiseReserved(ctx, after+int64(n)); err != nil {
			return 0, 0, err
		}
	}
	return after, h.Seq, nil
}

// raiseReserved takes the numbers up to seq, unless a higher one is taken.
func (o OrgScope) raiseReserved(ctx context.Context, seq int64) error {
	_, err := o.s.collection(changeHeadCollection).UpdateOne(ctx, bson.D{{Key: "_id", Value: o.org}},
		bson.D{{Key: "$max", Value: bson.D{{Key: "reserved", Value: seq}}}})
	if err != nil {
		return fmt.Errorf("take change numbers: %w", err)
	}
	return nil
}

// await waits until change number seq is in the log (written: the head says the numbers up to
// it are). When it does not come within changeWait, it answers marks for the numbers from the
// log's end to seq, to write before this writer's changes.
func (o OrgScope) await(ctx context.Context, seq, written int64) ([]Change, error) {
	if mine, ok := o.s.changeSeq[o.org]; seq <= 0 || seq <= written || ok && seq <= mine {
		return nil, nil // this process's own, or written as the head says
	}
	deadline := time.Now().Add(o.s.changeWait)
	for delay := time.Millisecond; ; delay = min(2*delay, 20*time.Millisecond) {
		ok, err := o.changeTaken(ctx, seq)
		if err != nil || ok {
			return nil, err
		}
		if time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(delay):
		}
	}
	end, err := o.logEnd(ctx, written)
	if err != nil {
		return nil, err
	}
	if seq-end > maxFill {
		return nil, fmt.Errorf("append changes: change %d never came, nor the %d before it", seq, seq-end)
	}
	o.s.log.Warn("change numbers taken and not written: filled", "organization", o.org, "from", end+1, "to", seq)
	fill := make([]Change, 0, seq-end)
	for k := end + 1; k <= seq; k++ {
		fill = append(fill, Change{Seq: k, Type: ChangeMark, At: time.Now().UTC()})
	}
	return fill, nil
}

// logEnd is the number of the log's newest change: found from a number known to be in it (this
// process's last, or the head's written) by lookups of _id, or, knowing none, by a sorted read.
func (o OrgScope) logEnd(ctx context.Context, written int64) (int64, error) {
	from := written
	if mine, ok := o.s.changeSeq[o.org]; ok {
		from = max(from, mine)
	}
	if from > 0 {
		if ok, err := o.changeTaken(ctx, from); err != nil || ok {
			if err != nil {
				return 0, err
			}
			return o.takenFrom(ctx, from)
		}
	}
	return o.lastChangeSeqInLog(ctx)
}

// endAt is where the insert of change seq (which refused another) ends: its End, or for a
// change written before changes had one, the last of the numbers taken in a row from it.
func (o OrgScope) endAt(ctx context.Context, seq int64) (int64, error) {
	var c struct {
		End int64 `bson:"end"`
	}
	err := o.s.collection(changeCollection).FindOne(ctx, bson.D{{Key: "_id", Value: changeID(o.org, seq)}},
		options.FindOne().SetProjection(bson.D{{Key: "end", Value: 1}})).Decode(&c)
	switch {
	case errors.Is(err, mongo.ErrNoDocuments): // gone since (a purge): after the log's end
		return o.logEnd(ctx, 0)
	case err != nil:
		return 0, fmt.Errorf("read changes: %w", err)
	case c.End >= seq:
		return c.End, nil
	}
	return o.takenFrom(ctx, seq)
}
