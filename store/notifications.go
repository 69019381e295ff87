package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
)

const (
	graphSubscriptionCollection = "graphSubscriptions"
	inboxCollection             = "notificationInbox"
)

// GraphSubscription is a Microsoft Graph change-notification subscription teamaccess keeps for
// one delta scope of one mailbox (mail:inbox, calendar, contacts, …), and its health.
type GraphSubscription struct {
	ID        string `bson:"_id"` // org|mailbox|scope
	OrgID     string `bson:"orgId"`
	TenantID  string `bson:"tenantId"`
	MailboxID string `bson:"mailboxId"`
	Scope     string `bson:"scope"`
	// SubscriptionID is Graph's id; empty until Graph has created it.
	SubscriptionID string `bson:"subscriptionId"`
	// ClientStateHash is SHA-256 of the subscription's clientState: the secret itself is not kept.
	ClientStateHash []byte    `bson:"clientStateHash,omitempty"`
	ExpiresAt       time.Time `bson:"expiresAt,omitempty"`
	// NextAttemptAt is when a failed creation or renewal is tried again.
	NextAttemptAt      time.Time  `bson:"nextAttemptAt"`
	Failures           int        `bson:"failures"`
	LastError          string     `bson:"lastError,omitempty"`
	LastErrorAt        *time.Time `bson:"lastErrorAt,omitempty"`
	CreatedAt          *time.Time `bson:"createdAt,omitempty"`
	RenewedAt          *time.Time `bson:"renewedAt,omitempty"`
	LastLifecycleEvent string     `bson:"lastLifecycleEvent,omitempty"`
	UpdatedAt          time.Time  `bson:"updatedAt"`
}

// SaveGraphSubscription writes a subscription record.
func (s *Store) SaveGraphSubscription(ctx context.Context, g GraphSubscription) error {
	_, err := s.collection(graphSubscriptionCollection).ReplaceOne(ctx, bson.D{{Key: "_id", Value: g.ID}}, g, options.Replace().SetUpsert(true))
	if err != nil {
		return fmt.Errorf("save graph subscription: %w", err)
	}
	return nil
}

// DeleteGraphSubscription removes a subscription record.
func (s *Store) DeleteGraphSubscription(ctx context.Context, id string) error {
	if _, err := s.collection(graphSubscriptionCollection).DeleteOne(ctx, bson.D{{Key: "_id", Value: id}}); err != nil {
		return fmt.Errorf("delete graph subscription: %w", err)
	}
	return nil
}

// GraphSubscriptionsByID reads subscription records by their ids (org|mailbox|scope).
func (s *Store) GraphSubscriptionsByID(ctx context.Context, ids []string) (map[string]GraphSubscription, error) {
	rs, err := s.findGraphSubscriptions(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}})
	if err != nil {
		return nil, err
	}
	out := make(map[string]GraphSubscription, len(rs))
	for _, r := range rs {
		out[r.ID] = r
	}
	return out, nil
}

// GraphSubscriptionsBySubscriptionID reads the records of Graph subscription ids, for intake.
func (s *Store) GraphSubscriptionsBySubscriptionID(ctx context.Context, ids []string) ([]GraphSubscription, error) {
	return s.findGraphSubscriptions(ctx, bson.D{{Key: "subscriptionId", Value: bson.D{{Key: "$in", Value: ids}}}})
}

// PendingGraphSubscriptionByHash finds a subscription being created (no Graph id yet) by the
// hash of its clientState: Graph may notify before its creation answer reaches us.
func (s *Store) PendingGraphSubscriptionByHash(ctx context.Context, hash []byte) (GraphSubscription, bool, error) {
	var g GraphSubscription
	err := s.collection(graphSubscriptionCollection).FindOne(ctx, bson.D{{Key: "clientStateHash", Value: hash}, {Key: "subscriptionId", Value: ""}}).Decode(&g)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return g, false, nil
	}
	if err != nil {
		return g, false, fmt.Errorf("read graph subscription: %w", err)
	}
	return g, true, nil
}

// GraphSubscriptions lists every subscription record (orgID "" for all organisations).
func (s *Store) GraphSubscriptions(ctx context.Context, orgID string) ([]GraphSubscription, error) {
	f := bson.D{}
	if orgID != "" {
		f = bson.D{{Key: "orgId", Value: orgID}}
	}
	return s.findGraphSubscriptions(ctx, f)
}

// MailboxGraphSubscriptions lists a mailbox's subscription records.
func (o OrgScope) MailboxGraphSubscriptions(ctx context.Context, mailboxID string) ([]GraphSubscription, error) {
	return o.s.findGraphSubscriptions(ctx, o.filter(bson.E{Key: "mailboxId", Value: mailboxID}))
}

func (s *Store) findGraphSubscriptions(ctx context.Context, f bson.D) ([]GraphSubscription, error) {
	return findAll[GraphSubscription](ctx, s.collection(graphSubscriptionCollection), "list graph subscriptions", f, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
}

// findAll runs a query and decodes every document it finds (an empty slice for none).
func findAll[T any](ctx context.Context, c *mongo.Collection, what string, filter any, opts ...options.Lister[options.FindOptions]) ([]T, error) {
	cur, err := c.Find(ctx, filter, opts...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	out := []T{}
	if err := cur.All(ctx, &out); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// InboxEntry is one change notification or lifecycle event Graph delivered and teamaccess
// acknowledged: kept until the worker has acted on it.
type InboxEntry struct {
	ID             bson.ObjectID `bson:"_id"`
	ReceivedAt     time.Time     `bson:"receivedAt"`
	OrgID          string        `bson:"orgId"`
	TenantID       string        `bson:"tenantId"`
	MailboxID      string        `bson:"mailboxId"`
	Scope          string        `bson:"scope"`
	SubscriptionID string        `bson:"subscriptionId"`
	ChangeType     string        `bson:"changeType,omitempty"`
	LifecycleEvent string        `bson:"lifecycleEvent,omitempty"`
	Resource       string        `bson:"resource,omitempty"`
	ItemID         string        `bson:"itemId,omitempty"`
	ETag           string        `bson:"etag,omitempty"`
	Done           bool          `bson:"done"`
	DoneAt         *time.Time    `bson:"doneAt,omitempty"`
	Attempts       int           `bson:"attempts"`
	// LeaseUntil keeps other processes' workers off an entry being worked on.
	LeaseUntil time.Time `bson:"leaseUntil"`
	LeaseBy    string    `bson:"leaseBy,omitempty"`
}

// inbox is the inbox collection with a write concern that survives a primary's failure on a
// replica set: an acknowledged notification must not be lost (FerretDB ignores it).
func (s *Store) inbox() *mongo.Collection {
	return s.db.Collection(inboxCollection, options.Collection().SetWriteConcern(&writeconcern.WriteConcern{W: "majority", Journal: ptr(true)}))
}

func ptr[T any](v T) *T { return &v }

// InsertInbox writes entries in one unordered bulk insert.
func (s *Store) InsertInbox(ctx context.Context, es []InboxEntry) error {
	docs := make([]any, len(es))
	for i := range es {
		docs[i] = es[i]
	}
	if _, err := s.inbox().InsertMany(ctx, docs, options.InsertMany().SetOrdered(false)); err != nil {
		return fmt.Errorf("insert notifications: %w", err)
	}
	return nil
}

// LeaseInbox takes up to limit pending entries whose lease has lapsed, oldest first, and
// leases them to owner until `until`. Entries another worker leased in between are not returned.
func (s *Store) LeaseInbox(ctx context.Context, owner string, now, until time.Time, limit int) ([]InboxEntry, error) {
	c := s.inbox()
	open := bson.D{{Key: "done", Value: false}, {Key: "leaseUntil", Value: bson.D{{Key: "$lte", Value: now}}}}
	cur, err := c.Find(ctx, open, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(int64(limit)).SetProjection(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("read notification inbox: %w", err)
	}
	var ids []struct {
		ID bson.ObjectID `bson:"_id"`
	}
	if err := cur.All(ctx, &ids); err != nil {
		return nil, fmt.Errorf("read notification inbox: %w", err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	in := make([]bson.ObjectID, len(ids))
	for i, d := range ids {
		in[i] = d.ID
	}
	f := append(bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: in}}}}, open...)
	if _, err := c.UpdateMany(ctx, f, bson.D{{Key: "$set", Value: bson.D{{Key: "leaseUntil", Value: until}, {Key: "leaseBy", Value: owner}}},
		{Key: "$inc", Value: bson.D{{Key: "attempts", Value: 1}}}}); err != nil {
		return nil, fmt.Errorf("lease notifications: %w", err)
	}
	return findAll[InboxEntry](ctx, c, "read leased notifications",
		bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: in}}}, {Key: "leaseBy", Value: owner}, {Key: "leaseUntil", Value: until}, {Key: "done", Value: false}},
		options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
}

// CompleteInbox marks entries done.
func (s *Store) CompleteInbox(ctx context.Context, ids []bson.ObjectID, now time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := s.inbox().UpdateMany(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "done", Value: true}, {Key: "doneAt", Value: now}}}})
	if err != nil {
		return fmt.Errorf("complete notifications: %w", err)
	}
	return nil
}

// ReleaseInbox hands leased entries back, to be retried after `at`.
func (s *Store) ReleaseInbox(ctx context.Context, ids []bson.ObjectID, at time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := s.inbox().UpdateMany(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "leaseUntil", Value: at}}}})
	if err != nil {
		return fmt.Errorf("release notifications: %w", err)
	}
	return nil
}

// InboxEntries lists every entry (done ones too), oldest first: for tests and tools.
func (s *Store) InboxEntries(ctx context.Context) ([]InboxEntry, error) {
	return findAll[InboxEntry](ctx, s.inbox(), "read notification inbox", bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
}

// PendingInbox counts entries not done yet.
func (s *Store) PendingInbox(ctx context.Context) (int64, error) {
	n, err := s.inbox().CountDocuments(ctx, bson.D{{Key: "done", Value: false}})
	if err != nil {
		return 0, fmt.Errorf("count notification inbox: %w", err)
	}
	return n, nil
}

// PruneInbox deletes entries done before `before`, in batches.
func (s *Store) PruneInbox(ctx context.Context, before time.Time) (int64, error) {
	return s.deleteInBatches(ctx, inboxCollection, bson.D{{Key: "done", Value: true}, {Key: "doneAt", Value: bson.D{{Key: "$lt", Value: before}}}})
}
