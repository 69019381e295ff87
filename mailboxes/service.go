package mailboxes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

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
	Concurrency int // probes in flight per tenant; 4 by default (the server asks for 16: probesInFlight)
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
