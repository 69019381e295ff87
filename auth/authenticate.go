package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/teamaccess/teamaccess/errkind"
	"github.com/teamaccess/teamaccess/store"
)

// Authenticate checks an API key and returns who it belongs to. Every failure wraps
// ErrUnauthenticated and says why in words a caller may see (malformed, unknown, revoked,
// expired), never which part of a secret was wrong.
func (d *Directory) Authenticate(ctx context.Context, token string) (Identity, error) {
	id, hash, err := parseToken(token)
	if err != nil {
		return Identity{}, err
	}
	now := d.now()
	k, found, err := d.lookup(ctx, id, now)
	if err != nil {
		return Identity{}, err
	}
	if !found || subtle.ConstantTimeCompare(hash, k.Hash) != 1 {
		return Identity{}, errkind.E(errkind.ErrUnauthenticated, "unknown API key")
	}
	switch {
	case k.RevokedAt != nil:
		return Identity{}, errkind.E(errkind.ErrUnauthenticated, "API key %s was revoked", toKey(k).Prefix())
	case k.ExpiresAt != nil && !now.Before(*k.ExpiresAt):
		return Identity{}, errkind.E(errkind.ErrUnauthenticated, "API key %s has expired", toKey(k).Prefix())
	}
	d.mu.Lock()
	d.used[id] = now
	d.mu.Unlock()
	return Identity{OrgID: k.OrgID, KeyID: k.ID, KeyName: k.Name, Role: Role(k.Role), AllowedOrigins: k.AllowedOrigins}, nil
}

// lookup reads a key through the cache.
func (d *Directory) lookup(ctx context.Context, id string, now time.Time) (store.APIKey, bool, error) {
	d.mu.Lock()
	c, ok := d.cache[id]
	d.mu.Unlock()
	if ok && now.Sub(c.fetched) < d.cacheTTL {
		return c.key, c.found, nil
	}
	k, err := d.st.APIKeyForAuthentication(ctx, id)
	found := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.APIKey{}, false, fmt.Errorf("authenticate: %w", err)
	}
	d.mu.Lock()
	if len(d.cache) >= maxCachedKeys {
		clear(d.cache)
	}
	d.cache[id] = cachedKey{key: k, found: found, fetched: now}
	d.mu.Unlock()
	return k, found, nil
}

// forget drops a key from the cache, so a change made here takes effect at once.
func (d *Directory) forget(id string) {
	d.mu.Lock()
	delete(d.cache, id)
	d.mu.Unlock()
}

// FlushUsage writes the keys' last-used times collected since the last flush: one bulk write
// a minute instead of one write per request.
func (d *Directory) FlushUsage(ctx context.Context) error {
	d.mu.Lock()
	used := maps.Clone(d.used)
	clear(d.used)
	d.mu.Unlock()
	if err := d.st.RecordAPIKeyUse(ctx, used); err != nil {
		d.mu.Lock() // keep them for the next flush, unless newer uses came in
		for id, at := range used {
			if at.After(d.used[id]) {
				d.used[id] = at
			}
		}
		d.mu.Unlock()
		return err
	}
	return nil
}
