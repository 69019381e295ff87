package deltasync

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/teamaccess/teamaccess/store"
)

// writableFor is how long a look at an organisation's connection serves its rounds' writes.
const writableFor = time.Second

// PurgeSettle is how long a purge waits after marking the organisation before it deletes: time
// for every process's rounds to see the mark (within writableFor) and finish a page they were
// writing.
const PurgeSettle = 3 * time.Second

// writable returns errHeld when the page just fetched must not be written: the organisation's
// data is being purged (by any process), or it is no longer connected to the tenant the round
// reads. The answer is kept for writableFor.
func (s *Syncer) writable(ctx context.Context, org store.OrgScope, tenantID string) error {
	key := org.ID() + "|" + tenantID
	now := time.Now()
	s.mu.Lock()
	c, ok := s.connected[key]
	s.mu.Unlock()
	if !ok || now.Sub(c.at) >= writableFor {
		ta, err := org.TeamAccess(ctx)
		if err != nil {
			return err
		}
		c = connection{at: now, ok: ta.PurgingAt == nil && (ta.Status == "" || ta.TenantID == tenantID)}
		s.mu.Lock()
		if s.connected == nil {
			s.connected = map[string]connection{}
		}
		s.connected[key] = c
		s.mu.Unlock()
	}
	if !c.ok {
		return errHeld
	}
	return nil
}

// connection is a look at whether an organisation's rounds may write.
type connection struct {
	at time.Time
	ok bool
}

// errHeld ends a round of an organisation under Hold, or being purged, or disconnected.
var errHeld = errors.New("the organisation's sync is on hold (its data is being purged, or it was disconnected)")

// Hold stops the organisation's syncing in this process until release is called, so that a
// purge of its data is final: rounds under way stop before their next page (what they have
// fetched is not written), Hold returns once they have, and no round starts until release. The
// release also forgets the organisation's rounds (Forget). If ctx ends first, nothing is held.
func (s *Syncer) Hold(ctx context.Context, orgID string) (release func(), err error) {
	s.mu.Lock()
	if s.held == nil {
		s.held = map[string]bool{}
	}
	s.held[orgID] = true
	prefix := orgID + "|"
	var locks []chan struct{}
	for k, l := range s.running {
		if strings.HasPrefix(k, prefix) {
			locks = append(locks, l)
		}
	}
	s.mu.Unlock()
	// A round that takes its lock after this look sees the hold before its first page.
	var taken []chan struct{}
	unlock := func() {
		for _, l := range taken {
			<-l
		}
	}
	for _, l := range locks {
		select {
		case l <- struct{}{}:
			taken = append(taken, l)
		case <-ctx.Done():
			unlock()
			s.mu.Lock()
			delete(s.held, orgID)
			s.mu.Unlock()
			return nil, ctx.Err()
		}
	}
	return func() {
		s.Forget(orgID)
		s.mu.Lock()
		delete(s.held, orgID)
		s.mu.Unlock()
		unlock()
	}, nil
}

func (s *Syncer) isHeld(orgID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held[orgID]
}

// Forget drops what this process remembers of an organisation's rounds, after its captured data
// was purged: the next sync of each mailbox starts with a backfill, as the first did.
func (s *Syncer) Forget(orgID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	prefix := orgID + "|"
	for k := range s.states {
		if strings.HasPrefix(k, prefix) {
			delete(s.states, k)
		}
	}
	for k := range s.next {
		if strings.HasPrefix(k, prefix) {
			delete(s.next, k)
		}
	}
	for k := range s.fails {
		if strings.HasPrefix(k, prefix) {
			delete(s.fails, k)
		}
	}
	delete(s.domains, orgID)
}
