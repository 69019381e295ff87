package auth

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/teamaccess/teamaccess/errkind"
	"github.com/teamaccess/teamaccess/store"
)

// NewKey is what a new API key is to be.
type NewKey struct {
	Name      string
	Role      Role
	ExpiresAt *time.Time
	// AllowedOrigins limits the key to these web origins (Key.AllowedOrigins); at most
	// MaxOrigins.
	AllowedOrigins []string
}

// MaxOrigins is how many origins a key may be limited to.
const MaxOrigins = 20

// CreateKey creates an API key in the actor's organisation and returns it with its secret,
// which exists nowhere else.
func (d *Directory) CreateKey(ctx context.Context, actor Actor, spec NewKey) (Key, string, error) {
	role, expiresAt := spec.Role, spec.ExpiresAt
	name, err := checkName("the key's name", spec.Name)
	if err != nil {
		return Key{}, "", err
	}
	origins, err := checkOrigins(spec.AllowedOrigins)
	if err != nil {
		return Key{}, "", err
	}
	if role != RoleAdmin && role != RoleReader {
		return Key{}, "", errkind.E(errkind.ErrInvalid, "role %q is not ADMIN or READER", role)
	}
	now := d.now().UTC().Truncate(time.Millisecond)
	if expiresAt != nil {
		if !expiresAt.After(now) {
			return Key{}, "", errkind.E(errkind.ErrInvalid, "expiresAt %s is not in the future", expiresAt.Format(time.RFC3339))
		}
		t := expiresAt.UTC().Truncate(time.Millisecond)
		expiresAt = &t
	}
	id := newKeyID()
	token, hash := newSecret(id)
	sk := store.APIKey{ID: id, Name: name, Role: string(role), Hash: hash, CreatedAt: now, ExpiresAt: expiresAt, AllowedOrigins: origins}
	scope := d.st.Org(actor.OrgID)
	if err := scope.InsertAPIKey(ctx, sk); err != nil {
		return Key{}, "", fmt.Errorf("create api key: %w", err)
	}
	sk.OrgID = actor.OrgID
	k := toKey(sk)
	summary := fmt.Sprintf("created %s key %q (%s)", role, name, k.Prefix())
	if expiresAt != nil {
		summary += ", expires " + expiresAt.Format(time.RFC3339)
	}
	if len(origins) > 0 {
		summary += ", only from " + strings.Join(origins, " ")
	}
	if err := d.audit(ctx, actor, "apiKey.create", id, summary); err != nil {
		return Key{}, "", err
	}
	return k, token, nil
}

// RevokeKey revokes one of the actor's organisation's keys at once. Revoking a revoked key
// changes nothing and records nothing.
func (d *Directory) RevokeKey(ctx context.Context, actor Actor, id string) (Key, error) {
	id = normalizeKeyID(id)
	sk, changed, err := d.st.Org(actor.OrgID).RevokeAPIKey(ctx, id, d.now())
	if err != nil {
		return Key{}, fromStore(err)
	}
	d.forget(id)
	k := toKey(sk)
	if changed {
		if err := d.audit(ctx, actor, "apiKey.revoke", id, fmt.Sprintf("revoked %s key %q (%s)", k.Role, k.Name, k.Prefix())); err != nil {
			return Key{}, err
		}
	}
	return k, nil
}

// Keys lists an organisation's keys, newest first.
func (d *Directory) Keys(ctx context.Context, orgID string) ([]Key, error) {
	sks, err := d.st.Org(orgID).APIKeys(ctx)
	if err != nil {
		return nil, err
	}
	keys := make([]Key, len(sks))
	for i, sk := range sks {
		keys[i] = toKey(sk)
	}
	return keys, nil
}

// Key reads one of an organisation's keys.
func (d *Directory) Key(ctx context.Context, orgID, id string) (Key, error) {
	sk, err := d.st.Org(orgID).APIKey(ctx, normalizeKeyID(id))
	if err != nil {
		return Key{}, fromStore(err)
	}
	return toKey(sk), nil
}

// toKey drops the hash.
func toKey(sk store.APIKey) Key {
	return Key{
		ID: sk.ID, OrgID: sk.OrgID, Name: sk.Name, Role: Role(sk.Role), CreatedAt: sk.CreatedAt,
		ExpiresAt: sk.ExpiresAt, RevokedAt: sk.RevokedAt, LastUsedAt: sk.LastUsedAt,
		AllowedOrigins: append([]string{}, sk.AllowedOrigins...),
	}
}

// checkOrigins reads web origins as browsers send them in the Origin header: an http or https
// scheme, a host and an optional port, nothing else; lower-cased, duplicates dropped.
func checkOrigins(in []string) ([]string, error) {
	if len(in) > MaxOrigins {
		return nil, errkind.E(errkind.ErrInvalid, "allowedOrigins: at most %d origins, not %d", MaxOrigins, len(in))
	}
	var out []string
	for _, o := range in {
		u, err := url.Parse(strings.TrimSpace(o))
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || strings.Contains(u.Host, "*") || len(o) > 200 {
			return nil, errkind.E(errkind.ErrInvalid, "allowedOrigins: %q is not an origin such as https://app.example.com or http://localhost:3000", o)
		}
		origin := strings.ToLower(u.Scheme + "://" + u.Host)
		if !slices.Contains(out, origin) {
			out = append(out, origin)
		}
	}
	return out, nil
}
