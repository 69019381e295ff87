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

// Collections.
const (
	orgsCollection    = "organizations"
	apiKeysCollection = "apiKeys"
	auditCollection   = "audit"
)

// ErrNotFound reports that no document matched, or none that the organisation may see.
var ErrNotFound = errors.New("not found")

// Organization is a customer organisation: the owner of a tenant connection and its data.
type Organization struct {
	ID        string    `bson:"_id"`
	Name      string    `bson:"name"`
	CreatedAt time.Time `bson:"createdAt"`
}

// notFound turns the driver's "no documents" into ErrNotFound, naming what was sought.
func notFound(err error, what string) error {
	if errors.Is(err, mongo.ErrNoDocuments) {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return fmt.Errorf("read %s: %w", what, err)
}

// OrgScope is the store as one organisation sees it: every query through it is filtered by
// that organisation, so no caller can forget the filter. Obtain one with Store.Org.
type OrgScope struct {
	s   *Store
	org string
}

// Org returns the view of one organisation's data.
func (s *Store) Org(orgID string) OrgScope { return OrgScope{s: s, org: orgID} }

// ID is the organisation this scope sees.
func (o OrgScope) ID() string { return o.org }

// filter adds the organisation to a filter.
func (o OrgScope) filter(f ...bson.E) bson.D {
	return append(bson.D{{Key: "orgId", Value: o.org}}, f...)
}

// InsertOrganization stores a new organisation.
func (s *Store) InsertOrganization(ctx context.Context, org Organization) error {
	if _, err := s.collection(orgsCollection).InsertOne(ctx, org); err != nil {
		return fmt.Errorf("insert organization: %w", err)
	}
	return nil
}

// Organizations lists every organisation, oldest first: for operators and the command line.
func (s *Store) Organizations(ctx context.Context) ([]Organization, error) {
	cur, err := s.collection(orgsCollection).Find(ctx, bson.D{},
		options.Find().SetSort(bson.D{{Key: "createdAt", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("list organizations: %w", err)
	}
	var orgs []Organization
	if err := cur.All(ctx, &orgs); err != nil {
		return nil, fmt.Errorf("list organizations: %w", err)
	}
	return orgs, nil
}

// Organization reads the scope's own organisation.
func (o OrgScope) Organization(ctx context.Context) (Organization, error) {
	var org Organization
	err := o.s.collection(orgsCollection).FindOne(ctx, bson.D{{Key: "_id", Value: o.org}}).Decode(&org)
	if err != nil {
		return Organization{}, notFound(err, "organization "+o.org)
	}
	return org, nil
}

// ClaimBootstrap marks the store as bootstrapped. It returns true for exactly one caller ever,
// however many processes race, so the first admin key is created and shown once.
func (s *Store) ClaimBootstrap(ctx context.Context) (bool, error) {
	_, err := s.collection(metaCollection).InsertOne(ctx, bson.D{
		{Key: "_id", Value: "bootstrap"},
		{Key: "at", Value: time.Now().UTC()},
	})
	if mongo.IsDuplicateKeyError(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("claim bootstrap: %w", err)
	}
	return true, nil
}
