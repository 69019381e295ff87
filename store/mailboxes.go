package store

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

const mailboxCollection = "mailboxes"

// Mailbox is a user of the organisation's tenant and whether teamaccess may read their mailbox.
type Mailbox struct {
	ID       string `bson:"_id"` // orgId:userId
	OrgID    string `bson:"orgId"`
	TenantID string `bson:"tenantId"`
	UserID   string `bson:"userId"`
	// Partition is the mailbox's partition (MailboxPartition): the process holding it works it.
	Partition         int    `bson:"partition"`
	DisplayName       string `bson:"displayName"`
	UserPrincipalName string `bson:"upn"`
	Mail              string `bson:"mail,omitempty"`
	JobTitle          string `bson:"jobTitle,omitempty"`
	Department        string `bson:"department,omitempty"`
	UserType          string `bson:"userType,omitempty"`
	AccountEnabled    bool   `bson:"accountEnabled"`
	Licensed          bool   `bson:"licensed"` // the directory lists assigned licenses
	// Kind is the mailbox kind discovery told from the account (package mailboxes' Kind).
	Kind             string     `bson:"kind,omitempty"`
	Deleted          bool       `bson:"deleted"`
	Search           string     `bson:"search"` // lower-case name, UPN and mail
	Access           string     `bson:"access"`
	Code             string     `bson:"code,omitempty"`
	Reason           string     `bson:"reason,omitempty"`
	CheckedAt        *time.Time `bson:"checkedAt,omitempty"`
	AccessChangedAt  *time.Time `bson:"accessChangedAt,omitempty"`
	PreviousAccess   string     `bson:"previousAccess,omitempty"` // what access was before its last change
	NextCheckAt      time.Time  `bson:"nextCheckAt"`
	Capture          bool       `bson:"capture"`
	CaptureChangedAt *time.Time `bson:"captureChangedAt,omitempty"`
	CreatedAt        time.Time  `bson:"createdAt"`
	UpdatedAt        time.Time  `bson:"updatedAt"`
}

// Captured reports whether the mailbox's mail, meetings and contacts are synced: readable,
// still in the tenant, and capture on (the admin's switch, set from the capture policy of its
// kind). The one definition the syncer, the subscription keeper and discovery share.
func (m Mailbox) Captured() bool {
	return m.Access == "ACCESSIBLE" && !m.Deleted && m.Capture && m.UserType != "Guest"
}

// MailboxID is a mailbox's _id.
func MailboxID(orgID, userID string) string { return orgID + ":" + userID }

// UpsertDirectoryUsers records users as the directory describes them, in one bulk write: new
// ones start with access UNKNOWN, capture on, and a probe due at once; known ones keep their
// access and capture.
func (o OrgScope) UpsertDirectoryUsers(ctx context.Context, tenantID string, us []Mailbox, now time.Time) (err error) {
	if len(us) == 0 {
		return nil
	}
	known, err := o.mailboxIDs(ctx)
	if err != nil {
		return err
	}
	// New users are inserted in one batch (the embedded store inserts thousands a second but
	// scans the collection for every update); known ones are updated.
	var fresh []any
	models := make([]mongo.WriteModel, 0, len(us))
	for _, u := range us {
		id := MailboxID(o.org, u.UserID)
		if !known[id] {
			known[id] = true
			fresh = append(fresh, Mailbox{ID: id, OrgID: o.org, TenantID: tenantID, UserID: u.UserID, Partition: MailboxPartition(o.org, u.UserID), DisplayName: u.DisplayName,
				UserPrincipalName: u.UserPrincipalName, Mail: u.Mail, JobTitle: u.JobTitle, Department: u.Department, UserType: u.UserType,
				AccountEnabled: u.AccountEnabled, Licensed: u.Licensed, Kind: u.Kind, Search: strings.ToLower(u.DisplayName + " " + u.UserPrincipalName + " " + u.Mail),
				Access: "UNKNOWN", Capture: true, CreatedAt: now, UpdatedAt: now, NextCheckAt: now})
			continue
		}
		set := bson.D{
			{Key: "orgId", Value: o.org}, {Key: "tenantId", Value: tenantID}, {Key: "userId", Value: u.UserID}, {Key: "partition", Value: MailboxPartition(o.org, u.UserID)},
			{Key: "displayName", Value: u.DisplayName}, {Key: "upn", Value: u.UserPrincipalName}, {Key: "mail", Value: u.Mail},
			{Key: "jobTitle", Value: u.JobTitle}, {Key: "department", Value: u.Department}, {Key: "userType", Value: u.UserType},
			{Key: "accountEnabled", Value: u.AccountEnabled}, {Key: "licensed", Value: u.Licensed}, {Key: "kind", Value: u.Kind}, {Key: "deleted", Value: false},
			{Key: "search", Value: strings.ToLower(u.DisplayName + " " + u.UserPrincipalName + " " + u.Mail)},
			{Key: "updatedAt", Value: now},
		}
		onInsert := bson.D{{Key: "access", Value: "UNKNOWN"}, {Key: "capture", Value: true}, {Key: "createdAt", Value: now}, {Key: "nextCheckAt", Value: now}}
		models = append(models, mongo.NewUpdateOneModel().
			SetFilter(bson.D{{Key: "_id", Value: MailboxID(o.org, u.UserID)}}).
			SetUpdate(bson.D{{Key: "$set", Value: set}, {Key: "$setOnInsert", Value: onInsert}}).
			SetUpsert(true))
	}
	if len(fresh) == 0 && len(models) == 0 {
		return nil
	}
	defer func() {
		if err == nil {
			err = o.raiseMailboxGen(ctx)
		}
	}()
	coll := o.s.collection(mailboxCollection)
	for len(fresh) > 0 {
		n := min(len(fresh), 1000)
		if _, err := coll.InsertMany(ctx, fresh[:n], options.InsertMany().SetOrdered(false)); err != nil {
			return fmt.Errorf("record new users: %w", err)
		}
		fresh = fresh[n:]
	}
	if len(models) == 0 {
		return nil
	}
	if _, err := coll.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false)); err != nil {
		return fmt.Errorf("record users: %w", err)
	}
	return nil
}

// mailboxIDs reads the ids of the organisation's mailboxes.
func (o OrgScope) mailboxIDs(ctx context.Context) (map[string]bool, error) {
	cur, err := o.s.collection(mailboxCollection).Find(ctx, o.filter(), options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("list mailbox ids: %w", err)
	}
	var rows []struct {
		ID string `bson:"_id"`
	}
	if err := cur.All(ctx, &rows); err != nil {
		return nil, fmt.Errorf("list mailbox ids: %w", err)
	}
	out := make(map[string]bool, len(rows))
	for _, r := range rows {
		out[r.ID] = true
	}
	return out, nil
}

// MarkMailboxesDeleted records users removed from the tenant; they are probed no more.
func (o OrgScope) MarkMailboxesDeleted(ctx context.Context, userIDs []string, now time.Time) error {
	return o.updateMailboxes(ctx, "mark users deleted", userIDs,
		bson.D{{Key: "deleted", Value: true}, {Key: "updatedAt", Value: now}, {Key: "nextCheckAt", Value: farFuture}})
}

// farFuture is when nothing is due.
var farFuture = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// Mailbox reads one of the organisation's mailboxes by user id.
func (o OrgScope) Mailbox(ctx context.Context, userID string) (Mailbox, error) {
	var m Mailbox
	err := o.s.collection(mailboxCollection).FindOne(ctx, o.filter(bson.E{Key: "_id", Value: MailboxID(o.org, userID)})).Decode(&m)
	if err != nil {
		return Mailbox{}, notFound(err, "mailbox "+userID)
	}
	return m, nil
}

// MailboxQuery selects mailboxes; the zero value selects every live one.
type MailboxQuery struct {
	Access  []string
	Kind    []string
	Capture *bool
	Search  string // substring of name, UPN or mail, any case
	// After is the sort key (displayName, _id) of the last mailbox of the previous page.
	AfterName, AfterID string
	Limit              int
}

// Mailboxes lists live (not deleted) mailboxes by display name.
func (o OrgScope) Mailboxes(ctx context.Context, q MailboxQuery) ([]Mailbox, error) {
	f := o.filter(bson.E{Key: "deleted", Value: false})
	if len(q.Access) > 0 {
		f = append(f, bson.E{Key: "access", Value: bson.D{{Key: "$in", Value: q.Access}}})
	}
	if len(q.Kind) > 0 {
		f = append(f, bson.E{Key: "kind", Value: bson.D{{Key: "$in", Value: q.Kind}}})
	}
	if q.Capture != nil {
		f = append(f, bson.E{Key: "capture", Value: *q.Capture})
	}
	if q.Search != "" {
		f = append(f, bson.E{Key: "search", Value: bson.D{{Key: "$regex", Value: regexp.QuoteMeta(strings.ToLower(q.Search))}}})
	}
	if q.AfterID != "" {
		f = append(f, bson.E{Key: "$or", Value: bson.A{
			bson.D{{Key: "displayName", Value: bson.D{{Key: "$gt", Value: q.AfterName}}}},
			bson.D{{Key: "displayName", Value: q.AfterName}, {Key: "_id", Value: bson.D{{Key: "$gt", Value: q.AfterID}}}},
		}})
	}
	opts := options.Find().SetSort(bson.D{{Key: "displayName", Value: 1}, {Key: "_id", Value: 1}})
	if q.Limit > 0 {
		opts.SetLimit(int64(q.Limit))
	}
	cur, err := o.s.collection(mailboxCollection).Find(ctx, f, opts)
	if err != nil {
		return nil, fmt.Errorf("list mailboxes: %w", err)
	}
	out := []Mailbox{}
	if err := cur.All(ctx, &out); err != nil {
		return nil, fmt.Errorf("list mailboxes: %w", err)
	}
	return out, nil
}

// MailboxesDue lists live mailboxes whose next probe is due, soonest first. On FerretDB, from
// the organisation's snapshot (LiveMailboxes); on MongoDB the partition_due index serves it.
func (o OrgScope) MailboxesDue(ctx context.Context, now time.Time, limit int, partitions []int) ([]Mailbox, error) {
	if o.s.ferret {
		live, err := o.LiveMailboxes(ctx)
		if err != nil {
			return nil, err
		}
		return dueIn(live, now, partitions, limit), nil
	}
	cur, err := o.s.collection(mailboxCollection).Find(ctx,
		inPartitions(o.filter(bson.E{Key: "deleted", Value: false}, bson.E{Key: "nextCheckAt", Value: bson.D{{Key: "$lte", Value: now}}}), partitions),
		options.Find().SetSort(bson.D{{Key: "nextCheckAt", Value: 1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, fmt.Errorf("list due mailboxes: %w", err)
	}
	var out []Mailbox
	if err := cur.All(ctx, &out); err != nil {
		return nil, fmt.Errorf("list due mailboxes: %w", err)
	}
	return out, nil
}

// OrgsWithMailboxesDue lists the organisations with a mailbox whose probe is due by now, in the
// given partitions (nil: all): one query, however many organisations there are.
func (s *Store) OrgsWithMailboxesDue(ctx context.Context, now time.Time, partitions []int) ([]string, error) {
	if s.ferret {
		return s.orgsDueFromSnapshots(ctx, now, partitions)
	}
	f := inPartitions(bson.D{{Key: "deleted", Value: false}, {Key: "nextCheckAt", Value: bson.D{{Key: "$lte", Value: now}}}}, partitions)
	var orgs []string
	if err := s.collection(mailboxCollection).Distinct(ctx, "orgId", f).Decode(&orgs); err != nil {
		return nil, fmt.Errorf("list organisations with mailboxes due: %w", err)
	}
	return orgs, nil
}

// SaveMailboxAccess records the same probe result for several mailboxes in one request (a batch
// of probes mostly ends in a few distinct results; the embedded store on SQLite scans its
// collection once per update, whatever the update's size; on PostgreSQL it is an update by _id
// for each mailbox, in one bulk write: updateMailboxes).
func (o OrgScope) SaveMailboxAccess(ctx context.Context, userIDs []string, access, code, reason string, checkedAt, next time.Time, changed bool, from string) error {
	if len(userIDs) == 0 {
		return nil
	}
	set := bson.D{{Key: "access", Value: access}, {Key: "code", Value: code}, {Key: "reason", Value: reason},
		{Key: "checkedAt", Value: checkedAt}, {Key: "nextCheckAt", Value: next}, {Key: "updatedAt", Value: checkedAt}}
	if changed {
		set = append(set, bson.E{Key: "accessChangedAt", Value: checkedAt}, bson.E{Key: "previousAccess", Value: from})
	}
	return o.updateMailboxes(ctx, "record mailbox access", userIDs, set)
}

// SetMailboxNextCheck moves a mailbox's next probe.
func (o OrgScope) SetMailboxNextCheck(ctx context.Context, userIDs []string, at time.Time) error {
	ids := make(bson.A, len(userIDs))
	for i, u := range userIDs {
		ids[i] = MailboxID(o.org, u)
	}
	f := o.filter(bson.E{Key: "deleted", Value: false})
	if len(userIDs) > 0 {
		f = append(f, bson.E{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}})
	}
	_, err := o.s.collection(mailboxCollection).UpdateMany(ctx, f, bson.D{{Key: "$set", Value: bson.D{{Key: "nextCheckAt", Value: at}}}})
	if err != nil {
		return fmt.Errorf("schedule mailbox checks: %w", err)
	}
	return o.raiseMailboxGen(ctx)
}

// SetMailboxesCapture turns capture on or off for several mailboxes at once (a capture policy
// applied to a kind).
func (o OrgScope) SetMailboxesCapture(ctx context.Context, userIDs []string, enabled bool, at time.Time) error {
	return o.updateMailboxes(ctx, "set capture", userIDs,
		bson.D{{Key: "capture", Value: enabled}, {Key: "captureChangedAt", Value: at}, {Key: "updatedAt", Value: at}})
}

// updateMailboxes sets fields of the given users' mailboxes.
func (o OrgScope) updateMailboxes(ctx context.Context, what string, userIDs []string, set bson.D) error {
	if len(userIDs) == 0 {
		return nil
	}
	ids := make(bson.A, len(userIDs))
	for i, u := range userIDs {
		ids[i] = MailboxID(o.org, u)
	}
	update := bson.D{{Key: "$set", Value: set}}
	c := o.s.collection(mailboxCollection)
	var err error
	if o.s.oneByOne(len(ids)) {
		// One update by _id each, in one request: FerretDB over PostgreSQL answers `$in` by
		// reading every mailbox of the organisation (findEach).
		models := make([]mongo.WriteModel, len(ids))
		for i, id := range ids {
			models[i] = mongo.NewUpdateOneModel().SetFilter(o.filter(bson.E{Key: "_id", Value: id})).SetUpdate(update)
		}
		_, err = c.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false))
	} else {
		_, err = c.UpdateMany(ctx, o.filter(bson.E{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}), update)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return o.raiseMailboxGen(ctx)
}

// SetMailboxCapture turns one mailbox's capture on or off.
func (o OrgScope) SetMailboxCapture(ctx context.Context, userID string, enabled bool, at time.Time) (Mailbox, error) {
	return o.updateMailbox(ctx, userID, bson.D{{Key: "capture", Value: enabled}, {Key: "captureChangedAt", Value: at}, {Key: "updatedAt", Value: at}})
}

func (o OrgScope) updateMailbox(ctx context.Context, userID string, set bson.D) (Mailbox, error) {
	var m Mailbox
	err := o.s.collection(mailboxCollection).FindOneAndUpdate(ctx, o.filter(bson.E{Key: "_id", Value: MailboxID(o.org, userID)}),
		bson.D{{Key: "$set", Value: set}}, options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&m)
	if err != nil {
		return Mailbox{}, notFound(err, "mailbox "+userID)
	}
	return m, o.raiseMailboxGen(ctx)
}

// MailboxCounts counts live mailboxes by access.
func (o OrgScope) MailboxCounts(ctx context.Context) (map[string]int, error) {
	cur, err := o.s.collection(mailboxCollection).Aggregate(ctx, mongo.Pipeline{
		{{Key: "$match", Value: o.filter(bson.E{Key: "deleted", Value: false})}},
		{{Key: "$group", Value: bson.D{{Key: "_id", Value: "$access"}, {Key: "n", Value: bson.D{{Key: "$sum", Value: 1}}}}}},
	})
	if err != nil {
		return nil, fmt.Errorf("count mailboxes: %w", err)
	}
	var rows []struct {
		Access string `bson:"_id"`
		N      int    `bson:"n"`
	}
	if err := cur.All(ctx, &rows); err != nil {
		return nil, fmt.Errorf("count mailboxes: %w", err)
	}
	out := map[string]int{}
	for _, r := range rows {
		out[r.Access] = r.N
	}
	return out, nil
}

// DeleteMailboxes removes every mailbox of the organisation (a disconnect with purge).
func (o OrgScope) DeleteMailboxes(ctx context.Context) error {
	if _, err := o.s.collection(mailboxCollection).DeleteMany(ctx, o.filter()); err != nil {
		return fmt.Errorf("delete mailboxes: %w", err)
	}
	return o.raiseMailboxGen(ctx)
}

// MailboxesByUserID reads mailboxes (deleted ones included) by directory id, in one query.
func (o OrgScope) MailboxesByUserID(ctx context.Context, userIDs []string) ([]Mailbox, error) {
	ids := make([]string, len(userIDs))
	for i, u := range userIDs {
		ids[i] = MailboxID(o.org, u)
	}
	cur, err := o.s.collection(mailboxCollection).Find(ctx, o.filter(bson.E{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}))
	if err != nil {
		return nil, fmt.Errorf("read mailboxes: %w", err)
	}
	out := []Mailbox{}
	if err := cur.All(ctx, &out); err != nil {
		return nil, fmt.Errorf("read mailboxes: %w", err)
	}
	return out, nil
}

// MailboxSample reads up to limit of the organisation's live mailboxes in no order, with their
// sign-in names only: a cheap look at the tenant (its primary domain).
func (o OrgScope) MailboxSample(ctx context.Context, limit int) ([]Mailbox, error) {
	return findAll[Mailbox](ctx, o.s.collection(mailboxCollection), "sample mailboxes", o.filter(bson.E{Key: "deleted", Value: false}),
		options.Find().SetLimit(int64(limit)).SetProjection(bson.D{{Key: "upn", Value: 1}, {Key: "userType", Value: 1}}))
}
