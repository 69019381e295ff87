package subscriptions

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/teamaccess/teamaccess/backoff"
	"github.com/teamaccess/teamaccess/graphdata"
	"github.com/teamaccess/teamaccess/store"
)

// Maintain is the scheduled job: every captured mailbox of every connected organisation has a
// live subscription for each scope (created, renewed, or retried after its backoff), and no
// mailbox that is not captured keeps one.
func (s *Service) Maintain(ctx context.Context) error {
	if ok, _ := s.Enabled(); !ok {
		return nil
	}
	if ok, err := s.holdsKeeper(ctx); err != nil || !ok {
		return err
	}
	tas, err := s.st.ConnectedTeamAccess(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, ta := range tas {
		if err := s.maintainOrg(ctx, ta); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", ta.OrgID, err))
		}
	}
	return errors.Join(errs...)
}

func (s *Service) maintainOrg(ctx context.Context, ta store.TeamAccess) error {
	recs, err := s.st.GraphSubscriptions(ctx, ta.OrgID)
	if err != nil {
		return err
	}
	byMailbox := map[string][]store.GraphSubscription{}
	for _, r := range recs {
		byMailbox[r.MailboxID] = append(byMailbox[r.MailboxID], r)
	}
	captured := map[string]bool{}
	if ta.Status == "ACTIVE" || ta.Status == "DEGRADED" {
		ms, err := s.st.Org(ta.OrgID).LiveMailboxes(ctx) // the captured ones are taken below
		if err != nil {
			return err
		}
		for _, m := range ms {
			if m.Captured() {
				captured[m.UserID] = true
			}
		}
	}
	var mailboxIDs []string
	for id := range captured {
		if s.mine(ta.OrgID, id) {
			mailboxIDs = append(mailboxIDs, id)
		}
	}
	for id := range byMailbox {
		if !captured[id] && s.mine(ta.OrgID, id) {
			mailboxIDs = append(mailboxIDs, id)
		}
	}
	slices.Sort(mailboxIDs)
	err = eachConcurrently(ctx, s.o.Concurrency, mailboxIDs, func(id string) error {
		var err error
		if captured[id] {
			err = s.ensure(ctx, ta.OrgID, ta.TenantID, id)
		} else {
			err = s.remove(ctx, byMailbox[id])
		}
		if err != nil {
			return fmt.Errorf("mailbox %s: %w", id, err)
		}
		return nil
	})
	tenant := s.o.Partitions == nil || s.o.Partitions.Tenant(ta.OrgID)
	if (ta.Status == "ACTIVE" || ta.Status == "DEGRADED") && tenant && s.sweepDue(ta.OrgID) {
		if _, serr := s.sweep(ctx, ta); serr != nil {
			err = errors.Join(err, fmt.Errorf("sweep: %w", serr))
		}
	}
	return err
}

// mine says whether this process keeps the mailbox's subscriptions.
func (s *Service) mine(orgID, mailboxID string) bool {
	return s.o.Partitions == nil || s.o.Partitions.Mailbox(orgID, mailboxID)
}

// sweepDue reports whether the organisation's sweep is due, and counts it done if so: a failed
// sweep waits for the next turn like a successful one.
func (s *Service) sweepDue(org string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.swept == nil {
		s.swept = map[string]time.Time{}
	}
	if last, ok := s.swept[org]; ok && s.now().Sub(last) < s.o.SweepEvery {
		return false
	}
	s.swept[org] = s.now()
	return true
}

// eachConcurrently runs fn for each item, n at a time, until ctx ends, and joins their errors.
func eachConcurrently[T any](ctx context.Context, n int, items []T, fn func(T) error) error {
	var g errgroup.Group
	g.SetLimit(n)
	var mu sync.Mutex
	var errs []error
	for _, it := range items {
		if ctx.Err() != nil {
			break
		}
		g.Go(func() error {
			if err := fn(it); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
			return nil // all errors are joined, not only the first
		})
	}
	_ = g.Wait()
	return errors.Join(errs...)
}

// MailboxCaptured is the capture hook: a newly captured mailbox gets its subscriptions at once,
// one no longer captured loses them. The caller runs it in the background (lifecycle).
func (s *Service) MailboxCaptured(ctx context.Context, orgID, tenantID, userID string, captured bool) {
	if ok, _ := s.Enabled(); !ok {
		return
	}
	if ok, err := s.holdsKeeper(ctx); err != nil || !ok || !s.mine(orgID, userID) {
		return // another process keeps the subscriptions: its next run sees the change
	}
	var err error
	if captured {
		err = s.EnsureMailbox(ctx, orgID, tenantID, userID)
	} else {
		var recs []store.GraphSubscription
		if recs, err = s.st.Org(orgID).MailboxGraphSubscriptions(ctx, userID); err == nil {
			err = s.remove(ctx, recs)
		}
	}
	if err != nil && ctx.Err() == nil {
		s.o.Log.Warn("mailbox subscriptions", "organization", orgID, "mailbox", userID, "captured", captured, "err", err)
	}
}

// Disconnected deletes every subscription of an organisation, in Graph (best effort: after a
// revoked consent Graph has removed them already) and in the store.
func (s *Service) Disconnected(ctx context.Context, orgID string) error {
	recs, err := s.st.GraphSubscriptions(ctx, orgID)
	if err != nil {
		return err
	}
	return s.remove(ctx, recs)
}

// EnsureMailbox brings a captured mailbox's subscriptions to one live subscription per scope:
// creating the missing ones, renewing those near their end, retrying failed ones whose backoff
// is over.
func (s *Service) EnsureMailbox(ctx context.Context, org, tenant, userID string) error {
	if ok, _ := s.Enabled(); !ok {
		return nil
	}
	return s.ensure(ctx, org, tenant, userID)
}

func (s *Service) ensure(ctx context.Context, org, tenant, userID string) error {
	l := s.mailboxLock(org, userID)
	l.Lock()
	defer l.Unlock()
	// Re-read under the lock: another caller may have just created them.
	recs, err := s.st.Org(org).MailboxGraphSubscriptions(ctx, userID)
	if err != nil {
		return err
	}
	byScope := map[string]store.GraphSubscription{}
	for _, r := range recs {
		byScope[r.Scope] = r
	}
	scopes := s.sync.Scopes()
	var errs []error
	for _, scope := range scopes {
		r, ok := byScope[scope]
		if !ok {
			r = store.GraphSubscription{ID: store.ItemID(org, userID, scope, ""), OrgID: org, TenantID: tenant, MailboxID: userID, Scope: scope}
		}
		r.TenantID = tenant
		if err := s.ensureOne(ctx, &r); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", scope, err))
		}
	}
	// Scopes no longer synced (a mail folder removed from the configuration).
	var stale []store.GraphSubscription
	for _, r := range recs {
		if !slices.Contains(scopes, r.Scope) {
			stale = append(stale, r)
		}
	}
	if len(stale) > 0 {
		errs = append(errs, s.removeLocked(ctx, stale))
	}
	return errors.Join(errs...)
}

// ensureOne creates, renews or leaves alone one subscription.
func (s *Service) ensureOne(ctx context.Context, r *store.GraphSubscription) error {
	now := s.now()
	live := r.SubscriptionID != "" && r.ExpiresAt.After(now)
	switch {
	case live && r.ExpiresAt.Sub(now) > s.renewBefore():
		s.remember(*r)
		return nil
	case r.NextAttemptAt.After(now):
		return nil // backing off after a failure
	case live:
		return s.renew(ctx, r)
	}
	return s.create(ctx, r)
}

// create makes a new subscription with a new clientState. The record is saved first, with the
// state's hash and no Graph id, so that a notification arriving before Graph's answer is known.
func (s *Service) create(ctx context.Context, r *store.GraphSubscription) error {
	if r.SubscriptionID != "" {
		s.forget(r.SubscriptionID)
	}
	state := randomToken(32)
	fresh := r.UpdatedAt.IsZero() // never saved (every save stamps it): no record to replace
	r.SubscriptionID, r.ClientStateHash, r.ExpiresAt = "", HashClientState(state), time.Time{}
	r.UpdatedAt = s.now()
	save := s.st.SaveGraphSubscription
	if fresh {
		save = s.st.CreateGraphSubscription
	}
	if err := save(ctx, *r); err != nil {
		return err
	}
	req := graphdata.SubscriptionRequest{
		Resource: resource(r.MailboxID, r.Scope), ChangeType: "created,updated,deleted",
		NotificationURL: s.o.BaseURL + NotificationPath, LifecycleNotificationURL: s.o.BaseURL + LifecyclePath,
		ClientState: state,
	}
	asked := s.lifetime()
	req.ExpiresAt = s.now().Add(asked)
	c, err := s.g.CreateSubscription(ctx, r.TenantID, req)
	if ceiling, ok := namedCeiling(err); ok && s.lowerCeiling(ceiling, asked) {
		req.ExpiresAt = s.now().Add(s.lifetime())
		c, err = s.g.CreateSubscription(ctx, r.TenantID, req)
	}
	if err != nil {
		return s.failed(ctx, r, "create", err)
	}
	now := s.now()
	r.SubscriptionID, r.ExpiresAt, r.CreatedAt, r.RenewedAt = c.ID, c.ExpiresAt, &now, nil
	s.succeeded(r)
	if err := s.st.SaveGraphSubscription(ctx, *r); err != nil {
		return err
	}
	s.remember(*r)
	s.o.Log.Debug("subscription created", "organization", r.OrgID, "mailbox", r.MailboxID, "scope", r.Scope, "subscription", c.ID, "expires", c.ExpiresAt)
	return nil
}

// renew extends a live subscription; one Graph no longer has is recreated.
func (s *Service) renew(ctx context.Context, r *store.GraphSubscription) error {
	asked := s.lifetime()
	c, err := s.g.RenewSubscription(ctx, r.TenantID, r.SubscriptionID, s.now().Add(asked))
	if ceiling, ok := namedCeiling(err); ok && s.lowerCeiling(ceiling, asked) {
		c, err = s.g.RenewSubscription(ctx, r.TenantID, r.SubscriptionID, s.now().Add(s.lifetime()))
	}
	if errors.Is(err, graphdata.ErrSubscriptionGone) {
		return s.create(ctx, r)
	}
	if err != nil {
		return s.failed(ctx, r, "renew", err)
	}
	now := s.now()
	r.ExpiresAt, r.RenewedAt = c.ExpiresAt, &now
	s.succeeded(r)
	if err := s.st.SaveGraphSubscription(ctx, *r); err != nil {
		return err
	}
	s.remember(*r)
	return nil
}

func (s *Service) succeeded(r *store.GraphSubscription) {
	r.Failures, r.LastError, r.LastErrorAt, r.NextAttemptAt, r.UpdatedAt = 0, "", nil, time.Time{}, s.now()
}

// failed records a failure on the subscription's health and schedules the next attempt:
// a minute, doubling up to six hours, jittered.
func (s *Service) failed(ctx context.Context, r *store.GraphSubscription, what string, cause error) error {
	now := s.now()
	r.Failures++
	r.LastError, r.LastErrorAt, r.UpdatedAt = what+": "+cause.Error(), &now, now
	r.NextAttemptAt = now.Add(backoff.Delay(time.Minute, 6*time.Hour, r.Failures-1))
	if err := s.st.SaveGraphSubscription(ctx, *r); err != nil {
		return errors.Join(cause, err)
	}
	s.o.Log.Warn("subscription failed", "organization", r.OrgID, "mailbox", r.MailboxID, "scope", r.Scope, "action", what,
		"failures", r.Failures, "retry_at", r.NextAttemptAt, "err", cause)
	return cause
}

// remove deletes subscriptions in Graph and their records.
func (s *Service) remove(ctx context.Context, recs []store.GraphSubscription) error {
	if len(recs) == 0 {
		return nil
	}
	l := s.mailboxLock(recs[0].OrgID, recs[0].MailboxID)
	l.Lock()
	defer l.Unlock()
	return s.removeLocked(ctx, recs)
}

func (s *Service) removeLocked(ctx context.Context, recs []store.GraphSubscription) error {
	var errs []error
	for _, r := range recs {
		if r.SubscriptionID != "" {
			s.forget(r.SubscriptionID)
			if err := s.g.DeleteSubscription(ctx, r.TenantID, r.SubscriptionID); err != nil && !errors.Is(err, graphdata.ErrSubscriptionGone) {
				// Graph lets it expire on its own; nothing it sends will be accepted any more.
				s.o.Log.Warn("deleting a subscription in Graph failed; it will expire", "subscription", r.SubscriptionID, "err", err)
			}
		}
		if err := s.st.DeleteGraphSubscription(ctx, r.ID); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
