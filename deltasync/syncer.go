package deltasync

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/teamaccess/teamaccess/graphdata"
	"github.com/teamaccess/teamaccess/privacy"
	"github.com/teamaccess/teamaccess/store"
)

// Options tune the syncer.
type Options struct {
	Now func() time.Time
	Log *slog.Logger
	// MailFolders are the well-known names or ids of the folders synced; inbox and sentitems by
	// default.
	MailFolders []string
	// Backfill is how far back the first round reads mail: 90 days by default.
	Backfill time.Duration
	// FilteredDeltaCap is the most messages Graph returns to a filtered first round
	// (FilteredDeltaCap if zero): a full round of a mail folder that reads that many was cut.
	FilteredDeltaCap int
	// CalendarBack and CalendarAhead bound the calendar view: 90 days back, 180 ahead.
	CalendarBack, CalendarAhead time.Duration
	// WindowMove is how old a calendar window may get before a new round moves it: a day.
	WindowMove time.Duration
	// CaptureBodies adds the body preview to emails (off by default: bodies are personal data).
	CaptureBodies bool
	// Interval between two syncs of a mailbox; Concurrency mailboxes sync at a time.
	Interval    time.Duration
	Concurrency int
	// Publish hears of every stored change.
	Publish func(orgID string, c Change)
	// Go runs work that outlives the request that asked for it (a resynchronisation), in the
	// service's background group (lifecycle.Group.Go); a plain goroutine by default.
	Go func(f func(ctx context.Context))
	// SeriesCheck is how often the master of a recurring meeting no round has read is checked
	// for changes that the delta does not show (a deleted occurrence): an hour by default.
	SeriesCheck time.Duration
	// Refused hears of a mailbox whose delta round Graph refused with a 403 or 404 (its access
	// changed: a policy now leaves it out, or it lost its mailbox), once per sync, so that its
	// access is probed at once rather than at its next scheduled probe.
	Refused func(ctx context.Context, orgID, tenantID, userID string)
	// Policy decides, before each page is written, what of it may be (privacy.Service); all
	// of it when nil.
	Policy Policy
	// Covered lists an organisation's mailboxes whose every scope has a healthy
	// change-notification subscription (subscriptions.Service); their scheduled rounds run
	// every CoveredInterval instead of every Interval, and at Interval again as soon as one
	// subscription is missing or failing. None when nil.
	Covered         func(ctx context.Context, orgID string) (map[string]bool, error)
	CoveredInterval time.Duration
	// Rounds bounds the mailboxes whose rounds run at once in this process, whatever asked for
	// them (the schedule, a capture, a notification); no bound if zero. Under a bound, a
	// mailbox's first full round gives its place up after its first page (the newest mail)
	// and is due again at once: every mailbox waiting gets its newest page before any deep
	// backfill holds a place.
	Rounds int
	// Partitions, when set, is this process's share of the mailboxes: rounds run only on its
	// mailboxes, each checks before every page that the partition is still held, and writes
	// its position under the partition's fence. Every mailbox when nil.
	Partitions Partitions
}

// Policy is the organisations' capture policies.
type Policy interface {
	// Rules are the organisation's rules as the store has them now.
	Rules(ctx context.Context, orgID string) (*privacy.Rules, error)
	// Excluded counts items a rule kept out.
	Excluded(rule string, n int)
}

// Syncer runs delta rounds.
type Syncer struct {
	st Store
	g  Graph
	o  Options

	mu      sync.Mutex
	running map[string]chan struct{} // mailbox key -> its lock: one sync per mailbox at a time
	next    map[string]time.Time     // mailbox key -> when it is due
	last    map[string]time.Time     // mailbox key -> when its last scheduled sync succeeded
	fails   map[string]int           // mailbox key -> failures in a row
	domains map[string]domainSet     // org -> the tenant's domains, for directions
	// domainsLock: org -> held while its domains are read (normalize.go)
	domainsLock map[string]*sync.Mutex
	states      map[string]store.DeltaState // the last state saved of each round: this process is its only writer
	held        map[string]bool             // orgs whose rounds stop at their next page (Hold)
	connected   map[string]connection       // org|tenant -> whether its rounds may write (writable)
	// seriesChecked: org|mailbox|series master -> when its master was last read (series.go)
	seriesChecked map[string]time.Time
	// places holds a token per round running (Rounds); nil without a bound.
	places chan struct{}
}

type domainSet struct {
	at     time.Time
	d      map[string]bool
	owners map[string]map[string]bool // user id -> their addresses
}

// New returns a syncer.
func New(st Store, g Graph, o Options) *Syncer {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if len(o.MailFolders) == 0 {
		o.MailFolders = []string{"inbox", "sentitems"}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.Backfill, 90*24*time.Hour)
	def(&o.CalendarBack, 90*24*time.Hour)
	def(&o.CalendarAhead, 180*24*time.Hour)
	def(&o.WindowMove, 24*time.Hour)
	def(&o.Interval, 5*time.Minute)
	def(&o.SeriesCheck, time.Hour)
	def(&o.CoveredInterval, 6*time.Hour)
	if o.Go == nil {
		o.Go = func(f func(context.Context)) { go f(context.Background()) }
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	var places chan struct{}
	if o.Rounds > 0 {
		places = make(chan struct{}, o.Rounds)
	}
	return &Syncer{places: places, st: st, g: g, o: o, running: map[string]chan struct{}{}, next: map[string]time.Time{}, last: map[string]time.Time{}, fails: map[string]int{}, states: map[string]store.DeltaState{}, domains: map[string]domainSet{}, domainsLock: map[string]*sync.Mutex{}, seriesChecked: map[string]time.Time{}}
}

func (s *Syncer) now() time.Time { return s.o.Now().UTC().Truncate(time.Millisecond) }

// Scopes are the delta rounds of a mailbox: one per mail folder, the calendar, the contacts.
func (s *Syncer) Scopes() []string {
	out := make([]string, 0, len(s.o.MailFolders)+2)
	for _, f := range s.o.MailFolders {
		out = append(out, string(store.MailScope(f)))
	}
	return append(out, string(store.ScopeCalendar), string(store.ScopeContacts))
}

// lock returns a mailbox's lock, a channel holding one token.
func (s *Syncer) lock(key string) chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.running[key]
	if !ok {
		l = make(chan struct{}, 1)
		s.running[key] = l
	}
	return l
}

// SyncMailbox runs one round of every scope of a mailbox, one after the other (so at most one
// Graph request is in flight for it). A mailbox already syncing is skipped.
func (s *Syncer) SyncMailbox(ctx context.Context, orgID, tenantID, userID string) error {
	l := s.lock(orgID + "|" + userID)
	select {
	case l <- struct{}{}:
	default:
		return nil
	}
	defer func() { <-l }()
	return s.syncScopes(ctx, orgID, tenantID, userID, s.Scopes())
}

// SyncScopes runs one round of the given scopes of a mailbox now, waiting for a round already
// under way to finish first (it may have read past the change that asked for this one): what
// a change notification calls.
func (s *Syncer) SyncScopes(ctx context.Context, orgID, tenantID, userID string, scopes []string) error {
	l := s.lock(orgID + "|" + userID)
	select {
	case l <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-l }()
	err := s.syncScopes(ctx, orgID, tenantID, userID, scopes)
	if errors.Is(err, errMore) {
		// The backfill's first page is in, and the rest (which reads the change that asked
		// for this round, if the first page did not) comes at the mailbox's turn, due now.
		s.schedule(job{org: orgID, tenant: tenantID, user: userID}, err)
		return nil
	}
	return err
}

func (s *Syncer) syncScopes(ctx context.Context, orgID, tenantID, userID string, scopes []string) error {
	fence, done, ok := s.holdMailbox(orgID, userID)
	if !ok {
		return errMoved
	}
	defer done()
	if s.places != nil {
		select {
		case s.places <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		defer func() { <-s.places }()
	}
	r, whole, err := s.rules(ctx, s.st.Org(orgID), userID)
	if err != nil {
		return err
	} else if whole != "" {
		return nil // its person opted out, or the policy excludes or erased its owner: nothing of it is read
	}
	var errs []error
	// The next scope's first page is asked for while this one's last page is stored: on a
	// store several processes write, a page's writes (the change log's above all) may take
	// longer than a Graph request, and the round waited for both in turn.
	var next *prefetched
	for i, scope := range scopes {
		cur := next
		next = nil
		ahead := func() { next = s.prefetch(ctx, orgID, tenantID, userID, scopes, i+1) }
		if err := s.syncScope(ctx, orgID, tenantID, userID, scope, fence, r, cur, ahead); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", scope, err))
			if ctx.Err() != nil || moved(err) {
				break
			}
		}
	}
	next.drop()
	if len(errs) > 0 && !slices.ContainsFunc(errs, func(err error) bool { return !errors.Is(err, errMore) }) {
		return errMore // every scope read its newest page and has more
	}
	err = errors.Join(errs...)
	if refused(err) && s.o.Refused != nil && ctx.Err() == nil {
		s.o.Refused(ctx, orgID, tenantID, userID)
	}
	return err
}

// initial is the first request of a full round of a scope.
func (s *Syncer) initial(st *store.DeltaState, userID string, now time.Time) string {
	switch {
	case store.Scope(st.Scope).IsMail():
		folder, _ := store.Scope(st.Scope).MailFolder()
		return s.g.MessagesDeltaURL(userID, folder, now.Add(-s.o.Backfill), s.o.CaptureBodies)
	case store.Scope(st.Scope) == store.ScopeCalendar:
		st.WindowFrom, st.WindowTo = now.Add(-s.o.CalendarBack).Truncate(time.Hour), now.Add(s.o.CalendarAhead).Truncate(time.Hour)
		return s.g.EventsDeltaURL(userID, st.WindowFrom, st.WindowTo)
	}
	return s.g.ContactsDeltaURL(userID)
}

// checkpointEvery is how often a round in progress saves its position.
const checkpointEvery = 250 * time.Millisecond

// maxResyncs bounds the full rounds one sync starts after expired tokens.
const maxResyncs = 2

// syncScope runs (or resumes) one round of a scope, page by page.
// r are the capture rules as the sync began (nil without a policy): a full round notes their
// version (roundPolicy).
// pre is the scope's state and first page when they were read ahead; ahead, called as the
// scope's last page is about to be stored, reads the next scope's ahead.
func (s *Syncer) syncScope(ctx context.Context, orgID, tenantID, userID, scope string, fence int64, r *privacy.Rules, pre *prefetched, ahead func()) error {
	org := s.st.Org(orgID)
	st, now, ok := pre.state()
	if !ok {
		var err error
		if st, err = s.loadState(ctx, org, userID, scope); err != nil {
			return err
		}
		now = s.now()
	}
	if s.o.Partitions != nil {
		st.Fence = fence // the store refuses it if the partition has moved on to a higher fence
	}
	if s.aged(&st, now) {
		st.Link = "" // the window has aged: a full round over the window as of today
	}
	resyncs, pages := 0, 0
	var lastSave time.Time
	sr := newSeriesRound()
	for {
		if s.isHeld(orgID) {
			pre.drop()
			return errHeld // nothing saved: the organisation's data is about to go
		}
		if st.Link == "" { // a full round
			st.Gen++
			st.Link, st.InRound = s.initial(&st, userID, now), true
			st.FullRound, st.RoundItems = true, 0
			roundPolicy(r, &st)
		}
		f := pre.take(st.Link) // the first page, when it was asked for already (and for this link)
		pre = nil
		if f == nil {
			f = s.fetch(ctx, tenantID, st.Scope, st.Link)
		}
		if f.err == nil && f.next == "" && ahead != nil {
			ahead()
			ahead = nil
		}
		next, delta, n, err := s.page(ctx, org, tenantID, userID, &st, sr, f)
		switch {
		case notFailure(err):
			return err // nothing saved: the organisation's data is going, or another process has the mailbox
		case errors.Is(err, graphdata.ErrDeltaExpired) && resyncs < maxResyncs:
			resyncs++
			st.Resyncs++
			st.Link = ""
			s.o.Log.Info("delta token expired: resynchronising", "organization", orgID, "mailbox", userID, "scope", scope)
			continue
		case err != nil:
			return s.failed(ctx, org, &st, err)
		}
		st.Items += int64(n)
		if st.FullRound {
			st.RoundItems += int64(n)
		}
		pages++
		if next != "" {
			st.Link = next
			if s.places != nil && pages == 1 && st.FullRound && st.BackfilledAt == nil && st.RoundItems == int64(n) {
				// The newest page of a mailbox's backfill is in: its place goes to the next
				// mailbox waiting, and the rest of the backfill comes at its next turn, at once.
				if err := s.saveState(ctx, org, st); err != nil {
					return err
				}
				return errMore
			}
			// Mid-round, the position is saved at most every checkpointEvery: a restart replays
			// at most that much, which the idempotent writes absorb.
			if time.Since(lastSave) >= checkpointEvery {
				if err := s.saveState(ctx, org, st); err != nil {
					return err
				}
				lastSave = time.Now()
			}
			continue
		}
		if store.Scope(scope) == store.ScopeCalendar {
			if err := s.checkSeries(ctx, org, tenantID, userID, &st, sr); err != nil {
				return s.failed(ctx, org, &st, err)
			}
		}
		if st.FullRound && st.Gen > 1 { // what the full round did not find is gone (nothing to sweep after the first)
			gone, err := org.Sweep(ctx, userID, scope, st.Gen, st.WindowFrom, st.WindowTo, s.now())
			if err != nil {
				return s.failed(ctx, org, &st, err)
			}
			if store.Scope(scope) != store.ScopeContacts {
				changes := make([]store.Change, len(gone))
				for i, g := range gone {
					changes[i] = store.Change{Type: string(Deleted), ActivityID: store.ItemID(orgID, userID, scope, g), At: s.now()}
				}
				if err := org.AppendChanges(ctx, changes); err != nil {
					return s.failed(ctx, org, &st, err)
				}
			}
			s.publishDeleted(orgID, userID, scope, gone)
		}
		t := s.now()
		if st.FullRound {
			st.Screened = st.RoundPolicy // everything stored was read again in this round, or swept
			st.Capped = store.Scope(scope).IsMail() && s.o.Backfill > 0 && st.RoundItems >= int64(cmp.Or(s.o.FilteredDeltaCap, FilteredDeltaCap))
			if st.BackfilledAt == nil {
				st.BackfilledAt = &t
			}
		}
		st.Link, st.InRound, st.FullRound = delta, false, false
		st.LastSuccessAt, st.LastError, st.Failures = &t, "", 0
		return s.saveState(ctx, org, st)
	}
}
