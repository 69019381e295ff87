package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"maps"

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
	k, found, err := d.lookup(ctx, id)
	if err != nil {
		return Identity{}, err
	}
	if !found || subtle.ConstantTimeCompare(hash, k.Hash) != 1 {
		return Identity{}, fmt.Errorf("%w: unknown API key", ErrUnauthenticated)
	}
	now := d.now()
	switch toKey(k).Status(now) {
	case KeyRevoked:
		return Identity{}, fmt.Errorf("%w: API key %s was revoked", ErrUnauthenticated, toKey(k).Prefix())
	case KeyExpired:
		return Identity{}, fmt.Errorf("%w: API key %s has expired", ErrUnauthenticated, toKey(k).Prefix())
	}
	d.mu.Lock()
	d.used[id] = now
	d.mu.Unlock()
	return Identity{OrgID: k.OrgID, KeyID: k.ID, KeyName: k.Name, Role: Role(k.Role)}, nil
}

// lookup reads a key through the cache.
func (d *Directory) lookup(ctx context.Context, id string) (store.APIKey, bool, error) {
	now := d.now()
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
