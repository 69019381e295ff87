package deltasync

import (
	"context"
	"maps"
	"slices"

	"github.com/teamaccess/teamaccess/privacy"
	"github.com/teamaccess/teamaccess/store"
)

// roundPolicy notes the policy's version as a full round begins: that of the rules the sync
// read as it began (syncScopes, before any of its Graph requests), which no page of the round
// is screened with an older version than; a scope's first round screens everything it stores,
// so its items passed that version from the start. (A version changed meanwhile leaves
// Screened behind the pages' rules: the next rounds remove what the newer rules exclude, the
// safe side.) Rules read once a sync instead of once a scope: 3 of the 7 policy reads a
// mailbox's sync made.
func roundPolicy(r *privacy.Rules, st *store.DeltaState) {
	if r == nil {
		return
	}
	st.RoundPolicy = r.Version()
	if st.Gen == 1 {
		st.Screened = r.Version()
	}
}

// rules are the organisation's capture rules for the next page, and the rule that keeps the
// whole mailbox out ("" when its items are decided one by one); nil rules without a policy.
func (s *Syncer) rules(ctx context.Context, org store.OrgScope, userID string) (*privacy.Rules, string, error) {
	if s.o.Policy == nil {
		return nil, "", nil
	}
	r, err := s.o.Policy.Rules(ctx, org.ID())
	if err != nil {
		return nil, "", err
	}
	owner := slices.Collect(maps.Keys(s.ownerOf(ctx, org, userID)))
	return r, r.Mailbox(userID, owner), nil
}

// screenActivities keeps the activities the policy lets be captured (blanking what it may not
// keep of them) and answers the ids of the others: what was stored of them before is removed.
// Nothing excluded is written anywhere, the change log included.
func (s *Syncer) screenActivities(ctx context.Context, org store.OrgScope, userID string, st *store.DeltaState, acts []store.Activity) ([]store.Activity, []string, error) {
	now := s.o.Now()
	return screen(ctx, s, org, userID, st, acts, func(r *privacy.Rules, a *store.Activity) (string, string) { return r.Activity(a, now), a.ID })
}

// screenContacts is screenActivities for contacts.
func (s *Syncer) screenContacts(ctx context.Context, org store.OrgScope, userID string, st *store.DeltaState, cs []store.PersonalContact) ([]store.PersonalContact, []string, error) {
	return screen(ctx, s, org, userID, st, cs, func(r *privacy.Rules, c *store.PersonalContact) (string, string) { return r.Contact(c), c.ID })
}

// screen keeps the items decide lets through (rule ""), counts the others by rule, and answers
// their ids when some of them may have been stored before.
func screen[T any](ctx context.Context, s *Syncer, org store.OrgScope, userID string, st *store.DeltaState, items []T,
	decide func(*privacy.Rules, *T) (rule, id string)) ([]T, []string, error) {
	r, whole, err := s.rules(ctx, org, userID)
	if err != nil || r == nil {
		return items, nil, err
	}
	kept, out := items[:0], []string(nil)
	counts := map[string]int{}
	for i := range items {
		rule, id := decide(r, &items[i])
		if whole != "" {
			rule = whole
		}
		if rule != "" {
			counts[rule]++
			out = append(out, id)
			continue
		}
		kept = append(kept, items[i])
	}
	for rule, n := range counts {
		s.o.Policy.Excluded(rule, n)
	}
	if st.Screened == r.Version() {
		out = nil // every stored item of the scope passed these rules: none of those they exclude is stored
	}
	return kept, out, nil
}
