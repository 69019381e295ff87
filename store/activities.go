package store

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

const (
	activityCollection   = "activities"
	contactCollection    = "contacts"
	deltaStateCollection = "deltaStates"
	changeCollection     = "changes"
)

// Participant is a person on an activity.
type Participant struct {
	Name     string `bson:"name,omitempty"`
	Address  string `bson:"address"`
	Role     string `bson:"role"` // from, to, cc, bcc, organizer, attendee
	Response string `bson:"response,omitempty"`
	Type     string `bson:"type,omitempty"`     // attendee type: required, optional, resource
	Internal bool   `bson:"internal,omitempty"` // in one of the tenant's domains
}

// Activity is an email or a meeting of a mailbox, normalised. Its _id is
// org|mailbox|scope|graph id, so every write of the same item is the same document.
type Activity struct {
	ID           string        `bson:"_id"`
	OrgID        string        `bson:"orgId"`
	MailboxID    string        `bson:"mailboxId"` // the user's directory id
	Scope        string        `bson:"scope"`     // the delta round it comes from: mail:inbox, mail:sentitems, calendar
	GraphID      string        `bson:"graphId"`
	Kind         string        `bson:"kind"` // EMAIL or MEETING
	Subject      string        `bson:"subject"`
	OccurredAt   time.Time     `bson:"occurredAt"`
	Participants []Participant `bson:"participants"`

	Direction         string    `bson:"direction,omitempty"`
	ConversationID    string    `bson:"conversationId,omitempty"`
	InternetMessageID string    `bson:"internetMessageId,omitempty"`
	WebLink           string    `bson:"webLink,omitempty"`
	HasAttachments    bool      `bson:"hasAttachments,omitempty"`
	Importance        string    `bson:"importance,omitempty"`
	BodyPreview       string    `bson:"bodyPreview,omitempty"`
	SentAt            time.Time `bson:"sentAt,omitempty"`
	ReceivedAt        time.Time `bson:"receivedAt,omitempty"`

	Start         time.Time `bson:"start,omitempty"`
	End           time.Time `bson:"end,omitempty"`
	StartTimeZone string    `bson:"startTimeZone,omitempty"`
	EndTimeZone   string    `bson:"endTimeZone,omitempty"`
	IsAllDay      bool      `bson:"isAllDay,omitempty"`
	// StartDate and EndDate are an all-day meeting's days (YYYY-MM-DD; the end is the day after
	// its last, as Graph and iCalendar give it), read from Graph's wall-clock midnight in the
	// event's own time zone: the instant in UTC can fall on the day before.
	StartDate string `bson:"startDate,omitempty"`
	EndDate   string `bson:"endDate,omitempty"`
	SeriesID  string `bson:"seriesId,omitempty"`
	// SeriesChangeKey is the changeKey of the series master this occurrence was read with: a
	// master whose changeKey moved on means the series changed (an occurrence deleted or moved,
	// the whole series edited), and its occurrences are read again.
	SeriesChangeKey  string `bson:"seriesChangeKey,omitempty"`
	OnlineMeetingURL string `bson:"onlineMeetingUrl,omitempty"`
	Location         string `bson:"location,omitempty"`
	IsCancelled      bool   `bson:"isCancelled,omitempty"`
	// Sensitivity is a meeting's Outlook sensitivity when not normal (personal, private,
	// confidential): the capture policy's purge reads it.
	Sensitivity string `bson:"sensitivity,omitempty"`

	Deleted   bool      `bson:"deleted"` // a tombstone, kept for the live feed, hidden from queries
	Gen       int64     `bson:"gen"`     // the sync generation that last wrote it
	ChangedAt time.Time `bson:"changedAt"`
}

// PersonalContact is a contact of a mailbox.
type PersonalContact struct {
	ID          string    `bson:"_id"` // org|mailbox|contacts|graph id
	OrgID       string    `bson:"orgId"`
	MailboxID   string    `bson:"mailboxId"`
	Scope       string    `bson:"scope"`
	GraphID     string    `bson:"graphId"`
	DisplayName string    `bson:"displayName"`
	GivenName   string    `bson:"givenName,omitempty"`
	Surname     string    `bson:"surname,omitempty"`
	Company     string    `bson:"company,omitempty"`
	JobTitle    string    `bson:"jobTitle,omitempty"`
	Emails      []string  `bson:"emails"`
	Phones      []string  `bson:"phones"`
	Deleted     bool      `bson:"deleted"`
	Gen         int64     `bson:"gen"`
	ChangedAt   time.Time `bson:"changedAt"`
}

// ItemID is the _id of a synced item.
func ItemID(orgID, mailboxID, scope, graphID string) string {
	return orgID + "|" + mailboxID + "|" + scope + "|" + graphID
}

// upsertAll writes documents keyed by _id in as few round trips as it can: one unordered
// insert of them all, then a replace for each that existed already (a later round, a replay or
// a restart). The embedded store inserts thousands a second but scans per update, so new items,
// the bulk of a backfill, never cost an update.
//
// It returns the ids that existed already.
func (o OrgScope) upsertAll(ctx context.Context, coll string, ids []string, docs []any) (map[string]bool, error) {
	existed := map[string]bool{}
	if len(docs) == 0 {
		return existed, nil
	}
	c := o.s.collection(coll)
	_, err := c.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	if err == nil {
		return existed, nil
	}
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) {
		return nil, fmt.Errorf("write %s: %w", coll, err)
	}
	var models []mongo.WriteModel
	for _, we := range bwe.WriteErrors {
		if !mongo.IsDuplicateKeyError(we) {
			return nil, fmt.Errorf("write %s: %w", coll, err)
		}
		existed[ids[we.Index]] = true
		models = append(models, mongo.NewReplaceOneModel().
			SetFilter(o.filter(bson.E{Key: "_id", Value: ids[we.Index]})).SetReplacement(docs[we.Index]))
	}
	if _, err := c.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false)); err != nil {
		return nil, fmt.Errorf("rewrite %s: %w", coll, err)
	}
	return existed, nil
}

// WriteActivities stores activities of the organisation, new or changed, and says which
// existed already.
func (o OrgScope) WriteActivities(ctx context.Context, as []Activity) (map[string]bool, error) {
	ids, docs := make([]string, len(as)), make([]any, len(as))
	for i := range as {
		as[i].OrgID = o.org
		ids[i], docs[i] = as[i].ID, as[i]
	}
	return o.upsertAll(ctx, activityCollection, ids, docs)
}

// WriteContacts stores contacts of the organisation, new or changed, and says which existed
// already.
func (o OrgScope) WriteContacts(ctx context.Context, cs []PersonalContact) (map[string]bool, error) {
	ids, docs := make([]string, len(cs)), make([]any, len(cs))
	for i := range cs {
		cs[i].OrgID = o.org
		ids[i], docs[i] = cs[i].ID, cs[i]
	}
	return o.upsertAll(ctx, contactCollection, ids, docs)
}

// collectionOf names where a scope's items live.
func collectionOf(scope string) string {
	if Scope(scope) == ScopeContacts {
		return contactCollection
	}
	return activityCollection
}

// LiveActivities lists a mailbox's live activities (for reconciliation and the API).
func (o OrgScope) LiveActivities(ctx context.Context, mailboxID string) ([]Activity, error) {
	cur, err := o.s.collection(activityCollection).Find(ctx, o.filter(bson.E{Key: "mailboxId", Value: mailboxID}, bson.E{Key: "deleted", Value: false}))
	if err != nil {
		return nil, fmt.Errorf("list activities: %w", err)
	}
	out := []Activity{}
	if err := cur.All(ctx, &out); err != nil {
		return nil, fmt.Errorf("list activities: %w", err)
	}
	return out, nil
}

// LiveContacts lists a mailbox's live contacts.
func (o OrgScope) LiveContacts(ctx context.Context, mailboxID string) ([]PersonalContact, error) {
	cur, err := o.s.collection(contactCollection).Find(ctx, o.filter(bson.E{Key: "mailboxId", Value: mailboxID}, bson.E{Key: "deleted", Value: false}))
	if err != nil {
		return nil, fmt.Errorf("list contacts: %w", err)
	}
	out := []PersonalContact{}
	if err := cur.All(ctx, &out); err != nil {
		return nil, fmt.Errorf("list contacts: %w", err)
	}
	return out, nil
}

// ActivityQuery selects and pages activities. Order is by occurredAt then _id, descending
// unless Ascending; After/Before are keyset positions (occurredAt, _id) — no offsets.
type ActivityQuery struct {
	MailboxIDs       []string
	Kinds            []string
	Direction        string
	ParticipantEmail string
	Domain           string
	Text             string
	OccurredAfter    *time.Time
	OccurredBefore   *time.Time
	Ascending        bool
	AfterAt          *time.Time
	AfterID          string
	Limit            int
}

// activityFilter builds the filter of a query, without its keyset position.
func (o OrgScope) activityFilter(q ActivityQuery) bson.D {
	f := o.filter(bson.E{Key: "deleted", Value: false})
	f = append(f, oneOrIn("mailboxId", q.MailboxIDs)...)
	f = append(f, oneOrIn("kind", q.Kinds)...)
	if q.Direction != "" {
		f = append(f, bson.E{Key: "direction", Value: q.Direction})
	}
	if q.ParticipantEmail != "" {
		f = append(f, bson.E{Key: "participants.address", Value: strings.ToLower(q.ParticipantEmail)})
	}
	if q.Domain != "" {
		f = append(f, bson.E{Key: "participants.address", Value: bson.D{{Key: "$regex", Value: "@" + regexp.QuoteMeta(strings.ToLower(q.Domain)) + "$"}}})
	}
	if q.Text != "" {
		f = append(f, bson.E{Key: "subject", Value: bson.D{{Key: "$regex", Value: regexp.QuoteMeta(q.Text)}, {Key: "$options", Value: "i"}}})
	}
	rng := bson.D{}
	if q.OccurredAfter != nil {
		rng = append(rng, bson.E{Key: "$gte", Value: *q.OccurredAfter})
	}
	if q.OccurredBefore != nil {
		rng = append(rng, bson.E{Key: "$lt", Value: *q.OccurredBefore})
	}
	if len(rng) > 0 {
		f = append(f, bson.E{Key: "occurredAt", Value: rng})
	}
	return f
}

// oneOrIn matches a field against a set: an equality for one value, which FerretDB pushes down
// to its backend where it filters $in in memory.
func oneOrIn(key string, vals []string) bson.D {
	switch len(vals) {
	case 0:
		return nil
	case 1:
		return bson.D{{Key: key, Value: vals[0]}}
	}
	return bson.D{{Key: key, Value: bson.D{{Key: "$in", Value: vals}}}}
}

// Activities runs a query: up to Limit activities after the keyset position.
func (o OrgScope) Activities(ctx context.Context, q ActivityQuery) ([]Activity, error) {
	f, sort := o.activityFind(q)
	return findAll[Activity](ctx, o.s.collection(activityCollection), "query activities", f, options.Find().SetSort(sort).SetLimit(int64(q.Limit)))
}

// activityFind is an activity query's filter (with its keyset position) and sort.
func (o OrgScope) activityFind(q ActivityQuery) (bson.D, bson.D) {
	f := o.activityFilter(q)
	cmp, dir := "$lt", -1
	if q.Ascending {
		cmp, dir = "$gt", 1
	}
	if q.AfterAt != nil {
		f = append(f, bson.E{Key: "$or", Value: bson.A{
			bson.D{{Key: "occurredAt", Value: bson.D{{Key: cmp, Value: *q.AfterAt}}}},
			bson.D{{Key: "occurredAt", Value: *q.AfterAt}, {Key: "_id", Value: bson.D{{Key: cmp, Value: q.AfterID}}}},
		}})
	}
	return f, bson.D{{Key: "occurredAt", Value: dir}, {Key: "_id", Value: dir}}
}

// CountActivities counts what a query selects (its keyset position aside).
func (o OrgScope) CountActivities(ctx context.Context, q ActivityQuery) (int, error) {
	n, err := o.s.collection(activityCollection).CountDocuments(ctx, o.activityFilter(q))
	if err != nil {
		return 0, fmt.Errorf("count activities: %w", err)
	}
	return int(n), nil
}

// Activity reads one activity (tombstones included: the caller decides).
func (o OrgScope) Activity(ctx context.Context, id string) (Activity, error) {
	var a Activity
	err := o.s.collection(activityCollection).FindOne(ctx, o.filter(bson.E{Key: "_id", Value: id})).Decode(&a)
	if err != nil {
		return Activity{}, notFound(err, "activity")
	}
	return a, nil
}

// PruneTombstones deletes deleted activities and contacts, of every organisation, deleted
// before a time: the live feed needs them only within its resume window.
func (s *Store) PruneTombstones(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	for _, c := range []string{activityCollection, contactCollection} {
		n, err := s.deleteInBatches(ctx, c, bson.D{{Key: "deleted", Value: true}, {Key: "changedAt", Value: bson.D{{Key: "$lt", Value: before}}}})
		total += n
		if err != nil {
			return total, fmt.Errorf("prune deleted %s: %w", c, err)
		}
	}
	return total, nil
}

// DeleteCapturedData removes everything captured for the organisation: activities, contacts,
// delta positions, the change log, the notification inbox and the Graph subscription records
// (a disconnect with purge).
func (o OrgScope) DeleteCapturedData(ctx context.Context) error {
	if err := o.clearChanges(ctx); err != nil {
		return err
	}
	for _, c := range []string{activityCollection, contactCollection, deltaStateCollection, inboxCollection, notificationLogCollection, graphSubscriptionCollection} {
		if _, err := o.s.deleteInBatches(ctx, c, o.filter()); err != nil {
			return fmt.Errorf("delete %s: %w", c, err)
		}
	}
	return nil
}

// ActivitiesByID reads activities by id (tombstones included).
func (o OrgScope) ActivitiesByID(ctx context.Context, ids []string) (map[string]Activity, error) {
	cur, err := o.s.collection(activityCollection).Find(ctx, o.filter(bson.E{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}))
	if err != nil {
		return nil, fmt.Errorf("read activities: %w", err)
	}
	var as []Activity
	if err := cur.All(ctx, &as); err != nil {
		return nil, fmt.Errorf("read activities: %w", err)
	}
	out := make(map[string]Activity, len(as))
	for _, a := range as {
		out[a.ID] = a
	}
	return out, nil
}
