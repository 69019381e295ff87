package deltasync

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/teamaccess/teamaccess/auth"
	"github.com/teamaccess/teamaccess/backoff"
	"github.com/teamaccess/teamaccess/errkind"
	"github.com/teamaccess/teamaccess/store"
)

// job is a captured mailbox to sync; covered when notifications bring its changes.
type job struct {
	org, tenant, user string
	covered           bool
}

// SyncDue syncs every captured mailbox of every connected organisation whose turn has come,
// Concurrency at a time, the longest-waiting first, taking the tenants in turn: the scheduled
// job. While several tenants have mailboxes due, none holds more than half the places, so a
// tenant whose mailboxes wait out Graph's Retry-After (a 429 storm) never holds another's
// back. A mailbox that fails is tried again after 15-30 s, then waits twice as long each time
// (up to an hour), without holding the others back.
func (s *Syncer) SyncDue(ctx context.Context) error {
	tas, err := s.st.ConnectedTeamAccess(ctx)
	if err != nil {
		return err
	}
	now := s.now()
	var due []job
	var when []time.Time
	for _, ta := range tas {
		if ta.Status != "ACTIVE" && ta.Status != "DEGRADED" {
			continue
		}
		ms, err := s.st.Org(ta.OrgID).LiveMailboxes(ctx) // the captured ones are taken below
		if err != nil {
			return err
		}
		covered := map[string]bool{}
		if s.o.Covered != nil {
			if covered, err = s.o.Covered(ctx, ta.OrgID); err != nil {
				return err
			}
		}
		for _, m := range ms {
			if !m.Captured() || !s.mine(ta.OrgID, m.UserID) {
				continue
			}
			key := ta.OrgID + "|" + m.UserID
			s.mu.Lock()
			at, last := s.next[key], s.last[key]
			// A failing mailbox's turn is its backoff's: brought back to the interval after its
			// last success, it was tried at every run of the job.
			if !covered[m.UserID] && !last.IsZero() && s.fails[key] == 0 && at.After(last.Add(s.o.Interval)) {
				at = last.Add(s.o.Interval) // a stretched turn, but a subscription is gone or failing: the usual interval at once
				s.next[key] = at
			}
			s.mu.Unlock()
			if !at.After(now) {
				due = append(due, job{ta.OrgID, ta.TenantID, m.UserID, covered[m.UserID]})
				when = append(when, at)
			}
		}
	}
	order := make([]int, len(due))
	for i := range order {
		order[i] = i
	}
	sortByTime(order, when)
	return errors.Join(s.run(ctx, due, byTenantInTurn(order, due))...)
}

// run syncs the jobs in order, Concurrency at a time; while several tenants have jobs, a
// tenant has at most half the places at once, and a job whose tenant has its share waits
// without holding a place up (the next job of another tenant takes it).
func (s *Syncer) run(ctx context.Context, due []job, pending []int) []error {
	share := s.o.Concurrency
	if tenantsOf(due) > 1 {
		share = max(1, s.o.Concurrency/2)
	}
	var (
		mu      sync.Mutex
		wg      sync.WaitGroup
		errs    []error
		active  int
		running = map[string]int{}
		ended   = make(chan struct{}, len(pending)) // one per job: never blocks
	)
	for len(pending) > 0 && ctx.Err() == nil {
		mu.Lock()
		k := slices.IndexFunc(pending, func(i int) bool { return running[due[i].tenant] < share })
		if k < 0 || active >= s.o.Concurrency {
			mu.Unlock()
			<-ended // something runs: wait for it to end
			continue
		}
		j := due[pending[k]]
		pending = slices.Delete(pending, k, k+1)
		running[j.tenant]++
		active++
		mu.Unlock()
		wg.Go(func() {
			err := s.syncOn(ctx, j)
			s.schedule(j, err)
			mu.Lock()
			running[j.tenant]--
			active--
			if err != nil && !notFailure(err) {
				errs = append(errs, fmt.Errorf("%s: %w", j.user, err)) // every mailbox's error, not only the first
			}
			mu.Unlock()
			ended <- struct{}{}
		})
	}
	wg.Wait()
	return errs
}

// byTenantInTurn reorders jobs (sorted by time) to take the tenants in turn, each tenant's in
// their order: one of the first tenant's, one of the next's, and so on.
func byTenantInTurn(order []int, due []job) []int {
	var tenants []string
	queues := map[string][]int{}
	for _, i := range order {
		t := due[i].tenant
		if _, ok := queues[t]; !ok {
			tenants = append(tenants, t)
		}
		queues[t] = append(queues[t], i)
	}
	out := make([]int, 0, len(order))
	for len(out) < len(order) {
		for _, t := range tenants {
			if q := queues[t]; len(q) > 0 {
				out, queues[t] = append(out, q[0]), q[1:]
			}
		}
	}
	return out
}

func tenantsOf(due []job) int {
	seen := map[string]bool{}
	for _, j := range due {
		seen[j.tenant] = true
	}
	return len(seen)
}

func sortByTime(order []int, when []time.Time) {
	for i := 1; i < len(order); i++ {
		for k := i; k > 0 && when[order[k]].Before(when[order[k-1]]); k-- {
			order[k], order[k-1] = order[k-1], order[k]
		}
	}
}

// schedule sets a mailbox's next turn: the interval after a success, a growing, jittered backoff
// after failures.
func (s *Syncer) schedule(j job, err error) {
	if errors.Is(err, errMore) {
		s.mu.Lock()
		s.next[j.org+"|"+j.user] = s.now() // due again at once: the rest of its backfill
		s.mu.Unlock()
		return
	}
	if notFailure(err) {
		return // its data is being purged, or another process syncs it: nothing to schedule
	}
	key := j.org + "|" + j.user
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		delete(s.fails, key)
		interval := s.o.Interval
		if j.covered {
			interval = max(interval, s.o.CoveredInterval) // notifications bring its changes; a round now and then catches what they missed
		}
		s.last[key] = s.now()
		s.next[key] = s.now().Add(interval)
		return
	}
	s.fails[key]++
	s.next[key] = s.now().Add(backoff.Delay(min(s.o.Interval, retryBase), time.Hour, min(s.fails[key]-1, 8)))
}

// retryBase is the wait after a mailbox's first failure, half of it random (15-30 s), doubling
// with each failure up to an hour: most failures pass (a database that refused a connection, a
// Graph 500), and a new tenant's mailbox whose first round failed waited 5-10 minutes for its
// first data when the first wait was twice the interval.
const retryBase = 30 * time.Second

// syncOn syncs a mailbox; a backfill that gave its place up after its newest page (errMore)
// goes on once it has a place again, behind the mailboxes that were waiting (a round yields at
// most once, so this is at most two rounds).
func (s *Syncer) syncOn(ctx context.Context, j job) error {
	err := s.SyncMailbox(ctx, j.org, j.tenant, j.user)
	if errors.Is(err, errMore) {
		err = s.SyncMailbox(ctx, j.org, j.tenant, j.user)
	}
	return err
}

// SyncNow syncs a mailbox now, out of its turn (it just became captured), schedules its next
// sync from the outcome and logs a failure.
func (s *Syncer) SyncNow(ctx context.Context, orgID, tenantID, userID string) {
	j := job{org: orgID, tenant: tenantID, user: userID}
	err := s.syncOn(ctx, j)
	s.schedule(j, err)
	if err != nil && ctx.Err() == nil && !notFailure(err) {
		s.o.Log.Warn("mailbox sync failed", "organization", orgID, "mailbox", userID, "err", err)
	}
}

// Auditor records administrative actions.
type Auditor interface {
	Record(ctx context.Context, actor auth.Actor, action, target, summary string) error
}

// Resync starts full resynchronisations of a mailbox's resources (all with none): the next round
// of each reads everything and tombstones what it no longer finds. Audited; the sync runs in
// the background, for up to resyncTimeout after the request that asked for it.
func (s *Syncer) Resync(ctx context.Context, audit Auditor, actor auth.Actor, tenantID, userID string, resources []string) error {
	if len(resources) == 0 {
		resources = []string{"MAIL", "CALENDAR", "CONTACTS"}
	}
	org := s.st.Org(actor.OrgID)
	for _, r := range resources {
		if r != "MAIL" && r != "CALENDAR" && r != "CONTACTS" {
			return errkind.E(errkind.ErrInvalid, "resource %q is not MAIL, CALENDAR or CONTACTS", r)
		}
		for _, scope := range s.Scopes() {
			if store.Scope(scope).Resource() != r {
				continue
			}
			st, err := org.DeltaState(ctx, userID, scope) // the store's, written by whichever process holds the mailbox
			if err != nil {
				return err
			}
			st.Link, st.InRound, st.FullRound = "", false, false
			st.Resyncs++
			if err := s.saveState(ctx, org, st); err != nil {
				return err
			}
		}
	}
	if err := audit.Record(ctx, actor, "mailbox.resync", "mbx_"+userID, "started a full resynchronisation of "+strings.Join(resources, ", ")); err != nil {
		return err
	}
	s.o.Go(func(ctx context.Context) { // the service's, not the request's: it outlives the request
		ctx, cancel := context.WithTimeout(ctx, resyncTimeout)
		defer cancel()
		j := job{org: actor.OrgID, tenant: tenantID, user: userID}
		err := s.SyncMailbox(ctx, j.org, j.tenant, j.user)
		s.schedule(j, err)
		if err != nil && ctx.Err() == nil {
			s.o.Log.Warn("resynchronisation failed", "organization", j.org, "mailbox", j.user, "err", err)
		}
	})
	return nil
}

// resyncTimeout bounds a resynchronisation started by an admin.
const resyncTimeout = 30 * time.Minute

// Health is a scope's sync health, for the mailbox query.
type Health struct {
	Resource      string
	Scope         string
	LastSuccessAt *time.Time
	Lag           *int // seconds since the last success
	LastError     *string
	Failures      int
	Throttled     int
	Items         int
	Resyncs       int
	InProgress    bool
	Backfill      Backfill
}

// Backfill is how far a scope's first full round has come.
type Backfill struct {
	ItemsRead   int64
	ReachedBack *time.Time // mail: the oldest message read
	Complete    bool
	Capped      bool     // Graph ended the folder's round at FilteredDeltaCap
	Done        *float64 // an estimate, 0 to 1; nil when there is none
}

// backfill estimates a scope's backfill from its state: done when its first full round ended;
// mail (read newest first) by the share of the backfill window it has read back over; the
// calendar and contacts, whose order Graph does not give, unknown until done.
func (s *Syncer) backfill(st store.DeltaState, now time.Time) Backfill {
	b := Backfill{ItemsRead: st.RoundItems, ReachedBack: st.ReachedBack, Complete: st.BackfilledAt != nil, Capped: st.Capped}
	switch {
	case b.Complete:
		one := 1.0
		b.Done = &one
	case store.Scope(st.Scope).IsMail() && s.o.Backfill > 0:
		d := 0.0
		if st.ReachedBack != nil {
			d = min(0.99, max(0, now.Sub(*st.ReachedBack).Seconds()/s.o.Backfill.Seconds()))
		}
		b.Done = &d
	}
	return b
}

// BackfillSummary is an organisation's backfill, over its captured mailboxes' scopes.
type BackfillSummary struct {
	Scopes, Complete, Capped int
	ItemsRead                int64
	Done                     *float64 // the mean of the scopes' estimates, where every scope has one
}

// Backfill sums up the backfill of the organisation's captured mailboxes' synced scopes.
func (s *Syncer) Backfill(ctx context.Context, orgID string) (BackfillSummary, error) {
	org := s.st.Org(orgID)
	states, err := org.DeltaStates(ctx, "")
	if err != nil {
		return BackfillSummary{}, err
	}
	capture := true
	ms, err := org.Mailboxes(ctx, store.MailboxQuery{Access: []string{"ACCESSIBLE"}, Capture: &capture})
	if err != nil {
		return BackfillSummary{}, err
	}
	captured := map[string]bool{}
	for _, m := range ms {
		captured[m.UserID] = m.Captured()
	}
	now := s.now()
	var sum BackfillSummary
	total, estimated := 0.0, true
	for _, st := range states {
		if !captured[st.MailboxID] {
			continue
		}
		b := s.backfill(st, now)
		sum.Scopes++
		sum.ItemsRead += b.ItemsRead
		if b.Complete {
			sum.Complete++
		}
		if b.Capped {
			sum.Capped++
		}
		if b.Done == nil {
			estimated = false
		} else {
			total += *b.Done
		}
	}
	if estimated && sum.Scopes > 0 {
		d := total / float64(sum.Scopes)
		sum.Done = &d
	}
	return sum, nil
}

// Health reports a mailbox's sync health, scope by scope.
func (s *Syncer) Health(ctx context.Context, orgID, userID string) ([]Health, error) {
	states, err := s.st.Org(orgID).DeltaStates(ctx, userID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	out := []Health{}
	for _, st := range states {
		h := Health{Scope: st.Scope, LastSuccessAt: st.LastSuccessAt, Failures: st.Failures, Throttled: st.Throttled,
			Items: int(st.Items), Resyncs: st.Resyncs, InProgress: st.InRound, Backfill: s.backfill(st, now)}
		h.Resource = store.Scope(st.Scope).Resource()
		if st.LastSuccessAt != nil {
			lag := int(now.Sub(*st.LastSuccessAt).Seconds())
			h.Lag = &lag
		}
		if st.LastError != "" {
			e := st.LastError
			h.LastError = &e
		}
		out = append(out, h)
	}
	return out, nil
}
