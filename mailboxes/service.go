package mailboxes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/teamaccess/teamaccess/graphdata"
	"github.com/teamaccess/teamaccess/store"
)

// Schedule says when a mailbox is probed again.
type Schedule struct {
	Readable time.Duration // accessible, or without a mailbox: 24 h
	Settling time.Duration // blocked or failing, within Window of its last change: 15 min
	Settled  time.Duration // blocked or failing for longer: 1 h
	Window   time.Duration // policies take 30 minutes to over an hour: 6 h
	Retry    time.Duration // after a throttled or failed probe: 1 min
}

// DefaultSchedule follows how application access policies propagate.
var DefaultSchedule = Schedule{Readable: 24 * time.Hour, Settling: 15 * time.Minute, Settled: time.Hour, Window: 6 * time.Hour, Retry: time.Minute}

// Options tune the service.
type Options struct {
	Now         func() time.Time
	Log         *slog.Logger
	Schedule    Schedule
	Concurrency int // probes in flight per tenant; 4 by default, the Outlook per-mailbox limit
	// Publish hears of every mailbox whose access or capture changed: those of one probe
	// chunk, one directory page or one capture change together.
	Publish func(ctx context.Context, orgID string, ms ...Mailbox)
	// OnCapture hears when a mailbox starts or stops being captured.
	OnCapture func(ctx context.Context, orgID string, m Mailbox, captured bool)
	// DiscoverEvery is how often DiscoverAll reads a tenant's user changes: 15 minutes.
	DiscoverEvery time.Duration
	// Partitions, when set, is this process's share of the work (partition.Table): it probes
	// the mailboxes of its partitions and discovers the users of its tenants. All when nil.
	Partitions Partitions
}

// Partitions is this process's share of the mailboxes and tenants.
type Partitions interface {
	Held() []int
	Tenant(orgID string) bool
}

// Service discovers and classifies mailboxes.
type Service struct {
	st    Store
	dir   Directory
	audit Auditor
	o     Options
	mu    sync.Mutex
	busy  map[string]*sync.Mutex // one discovery at a time per organisation
	// discovered: org -> when this process last began its discovery
	discovered map[string]time.Time
}

// New returns the service.
func New(st Store, dir Directory, audit Auditor, o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Schedule == (Schedule{}) {
		o.Schedule = DefaultSchedule
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.DiscoverEvery <= 0 {
		o.DiscoverEvery = 15 * time.Minute
	}
	return &Service{st: st, dir: dir, audit: audit, o: o, busy: map[string]*sync.Mutex{}, discovered: map[string]time.Time{}}
}

func (s *Service) now() time.Time { return s.o.Now().UTC().Truncate(time.Millisecond) }

// lock serialises discovery and probing of one organisation.
func (s *Service) lock(orgID string) func() {
	s.mu.Lock()
	m := s.busy[orgID]
	if m == nil {
		m = &sync.Mutex{}
		s.busy[orgID] = m
	}
	s.mu.Unlock()
	m.Lock()
	return m.Unlock
}

// usersKey names the users delta link among an organisation's sync states.
const usersKey = "users"

// Discover reads the tenant's user changes (all users the first time) and probes every mailbox
// that is due, new ones included (this process's, with partitions). With partitions, only the
// process holding the tenant's partition discovers it: another does nothing, and the holder's
// next scheduled pass (DiscoverAll) finds the tenant never discovered there.
func (s *Service) Discover(ctx context.Context, orgID, tenantID string) error {
	if s.o.Partitions != nil && !s.o.Partitions.Tenant(orgID) {
		return nil
	}
	defer s.lock(orgID)()
	s.mu.Lock()
	s.discovered[orgID] = s.o.Now()
	s.mu.Unlock()
	scope := s.st.Org(orgID)
	link, err := scope.SyncState(ctx, usersKey)
	if err != nil {
		return err
	}
	users, next, err := s.dir.UsersDelta(ctx, tenantID, link)
	if errors.Is(err, graphdata.ErrDeltaExpired) {
		s.o.Log.Info("users delta link expired; reading all users again", "organization", orgID)
		users, next, err = s.dir.UsersDelta(ctx, tenantID, "")
	}
	if err != nil {
		return fmt.Errorf("discover users: %w", err)
	}
	now := s.now()
	policy, err := scope.CapturePolicy(ctx)
	if err != nil {
		return err
	}
	var present []store.Mailbox
	var removed []string
	for _, u := range users {
		if u.Removed {
			removed = append(removed, u.ID)
			continue
		}
		present = append(present, store.Mailbox{UserID: u.ID, DisplayName: u.DisplayName, UserPrincipalName: u.UserPrincipalName,
			Mail: u.Mail, JobTitle: u.JobTitle, Department: u.Department, UserType: u.UserType, AccountEnabled: u.AccountEnabled,
			Licensed: u.Licensed, Kind: string(kindOf(u.UserType, u.AccountEnabled, u.Licensed))})
	}
	before, err := s.previous(ctx, scope, users)
	if err != nil {
		return err
	}
	if err := scope.UpsertDirectoryUsers(ctx, tenantID, present, now); err != nil {
		return err
	}
	if err := scope.MarkMailboxesDeleted(ctx, removed, now); err != nil {
		return err
	}
	// The capture policy of its kind applies to a mailbox found, and to one whose kind changed
	// (a user who left and was disabled, a mailbox converted to shared).
	setCapture := map[bool][]string{}
	capture := map[string]bool{}
	for _, m := range present {
		want := kindCapture(policy, Kind(m.Kind))
		prev, known := before[m.UserID]
		switch {
		case !known && !want:
			setCapture[false] = append(setCapture[false], m.UserID)
		case known && prev.Kind != m.Kind && prev.Capture != want:
			setCapture[want] = append(setCapture[want], m.UserID)
			capture[m.UserID] = want
		}
	}
	for on, ids := range setCapture {
		if err := scope.SetMailboxesCapture(ctx, ids, on, now); err != nil {
			return err
		}
	}
	// Announce users disabled, re-enabled, removed or of another kind; new users are announced
	// by their probe.
	var changes []transition
	for _, u := range users {
		prev, known := before[u.ID]
		kind := string(kindOf(u.UserType, u.AccountEnabled, u.Licensed))
		if !known || prev.Deleted == u.Removed && prev.AccountEnabled == u.AccountEnabled && (u.Removed || prev.Kind == kind) {
			continue
		}
		after := prev
		after.Deleted, after.AccountEnabled = u.Removed, u.AccountEnabled && !u.Removed
		if !u.Removed {
			after.Kind, after.Licensed = kind, u.Licensed
		}
		if c, ok := capture[u.ID]; ok {
			after.Capture = c
		}
		changes = append(changes, transition{after, captured(prev)})
	}
	s.changed(ctx, orgID, changes...)
	if err := scope.SetSyncState(ctx, usersKey, next, now); err != nil {
		return err
	}
	s.o.Log.Info("users discovered", "organization", orgID, "changed", len(present), "removed", len(removed))
	return s.probeDue(ctx, orgID, tenantID)
}

// previous reads the mailboxes of changed users as they were: all at once for a large change
// (a first or full discovery), one by one for a few.
func (s *Service) previous(ctx context.Context, scope store.OrgScope, users []User) (map[string]store.Mailbox, error) {
	out := make(map[string]store.Mailbox, len(users))
	if len(users) > 50 {
		all, err := scope.Mailboxes(ctx, store.MailboxQuery{})
		if err != nil {
			return nil, err
		}
		for _, m := range all {
			out[m.UserID] = m
		}
		return out, nil
	}
	for _, u := range users {
		m, err := scope.Mailbox(ctx, u.ID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[u.ID] = m
	}
	return out, nil
}

// captured: accessible, present, and capture on (store.Mailbox.Captured).
func captured(m store.Mailbox) bool { return m.Captured() }

// kindCapture is whether the policy captures mailboxes of the kind.
func kindCapture(p store.CapturePolicy, k Kind) bool {
	if on, ok := p.Kinds[string(k)]; ok {
		return on
	}
	return DefaultKindCapture[k]
}

// transition is a mailbox's new state, and whether it was captured before.
type transition struct {
	after       store.Mailbox
	wasCaptured bool
}

// changed announces mailboxes' new states, in one publish (one change-log append), and their
// capture transitions.
func (s *Service) changed(ctx context.Context, orgID string, ts ...transition) {
	if len(ts) == 0 {
		return
	}
	views := make([]Mailbox, len(ts))
	for i, t := range ts {
		views[i] = toView(t.after)
	}
	if s.o.Publish != nil {
		s.o.Publish(ctx, orgID, views...)
	}
	for i, t := range ts {
		if now := captured(t.after); now != t.wasCaptured && s.o.OnCapture != nil {
			s.o.OnCapture(ctx, orgID, views[i], now)
		}
	}
}

// probeDue probes, a few at a time, every mailbox whose probe is due, and records the results
// a few rounds of probes at a time.
func (s *Service) probeDue(ctx context.Context, orgID, tenantID string) error {
	scope := s.st.Org(orgID)
	for {
		var mine []int // nil: every mailbox
		if s.o.Partitions != nil {
			if mine = s.o.Partitions.Held(); len(mine) == 0 {
				return nil
			}
		}
		due, err := scope.MailboxesDue(ctx, s.now(), 500, mine)
		if err != nil || len(due) == 0 {
			return err
		}
		if err := s.probeChunks(ctx, scope, orgID, tenantID, due); err != nil {
			return err
		}
	}
}

// probeChunks probes mailboxes and records the results a few at a time (four rounds of probes),
// so that the first mailboxes found readable start syncing while the rest of a large tenant is
// probed. A chunk is recorded while the next one is probed: Graph's latency and the store's
// overlap (at most one record in flight, in order). It stops at the first chunk whose record
// fails, once the record in flight is done.
func (s *Service) probeChunks(ctx context.Context, scope store.OrgScope, orgID, tenantID string, due []store.Mailbox) error {
	recorded := make(chan error, 1)
	recorded <- nil // no record in flight
	for chunk := range slices.Chunk(due, 4*s.o.Concurrency) {
		results := make([]result, len(chunk))
		var g errgroup.Group
		g.SetLimit(s.o.Concurrency)
		for i, m := range chunk {
			if ctx.Err() != nil {
				break
			}
			g.Go(func() error {
				results[i] = s.probe(ctx, tenantID, m)
				return nil
			})
		}
		_ = g.Wait() // the probes report in results
		if err := <-recorded; err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		go func() { recorded <- s.record(ctx, scope, orgID, results) }()
	}
	return <-recorded
}

// result is one probe's outcome.
type result struct {
	m     store.Mailbox
	p     Probe
	retry bool  // throttled or failed: ask again later
	err   error // not a Graph answer at all
}

// probe asks Graph about one mailbox.
func (s *Service) probe(ctx context.Context, tenantID string, m store.Mailbox) result {
	if m.UserType == "Guest" {
		// A guest's mailbox lives in its home organisation: nothing to probe here.
		return result{m: m, p: Probe{Access: NoMailbox, Message: "guest account: its mailbox belongs to another organization"}}
	}
	p, err := s.dir.ProbeMailbox(ctx, tenantID, m.UserID)
	switch {
	case errors.Is(err, graphdata.ErrTransient):
		s.o.Log.Debug("mailbox probe will be retried", "user", m.UserID, "err", err)
		return result{m: m, retry: true}
	case err != nil:
		return result{m: m, err: fmt.Errorf("probe %s: %w", m.UserID, err)}
	}
	return result{m: m, p: Probe{Access: Access(p.Access), Code: p.Code, Message: p.Message}}
}

// record writes a batch of results, one update per distinct result, and announces changes.
func (s *Service) record(ctx context.Context, scope store.OrgScope, orgID string, results []result) error {
	type key struct {
		access, code, reason, from string
		changed, settling          bool
	}
	now := s.now()
	groups := map[key][]string{}
	var retry []string
	var errs []error
	for _, r := range results {
		switch {
		case r.err != nil:
			errs = append(errs, r.err)
			retry = append(retry, r.m.UserID)
			continue
		case r.retry || r.p.Access == "":
			retry = append(retry, r.m.UserID)
			continue
		}
		changed := string(r.p.Access) != r.m.Access
		settling := changed || r.m.AccessChangedAt == nil || now.Sub(*r.m.AccessChangedAt) < s.o.Schedule.Window
		k := key{string(r.p.Access), r.p.Code, reason(r.p), "", changed, settling}
		if changed {
			k.from = r.m.Access
		}
		groups[k] = append(groups[k], r.m.UserID)
	}
	if len(retry) > 0 {
		if err := scope.SetMailboxNextCheck(ctx, retry, now.Add(s.o.Schedule.Retry)); err != nil {
			return err
		}
	}
	for k, ids := range groups {
		next := s.next(Access(k.access), k.settling, now)
		if err := scope.SaveMailboxAccess(ctx, ids, k.access, k.code, k.reason, now, next, k.changed, k.from); err != nil {
			return err
		}
	}
	var changes []transition
	for _, r := range results { // announce what changed, from what was read and written
		if r.retry || r.err != nil || string(r.p.Access) == r.m.Access || r.p.Access == "" {
			continue
		}
		after := r.m
		after.Access, after.Code, after.Reason, after.CheckedAt, after.AccessChangedAt = string(r.p.Access), r.p.Code, reason(r.p), &now, &now
		changes = append(changes, transition{after, captured(r.m)})
	}
	s.changed(ctx, orgID, changes...)
	return errors.Join(errs...)
}

// next is when a mailbox with this access is probed again: daily once readable (or without a
// mailbox), often while blocked or failing shortly after a change, hourly after that.
func (s *Service) next(access Access, settling bool, now time.Time) time.Time {
	sc := s.o.Schedule
	switch {
	case access == Accessible || access == NoMailbox:
		return now.Add(sc.Readable)
	case settling:
		return now.Add(sc.Settling)
	}
	return now.Add(sc.Settled)
}

// reason says in words why a mailbox has its access.
func reason(p Probe) string {
	switch p.Access {
	case Accessible:
		return "teamaccess can read this mailbox."
	case BlockedByPolicy:
		// Policies and RBAC scopes are told apart nowhere in Graph's answer: name both, with
		// Microsoft's own words.
		return "The tenant's application access policy (or RBAC for Applications scope) keeps teamaccess out of this mailbox. Microsoft Graph: " + p.Code + ": " + p.Message
	case NoMailbox:
		if strings.HasPrefix(p.Message, "guest") {
			return "A " + p.Message + "."
		}
		return "No Exchange Online mailbox: no license, on-premises, or inactive."
	case MissingPermission:
		return "The tenant has not granted the permission this needs: " + p.Message
	}
	return "Graph answered " + p.Code + ": " + p.Message
}
