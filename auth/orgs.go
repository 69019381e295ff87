package auth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/teamaccess/teamaccess/store"
)

// CreateOrganization adds a customer organisation.
func (d *Directory) CreateOrganization(ctx context.Context, name string) (Organization, error) {
	name, err := checkName("the organization's name", name)
	if err != nil {
		return Organization{}, err
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	org := store.Organization{ID: "org_" + hex.EncodeToString(b[:]), Name: name, CreatedAt: d.now().UTC().Truncate(time.Millisecond)}
	if err := d.st.InsertOrganization(ctx, org); err != nil {
		return Organization{}, fmt.Errorf("create organization: %w", err)
	}
	return Organization(org), nil
}

// Organization reads an organisation.
func (d *Directory) Organization(ctx context.Context, orgID string) (Organization, error) {
	org, err := d.st.Org(orgID).Organization(ctx)
	if err != nil {
		return Organization{}, fromStore(err)
	}
	return Organization(org), nil
}

// Organizations lists every organisation, oldest first.
func (d *Directory) Organizations(ctx context.Context) ([]Organization, error) {
	orgs, err := d.st.Organizations(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Organization, len(orgs))
	for i, o := range orgs {
		out[i] = Organization(o)
	}
	return out, nil
}

// Bootstrapped is what the first start of an installation created.
type Bootstrapped struct {
	Org    Organization
	Key    Key
	Secret string
}

// Bootstrap gives a new installation its first organisation and admin key, once: it returns
// nil on every later call, in this process or any other, and when organisations exist already.
func (d *Directory) Bootstrap(ctx context.Context) (*Bootstrapped, error) {
	first, err := d.st.ClaimBootstrap(ctx)
	if err != nil || !first {
		return nil, err
	}
	orgs, err := d.st.Organizations(ctx)
	if err != nil || len(orgs) > 0 {
		return nil, err
	}
	org, err := d.CreateOrganization(ctx, "Default organization")
	if err != nil {
		return nil, err
	}
	key, secret, err := d.CreateKey(ctx, Actor{OrgID: org.ID, Name: "first start"}, NewKey{Name: "first admin key", Role: RoleAdmin})
	if err != nil {
		return nil, err
	}
	return &Bootstrapped{Org: org, Key: key, Secret: secret}, nil
}
