package store

import (
	"context"
	"fmt"
	"regexp"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// ContactsByEmail finds live contacts with any of the addresses, for participants.
func (o OrgScope) ContactsByEmail(ctx context.Context, emails []string) ([]PersonalContact, error) {
	cur, err := o.s.collection(contactCollection).Find(ctx, o.filter(bson.E{Key: "deleted", Value: false},
		bson.E{Key: "emails", Value: bson.D{{Key: "$in", Value: emails}}}))
	if err != nil {
		return nil, fmt.Errorf("find contacts: %w", err)
	}
	out := []PersonalContact{}
	if err := cur.All(ctx, &out); err != nil {
		return nil, fmt.Errorf("find contacts: %w", err)
	}
	return out, nil
}

// ContactQuery selects and pages live contacts by (displayName, _id), ascending unless
// Descending; AfterName/AfterID is the keyset position.
type ContactQuery struct {
	MailboxIDs         []string
	Email              string // lower case
	Search             string // part of the name or company, any case
	Descending         bool
	AfterName, AfterID string
	After              bool
	Limit              int
}

// Contacts runs a contact query.
func (o OrgScope) Contacts(ctx context.Context, q ContactQuery) ([]PersonalContact, error) {
	f, sort := o.contactFind(q)
	return findAll[PersonalContact](ctx, o.s.collection(contactCollection), "query contacts", f, options.Find().SetSort(sort).SetLimit(int64(q.Limit)))
}

// contactFind is a contact query's filter and sort.
func (o OrgScope) contactFind(q ContactQuery) (bson.D, bson.D) {
	f := o.filter(bson.E{Key: "deleted", Value: false})
	if len(q.MailboxIDs) > 0 {
		f = append(f, bson.E{Key: "mailboxId", Value: bson.D{{Key: "$in", Value: q.MailboxIDs}}})
	}
	if q.Email != "" {
		f = append(f, bson.E{Key: "emails", Value: q.Email})
	}
	if q.Search != "" {
		rx := bson.D{{Key: "$regex", Value: regexp.QuoteMeta(q.Search)}, {Key: "$options", Value: "i"}}
		f = append(f, bson.E{Key: "$or", Value: bson.A{bson.D{{Key: "displayName", Value: rx}}, bson.D{{Key: "company", Value: rx}}}})
	}
	cmp, dir := "$gt", 1
	if q.Descending {
		cmp, dir = "$lt", -1
	}
	if q.After {
		f = append(f, bson.E{Key: "$and", Value: bson.A{bson.D{{Key: "$or", Value: bson.A{
			bson.D{{Key: "displayName", Value: bson.D{{Key: cmp, Value: q.AfterName}}}},
			bson.D{{Key: "displayName", Value: q.AfterName}, {Key: "_id", Value: bson.D{{Key: cmp, Value: q.AfterID}}}},
		}}}}})
	}
	return f, bson.D{{Key: "displayName", Value: dir}, {Key: "_id", Value: dir}}
}

// Contact reads one contact (tombstones included: the caller decides).
func (o OrgScope) Contact(ctx context.Context, id string) (PersonalContact, error) {
	var c PersonalContact
	err := o.s.collection(contactCollection).FindOne(ctx, o.filter(bson.E{Key: "_id", Value: id})).Decode(&c)
	if err != nil {
		return PersonalContact{}, notFound(err, "contact")
	}
	return c, nil
}
