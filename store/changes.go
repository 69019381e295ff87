package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Change is an entry of the change log: what happened to an activity (or, for partners'
// webhooks, that a mailbox or the Team Access changed: ChangeMailbox, ChangeTeamAccess). Seq numbers an
// organisation's changes 1, 2, 3, … in the order they were written, across every process on
// the store: it is what live subscribers resume from. Every process reads the log by number,
// which is how changes reach the subscribers of all of them; a change stream (WatchChanges),
// where the database has one, only tells them when to read.
//
// A number is only ever written once the one before it is: readers never find a lower number
// appear behind a higher one. A writer alone on the log numbers after its own last; where
// several write it, each takes its numbers past the head's reservation and writes once the
// numbers before them are in the log (changes_shared.go). The unique _id (the organisation and
// the number; and the (orgId, seq) index) refuses a number another writer wrote first:
// FerretDB's findAndModify is not atomic under concurrency, so a reservation alone may hand
// the same numbers out twice.
type Change struct {
	ID         string    `bson:"_id"`
	OrgID      string    `bson:"orgId"`
	Seq        int64     `bson:"seq"`
	Type       string    `bson:"type"`
	ActivityID string    `bson:"activityId"`
	At         time.Time `bson:"at"`
	// Activity is the activity as this change left it, so that the live feed reads the log
	// alone; absent on deletions, whose tombstone the feed looks up.
	Activity *Activity `bson:"activity,omitempty"`
	// Target is what a ChangeMailbox is about, by its API id (the mailbox's global id).
	Target string `bson:"target,omitempty"`
	// Origin is the process that wrote a ChangeMailbox or ChangeTeamAccess (its lease owner
	// name): each process tells its live subscribers of the others' (its own it told at once).
	Origin string `bson:"origin,omitempty"`
	// End is the last number of the insert the change was written in: a writer whose insert
	// was refused by it writes after that (changes_shared.go).
	End int64 `bson:"end,omitempty"`
}

// OfActivity says whether the change is an activity's (not a mark, a mailbox's or the Team
// Access's).
func (c Change) OfActivity() bool {
	return c.Type != ChangeMark && c.Type != ChangeMailbox && c.Type != ChangeTeamAccess
}

// changeID is a change's _id: its organisation and number, unique as they are.
func changeID(org string, seq int64) string { return fmt.Sprintf("chg_%s_%016x", org, seq) }

// AppendChanges numbers changes after the organisation's newest and writes them, in one ordered
// bulk insert; when another writer took some of the numbers first, the rest are numbered again
// after its changes. Callers of this process that append to the organisation's log at once are
// written together (each one's changes in a row, in the order they came, up to maxAppend in
// one insert): one writer at a time in a process, so 8 rounds ending together waited for each
// other's inserts, head reads and head raises, and on a log several processes write each
// insert is a chance to collide (three processes: 210 refused inserts of 531).
func (o OrgScope) AppendChanges(ctx context.Context, cs []Change) error {
	if len(cs) == 0 {
		return nil
	}
	s := o.s
	req := &appendReq{cs: cs}
	s.changeQMu.Lock()
	s.changeQ[o.org] = append(s.changeQ[o.org], req)
	s.changeQMu.Unlock()
	s.changeMu.Lock()
	defer s.changeMu.Unlock()
	for !req.done { // written by an earlier holder of the lock, or by this one in turn
		batch := s.takeAppends(o.org)
		all := make([]Change, 0, maxAppend)
		for _, r := range batch {
			all = append(all, r.cs...)
		}
		// Others' changes too: written whatever becomes of this caller's context.
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), appendTimeout)
		err := o.appendLocked(wctx, all)
		cancel()
		k := 0
		for _, r := range batch {
			for i := range r.cs {
				r.cs[i] = all[k]
				k++
			}
			r.done, r.err = true, err
		}
	}
	return req.err
}

// appendReq is one caller's changes waiting to be appended.
type appendReq struct {
	cs   []Change
	done bool // written (or failed), set under changeMu
	err  error
}

// maxAppend bounds the changes of several callers written in one insert; appendTimeout one
// append's time.
const (
	maxAppend     = 500
	appendTimeout = time.Minute
)

// takeAppends takes the organisation's oldest waiting appends, at most maxAppend changes
// (or the first one alone if it is larger).
func (s *Store) takeAppends(org string) []*appendReq {
	s.changeQMu.Lock()
	defer s.changeQMu.Unlock()
	q := s.changeQ[org]
	n, total := 0, 0
	for n < len(q) && (n == 0 || total+len(q[n].cs) <= maxAppend) {
		total += len(q[n].cs)
		n++
	}
	if n == len(q) {
		delete(s.changeQ, org)
	} else {
		s.changeQ[org] = slices.Clone(q[n:])
	}
	return q[:n]
}

// appendLocked is AppendChanges's write, with changeMu held. While this process alone is known
// to write the organisation's log, it numbers after the last number it wrote and raises the
// head after the insert: two writes. Before it knows where the log is, and from the first
// refused insert on (another process writes the log too), appendShared numbers.
func (o OrgScope) appendLocked(ctx context.Context, cs []Change) error {
	last, known := o.s.changeSeq[o.org]
	if !known || o.s.changeShared {
		return o.appendShared(ctx, cs)
	}
	for i := range cs {
		cs[i].Seq, cs[i].End = last+int64(i)+1, last+int64(len(cs))
	}
	n, reserved, err := o.insertChanges(ctx, cs)
	if reserved > last {
		// Another writer had taken numbers past this process's last (changes_shared.go): the
		// log is shared, and this process takes its numbers as they do from now on.
		o.s.changeShared = true
	}
	if !refused(err) {
		return err
	}
	o.s.changeShared = true
	return o.appendShared(ctx, cs[n:])
}

// takenFrom is the last of the numbers taken in a row from seq (taken): another writer's batch,
// so that a writer that collided with it numbers its own after it at the next attempt instead
// of one number later each time. Numbers are looked up by _id alone (which FerretDB reads by
// its index, where a sorted query or an $in decodes the whole log): doubling steps past seq,
// then halving back to the last one taken.
func (o OrgScope) takenFrom(ctx context.Context, seq int64) (int64, error) {
	lo, hi := seq, int64(0) // lo is taken; hi is the first number found free
	for step := int64(1); ; step *= 2 {
		ok, err := o.changeTaken(ctx, seq+step)
		if err != nil {
			return 0, err
		}
		if !ok {
			hi = seq + step
			break
		}
		lo = seq + step
	}
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		ok, err := o.changeTaken(ctx, mid)
		if err != nil {
			return 0, err
		}
		if ok {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo, nil
}

// WriteChanges writes changes numbered already, in order, and raises the head to the last.
func (o OrgScope) WriteChanges(ctx context.Context, cs []Change) error {
	_, _, err := o.insertChanges(ctx, cs)
	return err
}

// insertChanges writes changes numbered already in one ordered insert, raises the head past
// those written and adds them to the tail; n is how many were written (all but when err says
// which one was refused), reserved the numbers taken before (raiseHead).
func (o OrgScope) insertChanges(ctx context.Context, cs []Change) (n int, reserved int64, err error) {
	docs := make([]any, len(cs))
	for i := range cs {
		cs[i].OrgID, cs[i].ID = o.org, changeID(o.org, cs[i].Seq)
		docs[i] = cs[i]
	}
	step := len(docs)
	if o.s.ferret {
		step = ferretInsertBatch
	}
	for n < len(docs) {
		part := docs[n:min(n+step, len(docs))]
		_, err = o.s.collection(changeCollection).InsertMany(ctx, part, options.InsertMany().SetOrdered(true))
		if err != nil {
			var bw mongo.BulkWriteException
			if errors.As(err, &bw) && len(bw.WriteErrors) > 0 {
				n += bw.WriteErrors[0].Index // those before the refused one were written
			}
			break
		}
		n += len(part)
	}
	o.extendTail(cs[:n])
	if n > 0 { // read by the embedded stores (another process's may share this database)
		o.s.changeSeq[o.org] = cs[n-1].Seq
		var herr error
		if reserved, herr = o.raiseHead(ctx, cs[n-1].Seq); herr != nil && err == nil {
			return n, reserved, herr
		}
	}
	if err != nil {
		return n, reserved, fmt.Errorf("append changes: %w", err)
	}
	return n, reserved, nil
}

// ferretInsertBatch is the most documents FerretDB 1.24 inserts as one batch (its handler's
// BatchSize). An ordered insert of more is ordered only within each batch: after a refused
// document it goes on with the next batch (handler/msg_insert.go, MsgInsert), so an append that
// met another writer's numbers wrote changes past a number it did not write, and wrote them
// again when it numbered the rest anew. In the three-process backfill that ended in 100
// refused attempts in 6 s and failed rounds, retried 15-30 s later: a run of 52 s instead of
// 14. So on FerretDB the log's inserts go 100 at a time, each once the one before is whole.
const ferretInsertBatch = 100

// refused says whether err is an insert of the log refused because another writer had taken
// a number first.
func refused(err error) bool {
	var bw mongo.BulkWriteException
	return errors.As(err, &bw) && len(bw.WriteErrors) > 0 && bw.WriteErrors[0].Code == 11000
}

// ChangesAfter reads up to limit changes of the organisation numbered after a sequence number,
// in order.
func (o OrgScope) ChangesAfter(ctx context.Context, after int64, limit int) ([]Change, error) {
	if cs, ok, err := o.fromTail(ctx, after, limit); ok || err != nil {
		return cs, err
	}
	gen := o.s.tailGeneration()
	if none, byLog, err := o.nothingAfter(ctx, after); none || err != nil {
		if none && byLog {
			o.keepTail(gen, after, limit, nil) // the log's end, as a query would have said
		}
		return nil, err
	}
	f := append(o.filter(), bson.E{Key: "seq", Value: bson.D{{Key: "$gt", Value: after}}})
	cs, err := findAll[Change](ctx, o.s.collection(changeCollection), "read changes", f,
		options.Find().SetSort(bson.D{{Key: "seq", Value: 1}}).SetLimit(int64(limit)))
	if err == nil {
		o.keepTail(gen, after, limit, cs)
	}
	return cs, err
}

// PruneChanges deletes the change log's entries, of every organisation, older than a time:
// subscribers can resume within that window. Each organisation's newest change stays, however
// old, so that numbering goes on after it.
func (s *Store) PruneChanges(ctx context.Context, before time.Time) (int64, error) {
	old := bson.D{{Key: "at", Value: bson.D{{Key: "$lt", Value: before}}}}
	res := s.collection(changeCollection).Distinct(ctx, "orgId", old)
	var orgs []string
	if err := res.Decode(&orgs); err != nil {
		return 0, fmt.Errorf("prune changes: %w", err)
	}
	var total int64
	for _, org := range orgs {
		last, err := s.Org(org).LastChangeSeq(ctx)
		if err != nil {
			return total, err
		}
		n, err := s.deleteInBatches(ctx, changeCollection, bson.D{{Key: "orgId", Value: org}, old[0], {Key: "seq", Value: bson.D{{Key: "$lt", Value: last}}}})
		s.dropTail(org)
		total += n
		if err != nil {
			return total, fmt.Errorf("prune changes: %w", err)
		}
	}
	return total, nil
}

// ChangeMark is the type of a change log entry that only keeps the numbering's place: the
// newest change of a purged organisation. Readers skip it.
const ChangeMark = "MARK"

// ChangeMailbox and ChangeTeamAccess are change log entries that say a mailbox's access or
// capture changed, or the organisation's Team Access did, for the partners' webhooks on
// mailboxChanged and teamAccessChanged (which resume from the log as activityChanged's do).
// They carry no snapshot: a delivery reads the mailbox or the Team Access as it is then.
// Activity readers skip them.
const (
	ChangeMailbox    = "MAILBOX"
	ChangeTeamAccess = "TEAM_ACCESS"
)

// clearChanges deletes an organisation's change log, leaving a mark with the newest number so
// that numbering goes on after it (a subscriber connected meanwhile would otherwise wait for
// numbers it has passed).
func (o OrgScope) clearChanges(ctx context.Context) error {
	last, err := o.LastChangeSeq(ctx)
	if err != nil {
		return err
	}
	o.s.changeMu.Lock()
	defer o.s.changeMu.Unlock()
	delete(o.s.changeSeq, o.org)
	_, err = o.s.deleteInBatches(ctx, changeCollection, o.filter())
	o.s.dropTail(o.org)
	if err != nil {
		return fmt.Errorf("delete changes: %w", err)
	}
	if last == 0 {
		return nil
	}
	return o.WriteChanges(ctx, []Change{{Seq: last, Type: ChangeMark, At: time.Now().UTC()}})
}

// LastChangeSeq is the number of the organisation's newest change, 0 when it has none.
func (o OrgScope) LastChangeSeq(ctx context.Context) (int64, error) {
	if o.s.ferret {
		if head, known, err := o.head(ctx); err != nil || known {
			return head, err
		}
	}
	return o.lastChangeSeqInLog(ctx)
}

// lastChangeSeqInLog is LastChangeSeq read from the log itself (on the embedded store, a read
// of all of it).
func (o OrgScope) lastChangeSeqInLog(ctx context.Context) (int64, error) {
	var c Change
	err := o.s.collection(changeCollection).FindOne(ctx, o.filter(), options.FindOne().SetSort(bson.D{{Key: "seq", Value: -1}})).Decode(&c)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read changes: %w", err)
	}
	return c.Seq, nil
}
