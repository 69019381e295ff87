package deltasync

import (
	"context"
	"errors"
	"time"

	"github.com/teamaccess/teamaccess/graphdata"
	"github.com/teamaccess/teamaccess/store"
)

// idleSave is how long a round that changed nothing may go without writing its state (only its
// last-success time moves; the health's lag is at most this stale after a restart).
const idleSave = time.Hour

func (s *Syncer) stamp(st store.DeltaState) store.DeltaState {
	st.UpdatedAt = s.now()
	return st
}

// loadState reads a round's state, from memory when this process saved it last and is the only
// process (with partitions, another may have written it since: a resynchronisation asked of
// another process, or a partition that moved away and back).
func (s *Syncer) loadState(ctx context.Context, org store.OrgScope, userID, scope string) (store.DeltaState, error) {
	key := store.ItemID(org.ID(), userID, scope, "")
	s.mu.Lock()
	st, ok := s.states[key]
	s.mu.Unlock()
	if ok && s.o.Partitions == nil {
		return st, nil
	}
	return org.DeltaState(ctx, userID, scope)
}

// saveState writes a round's state through to the store, except for an idle round that only
// moved its last-success time: thousands of idle mailboxes cost no writes.
func (s *Syncer) saveState(ctx context.Context, org store.OrgScope, st store.DeltaState) error {
	s.mu.Lock()
	prev, ok := s.states[st.ID]
	s.mu.Unlock()
	idle := ok && prev.Link == st.Link && prev.Items == st.Items && prev.Gen == st.Gen && prev.InRound == st.InRound &&
		prev.Failures == 0 && st.Failures == 0 && prev.LastSuccessAt != nil && st.LastSuccessAt != nil &&
		st.LastSuccessAt.Sub(prev.UpdatedAt) < idleSave
	if !idle {
		st = s.stamp(st)
		if err := org.SaveDeltaState(ctx, st); err != nil {
			return err
		}
	} else {
		st.UpdatedAt = prev.UpdatedAt
	}
	s.mu.Lock()
	s.states[st.ID] = st
	s.mu.Unlock()
	return nil
}

// failed records a failed round; its link is kept, so the next attempt resumes there.
func (s *Syncer) failed(ctx context.Context, org store.OrgScope, st *store.DeltaState, err error) error {
	if notFailure(err) {
		return err
	}
	t := s.now()
	st.LastError, st.LastErrorAt = err.Error(), &t
	st.Failures++
	if errors.Is(err, graphdata.ErrThrottled) {
		st.Throttled++
	}
	if serr := s.saveState(ctx, org, *st); serr != nil {
		return errors.Join(err, serr)
	}
	return err
}
