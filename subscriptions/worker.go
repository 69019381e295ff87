package subscriptions

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/teamaccess/teamaccess/store"
)

const (
	// leaseFor keeps other processes' workers off entries being worked on; a crashed worker's
	// entries come back after it. A round that outlasts it may be run twice: harmless.
	leaseFor = 30 * time.Second
	// drainBatch is how many entries one pass takes.
	drainBatch = 500
	// maxAttempts: after so many failed rounds an entry is given up, with a warning; the mailbox's
	// scheduled delta sync still reads what it announced.
	maxAttempts = 12
)

// Run writes deliveries to the inbox and works the inbox off until ctx ends.
func (s *Service) Run(ctx context.Context) {
	s.batch.run(ctx, 2)
	t := time.NewTicker(s.o.Poll)
	defer t.Stop()
	for {
		for ctx.Err() == nil {
			n, err := s.Drain(ctx)
			if err != nil {
				if ctx.Err() == nil {
					s.o.Log.Warn("working off change notifications", "err", err)
				}
				break
			}
			if n == 0 {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-t.C:
		}
	}
}

// Poke wakes the worker: entries were just written.
func (s *Service) Poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// group is the entries of one mailbox scope in a pass.
type group struct {
	rec       store.GraphSubscription
	entries   []store.InboxEntry
	attempts  int
	lifecycle []store.InboxEntry
}

// Drain leases a batch of pending entries and works them: one delta round per mailbox scope,
// lifecycle events answered first. It returns how many entries it took.
func (s *Service) Drain(ctx context.Context) (int, error) {
	now := s.now()
	es, err := s.st.LeaseInbox(ctx, s.owner, now, now.Add(leaseFor), drainBatch)
	if err != nil || len(es) == 0 {
		return 0, err
	}
	groups := map[string]*group{}
	var order []string
	for _, e := range es {
		id := store.ItemID(e.OrgID, e.MailboxID, e.Scope, "")
		g, ok := groups[id]
		if !ok {
			g = &group{}
			groups[id] = g
			order = append(order, id)
		}
		g.entries = append(g.entries, e)
		g.attempts = max(g.attempts, e.Attempts)
		if e.LifecycleEvent != "" {
			g.lifecycle = append(g.lifecycle, e)
		}
	}
	recs, err := s.st.GraphSubscriptionsByID(ctx, order)
	if err != nil {
		return 0, err
	}
	var gone []bson.ObjectID
	for _, id := range order {
		r, ok := recs[id]
		if !ok {
			// The mailbox is no longer captured, or its organisation disconnected.
			for _, e := range groups[id].entries {
				gone = append(gone, e.ID)
			}
			delete(groups, id)
			continue
		}
		groups[id].rec = r
	}
	if err := s.st.CompleteInbox(ctx, gone, now); err != nil {
		return 0, err
	}
	var work []*group
	for _, id := range order {
		if g, ok := groups[id]; ok {
			work = append(work, g)
		}
	}
	return len(es), eachConcurrently(ctx, s.o.Concurrency, work, func(g *group) error { return s.work(ctx, g) })
}

// work answers a group's lifecycle events, runs its delta round, and completes its entries;
// on failure they go back to the inbox for a later attempt.
func (s *Service) work(ctx context.Context, g *group) error {
	r := g.rec
	ids := make([]bson.ObjectID, len(g.entries))
	for i, e := range g.entries {
		ids[i] = e.ID
	}
	err := s.lifecycle(ctx, &r, g.lifecycle)
	if err == nil {
		err = s.sync.SyncScopes(ctx, r.OrgID, r.TenantID, r.MailboxID, []string{r.Scope})
	}
	now := s.now()
	if err == nil || g.attempts >= maxAttempts {
		if err != nil {
			s.o.Log.Warn("change notifications given up after repeated failures; the scheduled delta sync will read their changes",
				"organization", r.OrgID, "mailbox", r.MailboxID, "scope", r.Scope, "count", len(ids), "err", err)
		}
		return s.st.CompleteInbox(ctx, ids, now)
	}
	if ctx.Err() != nil {
		// Shutting down: hand the entries back at once rather than when the lease lapses.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = s.st.ReleaseInbox(rctx, ids, now)
		return nil
	}
	back := min(time.Second<<min(g.attempts, 9), 5*time.Minute)
	if rerr := s.st.ReleaseInbox(ctx, ids, now.Add(back)); rerr != nil {
		return errors.Join(err, rerr)
	}
	return fmt.Errorf("mailbox %s %s: %w", r.MailboxID, r.Scope, err)
}

// lifecycle answers lifecycle events (concepts/change-notifications-lifecycle-events.md):
// reauthorizationRequired → reauthorize (recreate if gone); subscriptionRemoved → recreate; missed
// needs only the delta round that follows. Events of a subscription already replaced are moot.
func (s *Service) lifecycle(ctx context.Context, r *store.GraphSubscription, events []store.InboxEntry) error {
	if len(events) == 0 {
		return nil
	}
	l := s.mailboxLock(r.OrgID, r.MailboxID)
	l.Lock()
	defer l.Unlock()
	// The latest record: an event may already have been answered by another pass.
	recs, err := s.st.GraphSubscriptionsByID(ctx, []string{r.ID})
	if err != nil {
		return err
	}
	cur, ok := recs[r.ID]
	if !ok {
		return nil
	}
	*r = cur
	handled := map[string]bool{}
	for _, e := range events {
		key := e.SubscriptionID + "|" + e.LifecycleEvent
		if handled[key] || e.SubscriptionID != r.SubscriptionID {
			continue
		}
		handled[key] = true
		r.LastLifecycleEvent = e.LifecycleEvent
		switch e.LifecycleEvent {
		case "reauthorizationRequired":
			err := s.g.ReauthorizeSubscription(ctx, r.TenantID, r.SubscriptionID)
			switch {
			case errors.Is(err, ErrGone):
				_ = s.create(ctx, r) // a failure is recorded and retried by the scheduled job
			case err != nil && errors.Is(err, ErrTransient):
				return err
			case err != nil:
				// Refused for good (consent revoked, say): recorded; the scheduled job retries.
				_ = s.failed(ctx, r, "reauthorize", err)
			default:
				now := s.now()
				r.RenewedAt = &now
				s.succeeded(r)
				if err := s.st.SaveGraphSubscription(ctx, *r); err != nil {
					return err
				}
			}
		case "subscriptionRemoved":
			_ = s.create(ctx, r) // a failure is recorded and retried by the scheduled job
		case "missed":
			if err := s.st.SaveGraphSubscription(ctx, *r); err != nil {
				return err
			}
		}
	}
	s.o.Log.Info("lifecycle events answered", "organization", r.OrgID, "mailbox", r.MailboxID, "scope", r.Scope,
		"events", slices.Sorted(maps.Keys(handled)))
	return nil
}

// Prune deletes inbox entries done longer ago than the retention: the scheduled job (FerretDB
// has no TTL indexes).
func (s *Service) Prune(ctx context.Context) error {
	n, err := s.st.PruneInbox(ctx, s.now().Add(-s.o.Retention))
	if n > 0 {
		s.o.Log.Debug("notification inbox pruned", "deleted", n)
	}
	return err
}
