package auth

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/teamaccess/teamaccess/errkind"
)

// Role is what an API key may do. ADMIN includes everything READER may.
type Role string

// The roles.
const (
	RoleAdmin  Role = "ADMIN"
	RoleReader Role = "READER"
)

// ParseRole reads a role name, in any case.
func ParseRole(s string) (Role, error) {
	switch Role(s) {
	case RoleAdmin, "admin":
		return RoleAdmin, nil
	case RoleReader, "reader":
		return RoleReader, nil
	}
	return "", errkind.E(errkind.ErrInvalid, "role %q is not ADMIN or READER", s)
}

// Allows reports whether a key of role r may do what needs role need.
func (r Role) Allows(need Role) bool {
	return r == RoleAdmin || r == need
}

// Identity is an authenticated caller.
type Identity struct {
	OrgID   string
	KeyID   string
	KeyName string
	Role    Role
	// AllowedOrigins are the key's (Key.AllowedOrigins).
	AllowedOrigins []string
}

// CheckOrigin says whether a request with this Origin header may use the identity's key. A
// key limited to origins needs a matching Origin: browsers send one with every cross-origin
// request and every websocket; a request without one is not from a browser page.
func (id Identity) CheckOrigin(origin string) error {
	if len(id.AllowedOrigins) == 0 || slices.Contains(id.AllowedOrigins, strings.ToLower(origin)) {
		return nil
	}
	from := "no Origin header"
	if origin != "" {
		from = "origin " + strconv.Quote(origin)
	}
	return errkind.E(errkind.ErrForbidden, "API key %s may be used only from %s; this request came from %s",
		keyPrefix+strings.TrimPrefix(id.KeyID, keyIDPrefix), strings.Join(id.AllowedOrigins, ", "), from)
}

type identityKey struct{}

// WithIdentity returns a context that carries the caller's identity.
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// FromContext returns the caller's identity, if the request was authenticated.
func FromContext(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	return id, ok
}

// Require returns the caller's identity if it has the role, or ErrUnauthenticated or
// ErrForbidden.
func Require(ctx context.Context, need Role) (Identity, error) {
	id, ok := FromContext(ctx)
	if !ok {
		return Identity{}, ErrUnauthenticated
	}
	if !id.Role.Allows(need) {
		return Identity{}, errkind.E(errkind.ErrForbidden, "this needs an %s key; this key is %s", need, id.Role)
	}
	return id, nil
}

// Errors, for callers to classify with errors.Is.
var (
	ErrUnauthenticated = errkind.ErrUnauthenticated
	ErrForbidden       = errkind.ErrForbidden
	ErrInvalid         = errkind.ErrInvalid
	ErrNotFound        = errkind.ErrNotFound
)

// Organization is a customer organisation.
type Organization struct {
	ID        string
	Name      string
	CreatedAt time.Time
}

// KeyStatus says whether a key works.
type KeyStatus string

// The key statuses.
const (
	KeyActive  KeyStatus = "ACTIVE"
	KeyExpired KeyStatus = "EXPIRED"
	KeyRevoked KeyStatus = "REVOKED"
)

// Key is an API key as its organisation's admins see it: never its secret.
type Key struct {
	ID         string
	OrgID      string
	Name       string
	Role       Role
	CreatedAt  time.Time
	ExpiresAt  *time.Time
	RevokedAt  *time.Time
	LastUsedAt *time.Time
	// AllowedOrigins, if any, are the only web origins (scheme://host[:port]) the key may be
	// used from: for a key a browser frontend holds. Empty: any caller.
	AllowedOrigins []string
}

// Prefix is the key's public start, as it appears in the secret.
func (k Key) Prefix() string { return keyPrefix + strings.TrimPrefix(k.ID, keyIDPrefix) }

// Status says whether the key works at the given time.
func (k Key) Status(now time.Time) KeyStatus {
	switch {
	case k.RevokedAt != nil:
		return KeyRevoked
	case k.ExpiresAt != nil && !now.Before(*k.ExpiresAt):
		return KeyExpired
	}
	return KeyActive
}
