package store

import (
	"context"
	"fmt"
	"regexp"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// LeaseTerm is the current term of a named lease: its number is the lease's fence, raised each
// time the lease changes hands, so that a write carrying an older number can be refused.
type LeaseTerm struct {
	Name  string
	Owner string
	Term  int64
	Until time.Time
}

// Live says whether the term still holds at now.
func (t LeaseTerm) Live(now time.Time) bool { return t.Until.After(now) }

// LeaseTerms lists the current term of every lease whose name begins with prefix, by name:
// one query for a whole family of leases (the partitions, the live processes).
func (s *Store) LeaseTerms(ctx context.Context, prefix string) (map[string]LeaseTerm, error) {
	var rows []lease
	rows, err := findAll[lease](ctx, s.collection(leaseCollection), "leases",
		bson.D{{Key: "name", Value: bson.D{{Key: "$regex", Value: "^" + regexp.QuoteMeta(prefix)}}}})
	if err != nil {
		return nil, err
	}
	out := make(map[string]LeaseTerm, len(rows))
	for _, l := range rows {
		if cur, ok := out[l.Name]; !ok || l.Term > cur.Term {
			out[l.Name] = LeaseTerm{Name: l.Name, Owner: l.Owner, Term: l.Term, Until: l.Until}
		}
	}
	return out, nil
}

// TakeLeaseTerm takes a lease whose current term is after (0: never taken), lapsed or
// released, by inserting the next term: only one claimer can. It returns the term taken, or
// false when another claimer took it first.
func (s *Store) TakeLeaseTerm(ctx context.Context, name, owner string, after int64, until time.Time) (int64, bool, error) {
	next := lease{ID: leaseID(name, after+1), Name: name, Term: after + 1, Owner: owner, Until: until}
	if _, err := s.collection(leaseCollection).InsertOne(ctx, next); err != nil {
		if mongo.IsDuplicateKeyError(err) {
			return 0, false, nil
		}
		return 0, false, fmt.Errorf("take lease %s: %w", name, err)
	}
	_, _ = s.collection(leaseCollection).DeleteMany(ctx, bson.D{{Key: "name", Value: name}, {Key: "term", Value: bson.D{{Key: "$lt", Value: next.Term}}}})
	return next.Term, true, nil
}

// RenewLeaseTerms moves the end of owner's terms (names to term numbers) to until, in one
// write. A term renewed after a later one was taken stays history: LeaseTerms and every claim
// read the latest term only, so the renewal of a lost lease wins nothing.
func (s *Store) RenewLeaseTerms(ctx context.Context, owner string, terms map[string]int64, until time.Time) error {
	if len(terms) == 0 {
		return nil
	}
	ids := make(bson.A, 0, len(terms))
	for name, term := range terms {
		ids = append(ids, leaseID(name, term))
	}
	_, err := s.collection(leaseCollection).UpdateMany(ctx,
		bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}, {Key: "owner", Value: owner}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "until", Value: until}}}})
	if err != nil {
		return fmt.Errorf("renew leases: %w", err)
	}
	return nil
}

// ReleaseLeaseTerms ends owner's terms at once (names to term numbers), so that another process
// takes them without waiting for them to lapse.
func (s *Store) ReleaseLeaseTerms(ctx context.Context, owner string, terms map[string]int64) error {
	return s.RenewLeaseTerms(ctx, owner, terms, time.Time{})
}

// DropLeaseTerms deletes the terms of leases whose name begins with prefix that ended before
// `before`: the memberships of processes long gone.
func (s *Store) DropLeaseTerms(ctx context.Context, prefix string, before time.Time) error {
	_, err := s.collection(leaseCollection).DeleteMany(ctx, bson.D{
		{Key: "name", Value: bson.D{{Key: "$regex", Value: "^" + regexp.QuoteMeta(prefix)}}},
		{Key: "until", Value: bson.D{{Key: "$lt", Value: before}}}})
	if err != nil {
		return fmt.Errorf("drop leases: %w", err)
	}
	return nil
}
