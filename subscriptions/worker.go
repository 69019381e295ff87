package subscriptions

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/teamaccess/teamaccess/backoff"
	"github.com/teamaccess/teamaccess/graphdata"
	"github.com/teamaccess/teamaccess/store"
)

const (
	// leaseName is the lease one process at a time holds to work the inbox off (the others
	// only write to it); leaseFor is how long it lasts unrenewed, so how soon another process
	// takes over from one that died.
	leaseName = "notification-worker"
	leaseFor  = 10 * time.Second
	// drainBatch is how many entries one pass takes.
	drainBatch = 500
	// maxAttempts: after so many failed rounds an entry is given up, with a warning; the mailbox's
	// scheduled delta sync still reads what it announced.
	maxAttempts = 12
)

// Run writes deliveries to the inbox and works the inbox off until ctx ends; it returns once
// its inbox writers have too.
func (s *Service) Run(ctx context.Context) {
	writers := s.batch.run(ctx, 2)
	defer writers.Wait()
	t := time.NewTicker(s.o.Poll)
	defer t.Stop()
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = s.worker.Release(rctx) // a restart, or another process, takes over at once
	}()
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
			// Let the burst gather: one pass for many deliveries costs the store (and
			// Graph) far less than a pass for each, and intake's writes wait less.
			select {
			case <-ctx.Done():
				return
			case <-time.After(s.o.Gather):
			}
		case <-t.C:
		}
	}
}

// RunIntake starts only the inbox writers, for a process that leaves the inbox to others'
// workers (and for measuring intake alone). It returns at once.
func (s *Service) RunIntake(ctx context.Context) { s.batch.run(ctx, 2) }

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

// Drain works off a batch of due entries, if this process holds the worker lease: one delta
// round per mailbox scope, lifecycle events answered first. It returns how many entries it
// took.
func (s *Service) Drain(ctx context.Context) (int, error) {
	now := s.now()
	var mine []int // nil: every partition, under the worker lease
	if s.o.Partitions != nil {
		if mine = s.o.Partitions.Held(); len(mine) == 0 {
			return 0, nil
		}
	} else if ok, err := s.worker.Claim(ctx, now); err != nil || !ok {
		return 0, err
	}
	es, err := s.st.DueInbox(ctx, now, drainBatch, mine)
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
	var finished, requeued []store.InboxEntry
	var work []*group
	for _, id := range order {
		g := groups[id]
		r, ok := recs[id]
		if !ok {
			// The mailbox is no longer captured, or its organisation disconnected.
			finished = append(finished, outcome(g.entries, store.OutcomeDropped, now)...)
			continue
		}
		g.rec = r
		work = append(work, g)
	}
	var mu sync.Mutex
	errs := eachConcurrently(ctx, s.o.Rounds, work, func(g *group) error {
		done, again, err := s.work(ctx, g)
		mu.Lock()
		finished, requeued = append(finished, done...), append(requeued, again...)
		mu.Unlock()
		return err
	})
	if ferr := s.st.FinishInbox(context.WithoutCancel(ctx), finished, requeued); ferr != nil {
		return 0, errors.Join(errs, ferr)
	}
	return len(es), errs
}

// outcome marks entries finished.
func outcome(es []store.InboxEntry, how string, now time.Time) []store.InboxEntry {
	out := make([]store.InboxEntry, len(es))
	for i, e := range es {
		e.Outcome, e.DoneAt = how, &now
		out[i] = e
	}
	return out
}

// work answers a group's lifecycle events and runs its delta round. It returns the entries
// finished and, after a failure, the entries to retry later: one for the scope's changes and
// one per lifecycle event, after a growing backoff.
func (s *Service) work(ctx context.Context, g *group) (finished, retry []store.InboxEntry, err error) {
	r := g.rec
	err = s.lifecycle(ctx, &r, g.lifecycle)
	if err == nil {
		err = s.sync.SyncScopes(ctx, r.OrgID, r.TenantID, r.MailboxID, []string{r.Scope})
	}
	now := s.now()
	switch {
	case err == nil:
		return outcome(g.entries, store.OutcomeDone, now), nil, nil
	case ctx.Err() != nil:
		return nil, nil, nil // shutting down: the entries stay in the inbox as they are
	case g.attempts+1 >= maxAttempts:
		s.o.Log.Warn("change notifications given up after repeated failures; the scheduled delta sync will read their changes",
			"organization", r.OrgID, "mailbox", r.MailboxID, "scope", r.Scope, "count", len(g.entries), "err", err)
		return outcome(g.entries, store.OutcomeDropped, now), nil, err
	}
	next := now.Add(backoff.Delay(time.Second, 5*time.Minute, g.attempts))
	again := func(e store.InboxEntry) store.InboxEntry {
		e.ID, e.NotBefore, e.Attempts, e.DoneAt, e.Outcome = bson.NewObjectID(), next, g.attempts+1, nil, ""
		return e
	}
	seen := map[string]bool{}
	for _, e := range g.entries {
		key := e.LifecycleEvent + "|" + e.SubscriptionID
		if e.LifecycleEvent == "" {
			key = "change"
		}
		if !seen[key] {
			seen[key] = true
			retry = append(retry, again(e))
		}
	}
	return outcome(g.entries, store.OutcomeRetried, now), retry, fmt.Errorf("mailbox %s %s: %w", r.MailboxID, r.Scope, err)
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
			case errors.Is(err, graphdata.ErrSubscriptionGone):
				_ = s.create(ctx, r) // a failure is recorded and retried by the scheduled job
			case err != nil && errors.Is(err, graphdata.ErrTransient):
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
	if len(handled) > 0 {
		s.o.Log.Info("lifecycle events answered", "organization", r.OrgID, "mailbox", r.MailboxID, "scope", r.Scope,
			"events", slices.Sorted(maps.Keys(handled)))
	}
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
