package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// The privacy collections: each organisation's rules of what is never captured and how long
// anything is kept, and the keyed hashes of erased addresses. Both are configuration: kept
// across a disconnect and a purge, so that a reconnected tenant captures nothing it was told
// to forget.
const (
	privacyPolicyCollection = "privacyPolicies"
	suppressionCollection   = "suppressions"
)

// PrivacyPolicy is an organisation's capture rules and retention. Version counts its writes:
// a process compares it to the version it compiled.
type PrivacyPolicy struct {
	OrgID   string `bson:"_id"`
	Version int64  `bson:"version"`
	// What is never captured: participants' and mailboxes' addresses and domains (subdomains
	// included), mail and meetings between the tenant's own people only, sensitivities
	// (personal, private, confidential), automated senders, mail to more than BulkRecipients
	// recipients (0: no limit), private meetings, meetings of a single person.
	ExcludedAddresses      []string `bson:"excludedAddresses"`
	ExcludedDomains        []string `bson:"excludedDomains"`
	ExcludeInternal        bool     `bson:"excludeInternal"`
	ExcludedSensitivities  []string `bson:"excludedSensitivities"`
	ExcludeAutomated       bool     `bson:"excludeAutomated"`
	BulkRecipients         int      `bson:"bulkRecipients"`
	ExcludePrivateMeetings bool     `bson:"excludePrivateMeetings"`
	ExcludeSoloMeetings    bool     `bson:"excludeSoloMeetings"`
	// MetadataOnly keeps participants and times, never a subject or a preview;
	// MailboxMetadataOnly overrides it per mailbox (user id).
	MetadataOnly        bool            `bson:"metadataOnly"`
	MailboxMetadataOnly map[string]bool `bson:"mailboxMetadataOnly"`
	// OptedOut are the mailboxes (user ids) whose people asked not to be captured.
	OptedOut map[string]OptOut `bson:"optedOut"`
	// Retention in days per data class; 0 keeps it for ever.
	Retention Retention `bson:"retention"`
	// SuppressionKey keys the hashes of erased addresses (random, per organisation).
	SuppressionKey []byte    `bson:"suppressionKey,omitempty"`
	UpdatedAt      time.Time `bson:"updatedAt"`
}

// OptOut is a person's request not to be captured, and who recorded it.
type OptOut struct {
	At time.Time `bson:"at"`
	By string    `bson:"by"` // the admin or the key that recorded it
}

// Retention is how many days each class of captured data is kept (0: for ever): activities
// whole, their subjects, their body previews (by when they occurred), contacts (by their last
// change).
type Retention struct {
	ActivityDays int `bson:"activityDays"`
	SubjectDays  int `bson:"subjectDays"`
	PreviewDays  int `bson:"previewDays"`
	ContactDays  int `bson:"contactDays"`
}

// DefaultRetention is an organisation's until an admin sets one (the README states it):
// activities and their subjects two years, body previews 15 days (when captured at all),
// contacts as long as the mailbox has them.
var DefaultRetention = Retention{ActivityDays: 730, SubjectDays: 730, PreviewDays: 15}

// PrivacyPolicy reads the organisation's policy; version 0 (nothing excluded, the default
// retention) when it has none.
func (o OrgScope) PrivacyPolicy(ctx context.Context) (PrivacyPolicy, error) {
	var p PrivacyPolicy
	err := o.s.collection(privacyPolicyCollection).FindOne(ctx, bson.D{{Key: "_id", Value: o.org}}).Decode(&p)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return PrivacyPolicy{OrgID: o.org, Retention: DefaultRetention}, nil
	}
	if err != nil {
		return p, fmt.Errorf("read privacy policy: %w", err)
	}
	return p, nil
}

// PrivacyPolicyVersion reads the version of the organisation's policy only.
func (o OrgScope) PrivacyPolicyVersion(ctx context.Context) (int64, error) {
	var p struct {
		Version int64 `bson:"version"`
	}
	err := o.s.collection(privacyPolicyCollection).FindOne(ctx, bson.D{{Key: "_id", Value: o.org}},
		options.FindOne().SetProjection(bson.D{{Key: "version", Value: 1}})).Decode(&p)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read privacy policy: %w", err)
	}
	return p.Version, nil
}

// SavePrivacyPolicy writes the policy read at p.Version as version p.Version+1; ErrConflict
// (store.ErrConflict) when another writer saved first.
func (o OrgScope) SavePrivacyPolicy(ctx context.Context, p PrivacyPolicy) (PrivacyPolicy, error) {
	p.OrgID = o.org
	read := p.Version
	p.Version++
	c := o.s.collection(privacyPolicyCollection)
	if read == 0 {
		if _, err := c.InsertOne(ctx, p); err != nil {
			if mongo.IsDuplicateKeyError(err) {
				return p, ErrConflict
			}
			return p, fmt.Errorf("save privacy policy: %w", err)
		}
		return p, nil
	}
	res, err := c.ReplaceOne(ctx, bson.D{{Key: "_id", Value: o.org}, {Key: "version", Value: read}}, p)
	if err != nil {
		return p, fmt.Errorf("save privacy policy: %w", err)
	}
	if res.MatchedCount == 0 {
		return p, ErrConflict
	}
	return p, nil
}

// Suppress records keyed hashes of erased addresses (again is no error).
func (o OrgScope) Suppress(ctx context.Context, hashes []string, at time.Time) error {
	for _, h := range hashes {
		_, err := o.s.collection(suppressionCollection).UpdateOne(ctx, bson.D{{Key: "_id", Value: o.org + "|" + h}},
			bson.D{{Key: "$setOnInsert", Value: bson.D{{Key: "orgId", Value: o.org}, {Key: "hash", Value: h}, {Key: "at", Value: at}}}},
			options.UpdateOne().SetUpsert(true))
		if err != nil {
			return fmt.Errorf("suppress: %w", err)
		}
	}
	return nil
}

// Suppressions reads the organisation's suppressed hashes.
func (o OrgScope) Suppressions(ctx context.Context) ([]string, error) {
	rows, err := findAll[struct {
		Hash string `bson:"hash"`
	}](ctx, o.s.collection(suppressionCollection), "read suppressions", o.filter(), options.Find().SetProjection(bson.D{{Key: "hash", Value: 1}}))
	if err != nil {
		return nil, err
	}
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.Hash
	}
	return out, nil
}

// ScanActivities reads up to limit of the organisation's activities (tombstones included) by
// id after the given one: a whole-organisation pass in bounded batches.
func (o OrgScope) ScanActivities(ctx context.Context, after string, limit int) ([]Activity, error) {
	return findAll[Activity](ctx, o.s.collection(activityCollection), "scan activities",
		o.filter(bson.E{Key: "_id", Value: bson.D{{Key: "$gt", Value: after}}}),
		options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(int64(limit)))
}

// ScanContacts is ScanActivities for contacts.
func (o OrgScope) ScanContacts(ctx context.Context, after string, limit int) ([]PersonalContact, error) {
	return findAll[PersonalContact](ctx, o.s.collection(contactCollection), "scan contacts",
		o.filter(bson.E{Key: "_id", Value: bson.D{{Key: "$gt", Value: after}}}),
		options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(int64(limit)))
}

// ids reads the ids of up to limit documents of a collection matching a filter.
func (o OrgScope) ids(ctx context.Context, coll string, filter bson.D, limit int) ([]string, error) {
	rows, err := findAll[struct {
		ID string `bson:"_id"`
	}](ctx, o.s.collection(coll), "read ids", o.filter(filter...), options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, err
	}
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.ID
	}
	return out, nil
}

// ActivityIDsNaming reads the ids of up to limit activities (tombstones included) with a
// participant of the address, or of a mailbox.
func (o OrgScope) ActivityIDsNaming(ctx context.Context, address, mailboxID string, limit int) ([]string, error) {
	if mailboxID != "" {
		return o.ids(ctx, activityCollection, bson.D{{Key: "mailboxId", Value: mailboxID}}, limit)
	}
	return o.ids(ctx, activityCollection, bson.D{{Key: "participants.address", Value: address}}, limit)
}

// ContactIDsNaming reads the ids of up to limit contacts with the address, or of a mailbox.
func (o OrgScope) ContactIDsNaming(ctx context.Context, address, mailboxID string, limit int) ([]string, error) {
	if mailboxID != "" {
		return o.ids(ctx, contactCollection, bson.D{{Key: "mailboxId", Value: mailboxID}}, limit)
	}
	return o.ids(ctx, contactCollection, bson.D{{Key: "emails", Value: address}}, limit)
}

// CountNaming counts the activities and contacts that name an address (or belong to a mailbox).
func (o OrgScope) CountNaming(ctx context.Context, address, mailboxID string) (activities, contacts int64, err error) {
	af, cf := bson.D{{Key: "participants.address", Value: address}}, bson.D{{Key: "emails", Value: address}}
	if mailboxID != "" {
		af = bson.D{{Key: "$or", Value: bson.A{af, bson.D{{Key: "mailboxId", Value: mailboxID}}}}}
		cf = bson.D{{Key: "$or", Value: bson.A{cf, bson.D{{Key: "mailboxId", Value: mailboxID}}}}}
	}
	if activities, err = o.s.collection(activityCollection).CountDocuments(ctx, o.filter(af...)); err != nil {
		return 0, 0, fmt.Errorf("count activities: %w", err)
	}
	if contacts, err = o.s.collection(contactCollection).CountDocuments(ctx, o.filter(cf...)); err != nil {
		return 0, 0, fmt.Errorf("count contacts: %w", err)
	}
	return activities, contacts, nil
}

// stored answers which of the ids (of activities or contacts, whose ids begin with their
// organisation's) a collection holds. The embedded FerretDB over SQLite reads a document by
// its primary key only for a filter of _id alone, and any other filter ($in included) reads the
// whole table (backends/sqlite/collection.go in FerretDB 1.24): there each id is read alone,
// which made screening a backfill 10 times cheaper than one $in; MongoDB reads them all in one
// $in through its _id index.
func (o OrgScope) stored(ctx context.Context, coll string, ids []string) ([]string, error) {
	if o.s.embedded == nil {
		return o.ids(ctx, coll, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}}, len(ids))
	}
	var found []string
	c := o.s.collection(coll)
	for _, id := range ids {
		if !strings.HasPrefix(id, o.org+"|") {
			continue // not this organisation's
		}
		err := c.FindOne(ctx, bson.D{{Key: "_id", Value: id}}, options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 1}})).Err()
		if errors.Is(err, mongo.ErrNoDocuments) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", coll, err)
		}
		found = append(found, id)
	}
	return found, nil
}

// deleteStored deletes documents by id, found by stored; one by one by _id alone on the
// embedded store, for the same reason.
func (o OrgScope) deleteStored(ctx context.Context, coll string, ids []string) error {
	var err error
	if o.s.embedded == nil {
		_, err = o.s.collection(coll).DeleteMany(ctx, o.filter(bson.E{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}))
	} else {
		models := make([]mongo.WriteModel, len(ids))
		for i, id := range ids {
			models[i] = mongo.NewDeleteOneModel().SetFilter(bson.D{{Key: "_id", Value: id}})
		}
		_, err = o.s.collection(coll).BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false))
	}
	if err != nil {
		return fmt.Errorf("forget %s: %w", coll, err)
	}
	return nil
}

// ForgetActivities deletes activities whole (tombstones too) and blanks every change-log entry
// that holds them: their snapshots become marks, which readers skip. It answers the ids that
// were stored; their DELETED changes are the caller's to append. Ids that were never stored
// (what a capture policy keeps out, most of the time) cost one lookup each.
func (o OrgScope) ForgetActivities(ctx context.Context, ids []string) ([]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	found, err := o.stored(ctx, activityCollection, ids)
	if err != nil || len(found) == 0 {
		return nil, err
	}
	_, err = o.s.collection(changeCollection).UpdateMany(ctx, o.filter(bson.E{Key: "activityId", Value: bson.D{{Key: "$in", Value: found}}}),
		bson.D{{Key: "$set", Value: bson.D{{Key: "type", Value: ChangeMark}}}, {Key: "$unset", Value: bson.D{{Key: "activity", Value: ""}}}})
	o.s.dropTail(o.org) // even after a failure: some may have changed
	if err != nil {
		return nil, fmt.Errorf("forget changes: %w", err)
	}
	return found, o.deleteStored(ctx, activityCollection, found)
}

// ForgetContacts deletes contacts and answers how many there were.
func (o OrgScope) ForgetContacts(ctx context.Context, ids []string) (int64, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	found, err := o.stored(ctx, contactCollection, ids)
	if err != nil || len(found) == 0 {
		return 0, err
	}
	return int64(len(found)), o.deleteStored(ctx, contactCollection, found)
}

// ActivityIDsBefore reads the ids of up to limit activities that occurred before a time.
func (o OrgScope) ActivityIDsBefore(ctx context.Context, before time.Time, limit int) ([]string, error) {
	return o.ids(ctx, activityCollection, bson.D{{Key: "occurredAt", Value: bson.D{{Key: "$lt", Value: before}}}}, limit)
}

// ContactIDsBefore reads the ids of up to limit contacts last changed before a time.
func (o OrgScope) ContactIDsBefore(ctx context.Context, before time.Time, limit int) ([]string, error) {
	return o.ids(ctx, contactCollection, bson.D{{Key: "changedAt", Value: bson.D{{Key: "$lt", Value: before}}}}, limit)
}

// BlankBefore empties a text field ("subject" or "bodyPreview") of up to limit activities
// that occurred before a time, and of the change log's snapshots of them; it answers how many
// activities it changed.
func (o OrgScope) BlankBefore(ctx context.Context, field string, before time.Time, limit int) (int, error) {
	if field != "subject" && field != "bodyPreview" {
		return 0, fmt.Errorf("blank %q: not a text field", field)
	}
	ids, err := o.ids(ctx, activityCollection, bson.D{{Key: "occurredAt", Value: bson.D{{Key: "$lt", Value: before}}},
		{Key: field, Value: bson.D{{Key: "$gt", Value: ""}}}}, limit)
	if err != nil || len(ids) == 0 {
		return 0, err
	}
	in := bson.D{{Key: "$in", Value: ids}}
	if _, err := o.s.collection(activityCollection).UpdateMany(ctx, o.filter(bson.E{Key: "_id", Value: in}),
		bson.D{{Key: "$set", Value: bson.D{{Key: field, Value: ""}}}}); err != nil {
		return 0, fmt.Errorf("blank %s: %w", field, err)
	}
	_, err = o.s.collection(changeCollection).UpdateMany(ctx, o.filter(bson.E{Key: "activityId", Value: in}, bson.E{Key: "activity", Value: bson.D{{Key: "$exists", Value: true}}}),
		bson.D{{Key: "$set", Value: bson.D{{Key: "activity." + field, Value: ""}}}})
	o.s.dropTail(o.org)
	if err != nil {
		return 0, fmt.Errorf("blank %s in changes: %w", field, err)
	}
	return len(ids), nil
}

// Everything reads every document of every collection of the database as extended JSON, by
// collection: how a test (or an operator's check) proves that nothing anywhere names what must
// not be stored. Only for small databases.
func (s *Store) Everything(ctx context.Context) (map[string][]string, error) {
	names, err := s.db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		return nil, fmt.Errorf("list collections: %w", err)
	}
	out := map[string][]string{}
	for _, n := range names {
		cur, err := s.db.Collection(n).Find(ctx, bson.D{})
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", n, err)
		}
		for cur.Next(ctx) {
			j, err := bson.MarshalExtJSON(cur.Current, false, false)
			if err != nil {
				return nil, err
			}
			out[n] = append(out[n], string(j))
		}
		if err := cur.Close(ctx); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Totals are what the store holds of an organisation, for the admin's page.
type Totals struct {
	MailboxesCaptured, Activities, Contacts int64
	LastChangeAt                            *time.Time
}

// Totals counts the organisation's captured mailboxes, live activities and contacts, and reads
// when its last change was written.
func (o OrgScope) Totals(ctx context.Context) (Totals, error) {
	var t Totals
	var err error
	captured := o.filter(bson.E{Key: "deleted", Value: false}, bson.E{Key: "access", Value: "ACCESSIBLE"}, bson.E{Key: "capture", Value: true},
		bson.E{Key: "userType", Value: bson.D{{Key: "$ne", Value: "Guest"}}})
	if t.MailboxesCaptured, err = o.s.collection(mailboxCollection).CountDocuments(ctx, captured); err != nil {
		return t, fmt.Errorf("count captured mailboxes: %w", err)
	}
	live := o.filter(bson.E{Key: "deleted", Value: false})
	if t.Activities, err = o.s.collection(activityCollection).CountDocuments(ctx, live); err != nil {
		return t, fmt.Errorf("count activities: %w", err)
	}
	if t.Contacts, err = o.s.collection(contactCollection).CountDocuments(ctx, live); err != nil {
		return t, fmt.Errorf("count contacts: %w", err)
	}
	var c Change
	err = o.s.collection(changeCollection).FindOne(ctx, o.filter(bson.E{Key: "type", Value: bson.D{{Key: "$nin", Value: bson.A{ChangeMark, ChangeMailbox, ChangeTeamAccess}}}}),
		options.FindOne().SetSort(bson.D{{Key: "seq", Value: -1}}).SetProjection(bson.D{{Key: "at", Value: 1}})).Decode(&c)
	switch {
	case err == nil:
		t.LastChangeAt = &c.At
	case !errors.Is(err, mongo.ErrNoDocuments):
		return t, fmt.Errorf("read the last change: %w", err)
	}
	return t, nil
}
