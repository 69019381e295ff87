package subscriptions

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/teamaccess/teamaccess/store"
)

// sweepGrace: a record still waiting for its Graph id this recently may belong to a creation
// under way (in another process, after the keeper's lease moved); its subscription is left.
const sweepGrace = 10 * time.Minute

// sweep deletes the subscriptions this service has in Graph that no record knows: left by a
// process that died between Graph creating one and its id being saved, or by a creation that
// failed on the way back after Graph had made it, or by a deletion that failed. Each would
// otherwise be renewed by nobody yet live for up to a week, counting towards its mailbox's
// quota of subscriptions. Subscriptions with another notification URL (another deployment of
// the same app) are not this service's and are left alone.
func (s *Service) sweep(ctx context.Context, ta store.TeamAccess) (int, error) {
	listed, err := s.g.ListSubscriptions(ctx, ta.TenantID)
	if err != nil {
		return 0, fmt.Errorf("list subscriptions: %w", err)
	}
	ours := s.o.BaseURL + NotificationPath
	var ids []string
	for _, l := range listed {
		if l.NotificationURL == ours {
			ids = append(ids, l.ID)
		}
	}
	if len(ids) == 0 {
		return 0, nil
	}
	recs, err := s.st.GraphSubscriptionsBySubscriptionID(ctx, ids)
	if err != nil {
		return 0, err
	}
	knownIDs := map[string]bool{}
	for _, r := range recs {
		knownIDs[r.SubscriptionID] = true
	}
	n := 0
	for _, l := range listed {
		if l.NotificationURL != ours || knownIDs[l.ID] {
			continue
		}
		mailbox, scope, ok := s.parseResource(l.Resource)
		if !ok {
			continue // not a resource this service subscribes to
		}
		deleted, err := s.sweepOne(ctx, ta, mailbox, scope, l.ID)
		if err != nil {
			return n, err
		}
		if deleted {
			n++
		}
	}
	return n, nil
}

// sweepOne deletes one unknown subscription once the mailbox's lock confirms nobody here is
// creating it and no recent record waits for it.
func (s *Service) sweepOne(ctx context.Context, ta store.TeamAccess, mailbox, scope, id string) (bool, error) {
	l := s.mailboxLock(ta.OrgID, mailbox)
	l.Lock()
	defer l.Unlock()
	byID, err := s.st.GraphSubscriptionsBySubscriptionID(ctx, []string{id})
	if err != nil || len(byID) > 0 {
		return false, err // saved meanwhile
	}
	recs, err := s.st.Org(ta.OrgID).MailboxGraphSubscriptions(ctx, mailbox)
	if err != nil {
		return false, err
	}
	for _, r := range recs {
		if r.Scope == scope && r.SubscriptionID == "" && s.now().Sub(r.UpdatedAt) < sweepGrace {
			return false, nil
		}
	}
	if err := s.g.DeleteSubscription(ctx, ta.TenantID, id); err != nil {
		return false, fmt.Errorf("delete orphaned subscription %s: %w", id, err)
	}
	s.o.Log.Info("deleted a subscription no record knew (left by a failed creation or a crash)",
		"organization", ta.OrgID, "mailbox", mailbox, "scope", scope, "subscription", id)
	return true, nil
}

// parseResource finds the mailbox and scope of a resource this service subscribes to. Graph
// lists a resource as it was given; case and a leading slash are not relied on.
func (s *Service) parseResource(res string) (mailbox, scope string, ok bool) {
	r := strings.TrimPrefix(res, "/")
	if len(r) < len("users/") || !strings.EqualFold(r[:len("users/")], "users/") {
		return "", "", false
	}
	user, _, _ := strings.Cut(r[len("users/"):], "/")
	for _, sc := range s.sync.Scopes() {
		if strings.EqualFold(strings.TrimPrefix(resource(user, sc), "/"), r) {
			return user, sc, true
		}
	}
	return "", "", false
}
