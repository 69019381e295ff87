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
	notificationLogCollection   = "notificationLog"
	leaseCollection             = "leases"
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

// CreateGraphSubscription writes the record of a subscription never saved before: one insert,
// where SaveGraphSubscription's upsert is a read and then a write on FerretDB (on PostgreSQL a
// SELECT, then the INSERT in a transaction). A record that is there after all (another caller
// saved it first) is replaced, as SaveGraphSubscription would.
func (s *Store) CreateGraphSubscription(ctx context.Context, g GraphSubscription) error {
	_, err := s.collection(graphSubscriptionCollection).InsertOne(ctx, g)
	if mongo.IsDuplicateKeyError(err) {
		return s.SaveGraphSubscription(ctx, g)
	}
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
	rs, err := findEach[GraphSubscription](ctx, s, graphSubscriptionCollection, "list graph subscriptions", "_id", ids)
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
	return findEach[GraphSubscription](ctx, s, graphSubscriptionCollection, "list graph subscriptions", "subscriptionId", ids)
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

// findEachMax is the most values findEach looks up one at a time; more are one `$in` query.
const findEachMax = 64

// oneByOne says whether n values are better asked for one equality each than in one `$in`:
// on FerretDB over PostgreSQL (eqOnly), up to findEachMax of them.
func (s *Store) oneByOne(n int) bool { return s.eqOnly && n <= findEachMax }

// findEach finds the documents whose key is one of vals. On FerretDB over PostgreSQL (eqOnly)
// each distinct value is an equality query, which an index answers (store/pushdown.go), where
// `$in` reads the whole collection: the records of 10 subscriptions among 3,000 in 12 ms against
// 640 ms (BenchmarkGraphSubscriptionLookup). Elsewhere, and past findEachMax values, it is one `$in` query.
func findEach[T any](ctx context.Context, s *Store, collection, what, key string, vals []string) ([]T, error) {
	c := s.collection(collection)
	if len(vals) == 0 {
		return []T{}, nil
	}
	if !s.oneByOne(len(vals)) {
		return findAll[T](ctx, c, what, oneOrIn(key, vals))
	}
	out := []T{}
	seen := map[string]bool{}
	for _, v := range vals {
		if seen[v] {
			continue
		}
		seen[v] = true
		got, err := findAll[T](ctx, c, what, bson.D{{Key: key, Value: v}})
		if err != nil {
			return nil, err
		}
		out = append(out, got...)
	}
	return out, nil
}

// findAll runs a query and decodes every document it finds (an empty slice for none).
func findAll[T any](ctx context.Context, c coll, what string, filter any, opts ...options.Lister[options.FindOptions]) ([]T, error) {
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
// acknowledged. The inbox holds only entries still to be worked off: the worker moves each to
// the notification log when done, so the inbox stays as small as the backlog. (Marking entries
// done in place would cost an update per entry, which FerretDB's SQLite backend makes a scan of
// the collection each: 500 of 2,000 took 5 s.)
type InboxEntry struct {
	ID         bson.ObjectID `bson:"_id"`
	ReceivedAt time.Time     `bson:"receivedAt"`
	OrgID      string        `bson:"orgId"`
	TenantID   string        `bson:"tenantId"`
	MailboxID  string        `bson:"mailboxId"`
	// Partition is the mailbox's (MailboxPartition): the process holding it works the entry off.
	Partition      int    `bson:"partition"`
	Scope          string `bson:"scope"`
	SubscriptionID string `bson:"subscriptionId"`
	ChangeType     string `bson:"changeType,omitempty"`
	LifecycleEvent string `bson:"lifecycleEvent,omitempty"`
	Resource       string `bson:"resource,omitempty"`
	ItemID         string `bson:"itemId,omitempty"`
	ETag           string `bson:"etag,omitempty"`
	// NotBefore is when the entry may be worked on: its arrival, or the retry time of a failed
	// attempt.
	NotBefore time.Time `bson:"notBefore"`
	Attempts  int       `bson:"attempts"`
	// In the log: when and how it was finished (done, retried as another entry, dropped).
	DoneAt  *time.Time `bson:"doneAt,omitempty"`
	Outcome string     `bson:"outcome,omitempty"`
}

// Outcomes of finished entries.
const (
	OutcomeDone    = "done"
	OutcomeRetried = "retried" // merged into a later entry for its scope, after a failed round
	OutcomeDropped = "dropped" // its mailbox is no longer captured, or given up after repeated failures
)

// durable is a collection with a write concern that survives a primary's failure on a replica
// set: an acknowledged notification must not be lost (FerretDB ignores it).
func (s *Store) durable(name string) coll {
	return s.coll(s.db.Collection(name, options.Collection().SetWriteConcern(&writeconcern.WriteConcern{W: "majority", Journal: ptr(true)})))
}

func ptr[T any](v T) *T { return &v }

// InsertInbox writes entries in one unordered bulk insert.
func (s *Store) InsertInbox(ctx context.Context, es []InboxEntry) error {
	if err := insertEntries(ctx, s.durable(inboxCollection), es); err != nil {
		return fmt.Errorf("insert notifications: %w", err)
	}
	return nil
}

// insertEntries bulk-inserts entries; ones already there (a retry after a crash) are fine.
func insertEntries(ctx context.Context, c coll, es []InboxEntry) error {
	if len(es) == 0 {
		return nil
	}
	docs := make([]any, len(es))
	for i := range es {
		docs[i] = es[i]
	}
	_, err := c.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	var bw mongo.BulkWriteException
	if errors.As(err, &bw) && bw.WriteConcernError == nil && allDuplicates(bw.WriteErrors) {
		return nil
	}
	return err
}

func allDuplicates(errs []mongo.BulkWriteError) bool {
	for _, e := range errs {
		if e.Code != 11000 {
			return false
		}
	}
	return true
}

// DueInbox reads up to limit entries due by now in the given partitions (nil: all), oldest
// first.
func (s *Store) DueInbox(ctx context.Context, now time.Time, limit int, partitions []int) ([]InboxEntry, error) {
	return findAll[InboxEntry](ctx, s.durable(inboxCollection), "read notification inbox",
		inPartitions(bson.D{{Key: "notBefore", Value: bson.D{{Key: "$lte", Value: now}}}}, partitions),
		options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(int64(limit)))
}

// FinishInbox moves finished entries from the inbox to the log, after writing their
// replacements (entries to retry later) to the inbox. A crash in between leaves an entry in
// both, or both an entry and its replacement: worked off twice, never lost.
func (s *Store) FinishInbox(ctx context.Context, finished, replacements []InboxEntry) error {
	if err := insertEntries(ctx, s.durable(inboxCollection), replacements); err != nil {
		return fmt.Errorf("requeue notifications: %w", err)
	}
	if len(finished) == 0 {
		return nil
	}
	if err := insertEntries(ctx, s.collection(notificationLogCollection), finished); err != nil {
		return fmt.Errorf("log notifications: %w", err)
	}
	ids := make([]bson.ObjectID, len(finished))
	for i, e := range finished {
		ids[i] = e.ID
	}
	if _, err := s.durable(inboxCollection).DeleteMany(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}}); err != nil {
		return fmt.Errorf("finish notifications: %w", err)
	}
	return nil
}

// InboxEntries lists the inbox (entries still to work off) and the log (finished ones), oldest
// first: for tests and tools.
func (s *Store) InboxEntries(ctx context.Context) (pending, finished []InboxEntry, err error) {
	sort := options.Find().SetSort(bson.D{{Key: "_id", Value: 1}})
	if pending, err = findAll[InboxEntry](ctx, s.durable(inboxCollection), "read notification inbox", bson.D{}, sort); err != nil {
		return nil, nil, err
	}
	finished, err = findAll[InboxEntry](ctx, s.collection(notificationLogCollection), "read notification log", bson.D{}, sort)
	return pending, finished, err
}

// PendingInbox counts entries still to work off.
func (s *Store) PendingInbox(ctx context.Context) (int64, error) {
	n, err := s.durable(inboxCollection).CountDocuments(ctx, bson.D{})
	if err != nil {
		return 0, fmt.Errorf("count notification inbox: %w", err)
	}
	return n, nil
}

// PruneInbox deletes log entries finished before `before`, in batches: the scheduled job
// (FerretDB has no TTL indexes).
func (s *Store) PruneInbox(ctx context.Context, before time.Time) (int64, error) {
	return s.deleteInBatches(ctx, notificationLogCollection, bson.D{{Key: "doneAt", Value: bson.D{{Key: "$lt", Value: before}}}})
}
