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

// lease is one term of a named lease: who holds it and until when. A lease changes hands only
// by inserting its next term, whose _id (name and term number) only one claimer can insert;
// within a term only its holder writes. So no claim relies on a conditional update being
// atomic, which FerretDB's are not (it reads the matching documents, then updates them by id):
// two processes that found a lease lapsed would both have "won" it.
type lease struct {
	ID    string    `bson:"_id"`
	Name  string    `bson:"name"`
	Term  int64     `bson:"term"`
	Owner string    `bson:"owner"`
	Until time.Time `bson:"until"`
}

func leaseID(name string, term int64) string { return fmt.Sprintf("%s/%016x", name, term) }

// currentLease is the lease's latest term; false when it was never taken.
func (s *Store) currentLease(ctx context.Context, name string) (lease, bool, error) {
	var l lease
	err := s.collection(leaseCollection).FindOne(ctx, bson.D{{Key: "name", Value: name}},
		options.FindOne().SetSort(bson.D{{Key: "term", Value: -1}})).Decode(&l)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return lease{}, false, nil
	}
	if err != nil {
		return lease{}, false, fmt.Errorf("read lease %s: %w", name, err)
	}
	return l, true, nil
}

// ClaimLease takes or renews a named lease for owner until `until`, if it is free, lapsed or
// owner's already: how one process among several becomes the one that does a job.
func (s *Store) ClaimLease(ctx context.Context, name, owner string, now, until time.Time) (bool, error) {
	cur, found, err := s.currentLease(ctx, name)
	if err != nil {
		return false, err
	}
	live := found && cur.Until.After(now)
	switch {
	case live && cur.Owner == owner: // renew: only the holder writes its term
		_, err := s.collection(leaseCollection).UpdateOne(ctx, bson.D{{Key: "_id", Value: cur.ID}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "until", Value: until}}}})
		if err != nil {
			return false, fmt.Errorf("renew lease %s: %w", name, err)
		}
		return true, nil
	case live:
		return false, nil
	}
	next := lease{ID: leaseID(name, cur.Term+1), Name: name, Term: cur.Term + 1, Owner: owner, Until: until}
	if _, err := s.collection(leaseCollection).InsertOne(ctx, next); err != nil {
		if !mongo.IsDuplicateKeyError(err) {
			return false, fmt.Errorf("claim lease %s: %w", name, err)
		}
		// Another claim took this term first: it holds the lease, unless it was this owner's.
		won, found, err := s.currentLease(ctx, name)
		return err == nil && found && won.Owner == owner && won.Until.After(now), err
	}
	// Earlier terms are history.
	_, _ = s.collection(leaseCollection).DeleteMany(ctx, bson.D{{Key: "name", Value: name}, {Key: "term", Value: bson.D{{Key: "$lt", Value: next.Term}}}})
	return true, nil
}

// ReleaseLease gives a lease up, if owner holds it.
func (s *Store) ReleaseLease(ctx context.Context, name, owner string) error {
	cur, found, err := s.currentLease(ctx, name)
	if err != nil || !found || cur.Owner != owner {
		return err
	}
	_, err = s.collection(leaseCollection).UpdateOne(ctx, bson.D{{Key: "_id", Value: cur.ID}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "until", Value: time.Time{}}}}})
	if err != nil {
		return fmt.Errorf("release lease %s: %w", name, err)
	}
	return nil
}

// dropUntermedLeases deletes leases written before they had terms; whoever held one claims it
// again within its period.
func dropUntermedLeases(ctx context.Context, db *mongo.Database) error {
	_, err := db.Collection(leaseCollection).DeleteMany(ctx, bson.D{{Key: "term", Value: bson.D{{Key: "$exists", Value: false}}}})
	return err
}

// Lease is one named lease as a process holds it: claimed for a term, renewed by claiming
// again, released at shutdown so that another process takes over at once. The scheduler's
// leader, the subscription keeper and the notification worker each hold one.
type Lease struct {
	st    LeaseStore
	Name  string
	Owner string
	Term  time.Duration
}

// LeaseStore is what a Lease needs of the database (*Store has it).
type LeaseStore interface {
	ClaimLease(ctx context.Context, name, owner string, now, until time.Time) (bool, error)
	ReleaseLease(ctx context.Context, name, owner string) error
}

var _ LeaseStore = (*Store)(nil)

// NewLease is the lease name held by owner for term at a time.
func NewLease(st LeaseStore, name, owner string, term time.Duration) *Lease {
	return &Lease{st: st, Name: name, Owner: owner, Term: term}
}

// Claim takes or renews the lease as of now; false while another owner holds it.
func (l *Lease) Claim(ctx context.Context, now time.Time) (bool, error) {
	return l.st.ClaimLease(ctx, l.Name, l.Owner, now, now.Add(l.Term))
}

// Release gives the lease up, if this owner holds it.
func (l *Lease) Release(ctx context.Context) error { return l.st.ReleaseLease(ctx, l.Name, l.Owner) }
