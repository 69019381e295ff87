package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// mailboxGenCollection holds, per organisation, a generation its every mailbox write raises
// (_id: the organisation, gen): the polls of the mailboxes (probes due, rounds due, the
// subscriptions to keep) read it, one small document, and the organisation's mailboxes only
// when it moved. FerretDB decodes every document a query's range leaves, 0.2 ms each: a poll
// of 300 mailboxes cost 50-70 ms of CPU, several times a second in every process; on MongoDB
// the rounds and the subscriptions to keep were still a read of every captured mailbox.
const mailboxGenCollection = "mailboxGenerations"

// snapshotMaxAge bounds how long a snapshot serves without a re-read, whatever the generation
// says: a writer whose write landed but whose raise of the generation failed (or a process of
// a release before generations) is seen within it.
const snapshotMaxAge = time.Minute

// mailboxSnapshot is an organisation's live mailboxes as this process last read them.
type mailboxSnapshot struct {
	gen  int64
	read time.Time
	live []Mailbox // by display name, then _id (as Mailboxes lists them)
}

// mailboxesDocID names the document of the meta collection whose generation every raise of an
// organisation's mailbox generation replaces, after it: the probe poll (twice a second)
// reads it, one small document, and every organisation's generation only when it moved, so
// that a poll costs the same however many organisations there are.
const mailboxesDocID = "mailboxes"

// raiseMailboxGen records that the organisation's mailboxes changed; every writer of the
// mailbox collection calls it after its write (a reader that read the generation before the
// raise re-reads at its next poll). The store-wide generation is a new random number
// (replaceGen).
func (o OrgScope) raiseMailboxGen(ctx context.Context) error {
	_, err := o.s.collection(mailboxGenCollection).UpdateOne(ctx, bson.D{{Key: "_id", Value: o.org}},
		bson.D{{Key: "$inc", Value: bson.D{{Key: "gen", Value: int64(1)}}}}, options.UpdateOne().SetUpsert(true))
	if err == nil {
		err = replaceGen(ctx, o.s.collection(metaCollection), mailboxesDocID)
	}
	if err != nil {
		return fmt.Errorf("record a mailbox change: %w", err)
	}
	return nil
}

// orgGen is an organisation's mailbox generation as the probe poll lists them.
type orgGen struct {
	Org string `bson:"_id"`
	Gen int64  `bson:"gen"`
}

// mailboxGen reads the organisation's mailbox generation; 0 when it has none.
func (o OrgScope) mailboxGen(ctx context.Context) (int64, error) {
	var doc struct {
		Gen int64 `bson:"gen"`
	}
	err := o.s.collection(mailboxGenCollection).FindOne(ctx, bson.D{{Key: "_id", Value: o.org}}).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read the mailbox generation: %w", err)
	}
	return doc.Gen, nil
}

// LiveMailboxes are the organisation's live (not deleted) mailboxes, by display name: what the
// polls read. They come from this process's snapshot while the organisation's mailbox
// generation is the one it was read at (one read of a small document), and are read afresh
// otherwise. The caller may change the slice it gets.
func (o OrgScope) LiveMailboxes(ctx context.Context) ([]Mailbox, error) {
	gen, err := o.mailboxGen(ctx)
	if err != nil {
		return nil, err
	}
	return o.liveAt(ctx, gen)
}

// liveAt is LiveMailboxes at a generation read before.
func (o OrgScope) liveAt(ctx context.Context, gen int64) ([]Mailbox, error) {
	s := o.s
	s.snapMu.Lock()
	snap, ok := s.snaps[o.org]
	s.snapMu.Unlock()
	if ok && gen != 0 && snap.gen == gen && time.Since(snap.read) < snapshotMaxAge {
		return slices.Clone(snap.live), nil
	}
	read := time.Now()
	live, err := findAll[Mailbox](ctx, s.collection(mailboxCollection), "list mailboxes", o.filter(bson.E{Key: "deleted", Value: false}))
	if err != nil {
		return nil, err
	}
	// Sorted here: FerretDB sorts by decoding the range again.
	slices.SortFunc(live, func(a, b Mailbox) int {
		return cmp.Or(cmp.Compare(a.DisplayName, b.DisplayName), cmp.Compare(a.ID, b.ID))
	})
	s.snapMu.Lock()
	if cur, ok := s.snaps[o.org]; !ok || cur.gen <= gen {
		s.snaps[o.org] = mailboxSnapshot{gen: gen, read: read, live: live}
	}
	s.snapMu.Unlock()
	return slices.Clone(live), nil
}

// dueIn are the mailboxes of live whose probe is due by now, in the partitions (nil: all),
// soonest first, at most limit (0: all).
func dueIn(live []Mailbox, now time.Time, partitions []int, limit int) []Mailbox {
	var due []Mailbox
	for _, m := range live {
		if !m.NextCheckAt.After(now) && (partitions == nil || slices.Contains(partitions, m.Partition)) {
			due = append(due, m)
		}
	}
	slices.SortStableFunc(due, func(a, b Mailbox) int { return a.NextCheckAt.Compare(b.NextCheckAt) })
	if limit > 0 && len(due) > limit {
		due = due[:limit]
	}
	return due
}

// orgsDueFromSnapshots is OrgsWithMailboxesDue on FerretDB: one read of every organisation's
// generation, and of the mailboxes of those whose generation moved.
func (s *Store) orgsDueFromSnapshots(ctx context.Context, now time.Time, partitions []int) ([]string, error) {
	gens, err := s.listOrgGens(ctx)
	if err != nil {
		return nil, err
	}
	var orgs []string
	for _, g := range gens {
		live, err := s.Org(g.Org).liveAt(ctx, g.Gen)
		if err != nil {
			return nil, err
		}
		if len(dueIn(live, now, partitions, 1)) > 0 {
			orgs = append(orgs, g.Org)
		}
	}
	return orgs, nil
}

// listOrgGens is every organisation's mailbox generation: as listed at the last poll while the
// store-wide generation is the one read before that list, listed afresh otherwise (genList).
func (s *Store) listOrgGens(ctx context.Context) ([]orgGen, error) {
	return s.orgGens.get(ctx, s, mailboxesDocID, func(ctx context.Context) ([]orgGen, error) {
		return findAll[orgGen](ctx, s.collection(mailboxGenCollection), "list mailbox generations", bson.D{})
	})
}

// generateMailboxes gives every organisation with mailboxes its mailbox generation (migration
// 5): the polls find organisations by their generations.
func generateMailboxes(ctx context.Context, db *mongo.Database) error {
	res := db.Collection(mailboxCollection).Distinct(ctx, "orgId", bson.D{})
	var orgs []string
	if err := res.Decode(&orgs); err != nil {
		return fmt.Errorf("list organisations with mailboxes: %w", err)
	}
	for _, org := range orgs {
		_, err := db.Collection(mailboxGenCollection).UpdateOne(ctx, bson.D{{Key: "_id", Value: org}},
			bson.D{{Key: "$inc", Value: bson.D{{Key: "gen", Value: int64(1)}}}}, options.UpdateOne().SetUpsert(true))
		if err != nil {
			return fmt.Errorf("record mailbox generation: %w", err)
		}
	}
	if err := replaceGen(ctx, db.Collection(metaCollection), mailboxesDocID); err != nil {
		return fmt.Errorf("record mailbox generation: %w", err)
	}
	return nil
}
