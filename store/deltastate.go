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

// DeltaState is where a mailbox's delta round for one scope stands, and its health.
type DeltaState struct {
	ID            string     `bson:"_id"` // org|mailbox|scope
	OrgID         string     `bson:"orgId"`
	MailboxID     string     `bson:"mailboxId"`
	Scope         string     `bson:"scope"`
	Link          string     `bson:"link"`      // the next page's link mid-round, the delta link between rounds
	InRound       bool       `bson:"inRound"`   // Link is a nextLink
	FullRound     bool       `bson:"fullRound"` // the round in progress reads everything, and sweeps at its end
	Gen           int64      `bson:"gen"`       // raised by every full resynchronisation
	WindowFrom    time.Time  `bson:"windowFrom,omitempty"`
	WindowTo      time.Time  `bson:"windowTo,omitempty"`
	LastSuccessAt *time.Time `bson:"lastSuccessAt,omitempty"`
	LastError     string     `bson:"lastError,omitempty"`
	LastErrorAt   *time.Time `bson:"lastErrorAt,omitempty"`
	Failures      int        `bson:"failures"`
	Items         int64      `bson:"items"`
	Resyncs       int        `bson:"resyncs"`
	Throttled     int        `bson:"throttled"`
	UpdatedAt     time.Time  `bson:"updatedAt"`
	// Screened is the version of the capture policy every stored item of the scope passed
	// (set by its first round, and by each full round that read everything again); RoundPolicy
	// the version as the full round in progress began.
	Screened    int64 `bson:"screened"`
	RoundPolicy int64 `bson:"roundPolicy"`
	// The backfill, the scope's first full round (mail comes newest first): RoundItems are the
	// items the full round in progress (or the last) read, ReachedBack the oldest mail's time the
	// backfill read, BackfilledAt when it ended; Capped says Graph ended the last full round of a
	// mail folder at the most a filtered delta returns.
	RoundItems   int64      `bson:"roundItems"`
	ReachedBack  *time.Time `bson:"reachedBack,omitempty"`
	BackfilledAt *time.Time `bson:"backfilledAt,omitempty"`
	Capped       bool       `bson:"capped,omitempty"`
	// Fence is the term of the mailbox's partition lease under which the state was written: a
	// write under an older term (from a process that lost the partition) is refused.
	Fence int64 `bson:"fence,omitempty"`
}

// ErrFenced refuses a write made under a partition lease that has since changed hands.
var ErrFenced = errors.New("the mailbox's partition has moved to another process")

// DeltaState reads a mailbox's state for a scope; a zero one (with ids) if it has none.
func (o OrgScope) DeltaState(ctx context.Context, mailboxID, scope string) (DeltaState, error) {
	id := ItemID(o.org, mailboxID, scope, "")
	var st DeltaState
	err := o.s.collection(deltaStateCollection).FindOne(ctx, o.filter(bson.E{Key: "_id", Value: id})).Decode(&st)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return DeltaState{ID: id, OrgID: o.org, MailboxID: mailboxID, Scope: scope}, nil
	}
	if err != nil {
		return DeltaState{}, fmt.Errorf("read delta state: %w", err)
	}
	return st, nil
}

// SaveDeltaState writes a mailbox's state for a scope, unless it was last written under a
// higher fence (ErrFenced): the replacement matches only a state whose fence is at most the
// new one's, and otherwise its upsert collides with the state's _id.
func (o OrgScope) SaveDeltaState(ctx context.Context, st DeltaState) error {
	st.OrgID = o.org
	f := bson.D{{Key: "_id", Value: st.ID}, {Key: "$or", Value: bson.A{
		bson.D{{Key: "fence", Value: bson.D{{Key: "$exists", Value: false}}}},
		bson.D{{Key: "fence", Value: bson.D{{Key: "$lte", Value: st.Fence}}}},
	}}}
	_, err := o.s.collection(deltaStateCollection).ReplaceOne(ctx, f, st, options.Replace().SetUpsert(true))
	if mongo.IsDuplicateKeyError(err) {
		return fmt.Errorf("save delta state of %s: %w", st.ID, ErrFenced)
	}
	if err != nil {
		return fmt.Errorf("save delta state: %w", err)
	}
	return nil
}

// DeltaStates lists a mailbox's states, for its sync health (every mailbox's with "").
func (o OrgScope) DeltaStates(ctx context.Context, mailboxID string) ([]DeltaState, error) {
	f := o.filter()
	if mailboxID != "" {
		f = o.filter(bson.E{Key: "mailboxId", Value: mailboxID})
	}
	cur, err := o.s.collection(deltaStateCollection).Find(ctx, f, options.Find().SetSort(bson.D{{Key: "scope", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("list delta states: %w", err)
	}
	out := []DeltaState{}
	if err := cur.All(ctx, &out); err != nil {
		return nil, fmt.Errorf("list delta states: %w", err)
	}
	return out, nil
}

// FailingDeltaStates lists up to limit of the organisation's rounds whose last attempt failed.
func (o OrgScope) FailingDeltaStates(ctx context.Context, limit int) ([]DeltaState, error) {
	return findAll[DeltaState](ctx, o.s.collection(deltaStateCollection), "list failing delta states",
		o.filter(bson.E{Key: "failures", Value: bson.D{{Key: "$gt", Value: 0}}}), options.Find().SetLimit(int64(limit)))
}

// CountDeltaMailboxes counts the organisation's mailboxes with at least one delta round.
func (o OrgScope) CountDeltaMailboxes(ctx context.Context) (int, error) {
	var ids []string
	if err := o.s.collection(deltaStateCollection).Distinct(ctx, "mailboxId", o.filter()).Decode(&ids); err != nil {
		return 0, fmt.Errorf("count synced mailboxes: %w", err)
	}
	return len(ids), nil
}

// syncStateCollection holds an organisation's delta links of tenant-wide resources (its users delta).
const syncStateCollection = "syncStates"

// SyncState reads a delta link; "" if none.
func (o OrgScope) SyncState(ctx context.Context, key string) (string, error) {
	var doc struct {
		DeltaLink string `bson:"deltaLink"`
	}
	err := o.s.collection(syncStateCollection).FindOne(ctx, o.filter(bson.E{Key: "_id", Value: o.org + ":" + key})).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read sync state %s: %w", key, err)
	}
	return doc.DeltaLink, nil
}

// SetSyncState stores a delta link ("" forgets it).
func (o OrgScope) SetSyncState(ctx context.Context, key, deltaLink string, at time.Time) error {
	_, err := o.s.collection(syncStateCollection).UpdateOne(ctx, bson.D{{Key: "_id", Value: o.org + ":" + key}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "orgId", Value: o.org}, {Key: "deltaLink", Value: deltaLink}, {Key: "updatedAt", Value: at}}}},
		options.UpdateOne().SetUpsert(true))
	if err != nil {
		return fmt.Errorf("save sync state %s: %w", key, err)
	}
	return nil
}
