package store

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// What a delta round does to stored items besides writing them: tombstones for what Graph
// removed or a full round no longer found, and the series items a calendar round checks.

// Tombstone marks items deleted (Graph's @removed) and returns the Graph ids of those that were
// live. A delta announces removals of items never stored (the calendar view's delta for events
// that only left the window, any delta for ids it never sent): those are not returned, so no
// DELETED change is published for an activity that never existed. One writer per mailbox and
// scope (the syncer's lock) makes the read and the update one step.
func (o OrgScope) Tombstone(ctx context.Context, mailboxID, scope string, graphIDs []string, gen int64, now time.Time) ([]string, error) {
	if len(graphIDs) == 0 {
		return nil, nil
	}
	ids := make(bson.A, len(graphIDs))
	for i, g := range graphIDs {
		ids[i] = ItemID(o.org, mailboxID, scope, g)
	}
	coll := o.s.collection(collectionOf(scope))
	live := o.filter(bson.E{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}, bson.E{Key: "deleted", Value: false})
	cur, err := coll.Find(ctx, live, options.Find().SetProjection(bson.D{{Key: "graphId", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("tombstone %s: %w", scope, err)
	}
	var rows []struct {
		ID      string `bson:"_id"`
		GraphID string `bson:"graphId"`
	}
	if err := cur.All(ctx, &rows); err != nil {
		return nil, fmt.Errorf("tombstone %s: %w", scope, err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	found := make(bson.A, len(rows))
	gone := make([]string, len(rows))
	for i, r := range rows {
		found[i], gone[i] = r.ID, r.GraphID
	}
	_, err = coll.UpdateMany(ctx,
		o.filter(bson.E{Key: "_id", Value: bson.D{{Key: "$in", Value: found}}}, bson.E{Key: "deleted", Value: false}),
		bson.D{{Key: "$set", Value: bson.D{{Key: "deleted", Value: true}, {Key: "gen", Value: gen}, {Key: "changedAt", Value: now}}}})
	if err != nil {
		return nil, fmt.Errorf("tombstone %s: %w", scope, err)
	}
	return gone, nil
}

// Sweep tombstones the live items of a scope that the generation did not write: what a full
// resynchronisation no longer found. For a calendar window, only items starting in it.
func (o OrgScope) Sweep(ctx context.Context, mailboxID, scope string, gen int64, from, to time.Time, now time.Time) ([]string, error) {
	f := o.filter(bson.E{Key: "mailboxId", Value: mailboxID}, bson.E{Key: "scope", Value: scope},
		bson.E{Key: "deleted", Value: false}, bson.E{Key: "gen", Value: bson.D{{Key: "$lt", Value: gen}}})
	if !from.IsZero() {
		f = append(f, bson.E{Key: "start", Value: bson.D{{Key: "$gte", Value: from}, {Key: "$lt", Value: to}}})
	}
	coll := o.s.collection(collectionOf(scope))
	cur, err := coll.Find(ctx, f, options.Find().SetProjection(bson.D{{Key: "graphId", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("sweep %s: %w", scope, err)
	}
	var rows []struct {
		GraphID string `bson:"graphId"`
	}
	if err := cur.All(ctx, &rows); err != nil {
		return nil, fmt.Errorf("sweep %s: %w", scope, err)
	}
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.GraphID
	}
	return o.Tombstone(ctx, mailboxID, scope, ids, gen, now)
}

// SeriesItem is a live occurrence or exception of a recurring meeting, as stored.
type SeriesItem struct {
	SeriesID  string `bson:"seriesId"`
	GraphID   string `bson:"graphId"`
	ChangeKey string `bson:"seriesChangeKey"`
}

// SeriesItems lists the live items of the mailbox's calendar that belong to a series.
func (o OrgScope) SeriesItems(ctx context.Context, mailboxID string) ([]SeriesItem, error) {
	cur, err := o.s.collection(activityCollection).Find(ctx,
		o.filter(bson.E{Key: "mailboxId", Value: mailboxID}, bson.E{Key: "scope", Value: string(ScopeCalendar)}, bson.E{Key: "deleted", Value: false},
			bson.E{Key: "seriesId", Value: bson.D{{Key: "$exists", Value: true}}}),
		options.Find().SetProjection(bson.D{{Key: "seriesId", Value: 1}, {Key: "graphId", Value: 1}, {Key: "seriesChangeKey", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("series items: %w", err)
	}
	var out []SeriesItem
	if err := cur.All(ctx, &out); err != nil {
		return nil, fmt.Errorf("series items: %w", err)
	}
	return out, nil
}
