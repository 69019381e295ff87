package auth

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/teamaccess/teamaccess/errkind"
	"github.com/teamaccess/teamaccess/store"
)

// Store is what the directory needs of the database.
type Store interface {
	APIKeyForAuthentication(ctx context.Context, id string) (store.APIKey, error)
	RecordAPIKeyUse(ctx context.Context, used map[string]time.Time) error
	Org(orgID string) store.OrgScope
	InsertOrganization(ctx context.Context, org store.Organization) error
	Organizations(ctx context.Context) ([]store.Organization, error)
	ClaimBootstrap(ctx context.Context) (bool, error)
	DeleteAuditBefore(ctx context.Context, t time.Time) (int64, error)
}

var _ Store = (*store.Store)(nil)

// DefaultCacheTTL is how long a verified key is trusted without asking the store again.
const DefaultCacheTTL = 5 * time.Second

// Directory holds the organisations and their API keys, authenticates callers and records
// administrative actions. It is safe for concurrent use.
type Directory struct {
	st       Store
	now      func() time.Time
	cacheTTL time.Duration

	mu    sync.Mutex
	cache map[string]cachedKey // key id -> what the store said, and when
	used  map[string]time.Time // key id -> last use not yet written
}

// cachedKey is a key as read from the store; found is false for an id the store lacks.
type cachedKey struct {
	key     store.APIKey
	found   bool
	fetched time.Time
}

// maxCachedKeys bounds the cache; past it the cache starts afresh.
const maxCachedKeys = 10000

// NewDirectory returns a directory over the store.
func NewDirectory(st Store) *Directory {
	return &Directory{
		st:       st,
		now:      time.Now,
		cacheTTL: DefaultCacheTTL,
		cache:    map[string]cachedKey{},
		used:     map[string]time.Time{},
	}
}

// Actor is who performs an administrative action, for the audit log.
type Actor struct {
	OrgID string
	KeyID string // empty for the command line
	Name  string
}

// ActorOf is the actor for an authenticated caller.
func ActorOf(id Identity) Actor { return Actor{OrgID: id.OrgID, KeyID: id.KeyID, Name: id.KeyName} }

// CommandLine is the actor for changes made with the teamaccess command in an organisation.
func CommandLine(orgID string) Actor { return Actor{OrgID: orgID, Name: "command line"} }

// maxNameLen bounds names of organisations and keys.
const maxNameLen = 100

// checkName trims a name and checks it is 1 to 100 printable characters.
func checkName(what, name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || len([]rune(name)) > maxNameLen {
		return "", errkind.E(errkind.ErrInvalid, "%s must be 1 to %d characters", what, maxNameLen)
	}
	if strings.IndexFunc(name, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return "", errkind.E(errkind.ErrInvalid, "%s must not contain control characters", what)
	}
	return name, nil
}

// fromStore maps store errors onto this package's.
func fromStore(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return errkind.E(errkind.ErrNotFound, "%w", err)
	}
	return err
}
