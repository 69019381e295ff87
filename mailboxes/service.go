package mailboxes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

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
	// Publish hears of every mailbox whose access or capture changed.
	Publish func(orgID string, m Mailbox)
	// OnCapture hears when a mailbox starts or stops being captured.
	OnCapture func(ctx context.Context, orgID string, m Mailbox, captured bool)
}

// Service discovers and classifies mailboxes.
type Service struct {
	st    Store
	dir   Directory
	audit Auditor
	o     Options
	mu    sync.Mutex
	busy  map[string]*sync.Mutex // one discovery at a time per organisation
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
	return &Service{st: st, dir: dir, audit: audit, o: o, busy: map[string]*sync.Mutex{}}
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
// that is due, new ones included.
func (s *Service) Discover(ctx context.Context, orgID, tenantID string) error {
	defer s.lock(orgID)()
	scope := s.st.Org(orgID)
	link, err := scope.SyncState(ctx, usersKey)
	if err != nil {
		return err
	}
	users, next, err := s.dir.UsersDelta(ctx, tenantID, link)
	if errors.Is(err, ErrDeltaExpired) {
		s.o.Log.Info("users delta link expired; reading all users again", "organization", orgID)
		users, next, err = s.dir.UsersDelta(ctx, tenantID, "")
	}
	if err != nil {
		return fmt.Errorf("discover users: %w", err)
	}
	now := s.now()
	var present []store.Mailbox
	var removed []string
	for _, u := range users {
		if u.Removed {
			removed = append(removed, u.ID)
			continue
		}
		present = append(present, store.Mailbox{UserID: u.ID, DisplayName: u.DisplayName, UserPrincipalName: u.UserPrincipalName,
			Mail: u.Mail, JobTitle: u.JobTitle, Department: u.Department, UserType: u.UserType, AccountEnabled: u.AccountEnabled})
	}
	before := s.capturedOf(ctx, scope, users)
	if err := scope.UpsertDirectoryUsers(ctx, tenantID, present, now); err != nil {
		return err
	}
	if err := scope.MarkMailboxesDeleted(ctx, removed, now); err != nil {
		return err
	}
	for _, u := range users { // announce users disabled, re-enabled or removed
		m, err := scope.Mailbox(ctx, u.ID)
		if err != nil {
			continue
		}
		s.changed(ctx, orgID, m, before[u.ID])
	}
	if err := scope.SetSyncState(ctx, usersKey, next, now); err != nil {
		return err
	}
	s.o.Log.Info("users discovered", "organization", orgID, "changed", len(present), "removed", len(removed))
	return s.probeDue(ctx, orgID, tenantID)
}

// capturedOf records whether each changed user's mailbox was captured before the change.
func (s *Service) capturedOf(ctx context.Context, scope store.OrgScope, users []User) map[string]bool {
	out := make(map[string]bool, len(users))
	if len(users) > 200 { // a first or full discovery: read them all at once
		all, err := scope.Mailboxes(ctx, store.MailboxQuery{})
		if err == nil {
			for _, m := range all {
				out[m.UserID] = captured(m)
			}
		}
		return out
	}
	for _, u := range users {
		if m, err := scope.Mailbox(ctx, u.ID); err == nil {
			out[u.ID] = captured(m)
		}
	}
	return out
}

// captured: accessible, present, enabled, and capture on.
func captured(m store.Mailbox) bool {
	return m.Access == string(Accessible) && !m.Deleted && m.AccountEnabled && m.Capture
}

// changed announces a mailbox's new state, and a capture transition.
func (s *Service) changed(ctx context.Context, orgID string, m store.Mailbox, wasCaptured bool) {
	view := toView(m)
	if s.o.Publish != nil {
		s.o.Publish(orgID, view)
	}
	if now := captured(m); now != wasCaptured && s.o.OnCapture != nil {
		s.o.OnCapture(ctx, orgID, view, now)
	}
}

// next is when a mailbox with this access is probed again.
func (s *Service) next(access Access, changedAt, now time.Time) time.Time {
	sc := s.o.Schedule
	switch access {
	case Accessible, NoMailbox:
		return now.Add(sc.Readable)
	}
	if now.Sub(changedAt) < sc.Window {
		return now.Add(sc.Settling)
	}
	return now.Add(sc.Settled)
}

// probeDue probes, a few at a time, every mailbox whose probe is due.
func (s *Service) probeDue(ctx context.Context, orgID, tenantID string) error {
	scope := s.st.Org(orgID)
	for {
		due, err := scope.MailboxesDue(ctx, s.now(), 500)
		if err != nil || len(due) == 0 {
			return err
		}
		sem := make(chan struct{}, s.o.Concurrency)
		var wg sync.WaitGroup
		var mu sync.Mutex
		var errs []error
		for _, m := range due {
			if ctx.Err() != nil {
				break
			}
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				if err := s.probe(ctx, scope, orgID, tenantID, m); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// probe classifies one mailbox and records it.
func (s *Service) probe(ctx context.Context, scope store.OrgScope, orgID, tenantID string, m store.Mailbox) error {
	var p Probe
	if m.UserType == "Guest" {
		// A guest's mailbox lives in its home organisation: nothing to probe here.
		p = Probe{Access: NoMailbox, Message: "guest account: its mailbox belongs to another organization"}
	} else {
		var err error
		p, err = s.dir.ProbeMailbox(ctx, tenantID, m.UserID)
		if errors.Is(err, ErrTransient) {
			return scope.SetMailboxNextCheck(ctx, []string{m.UserID}, s.now().Add(s.o.Schedule.Retry))
		}
		if err != nil {
			return fmt.Errorf("probe %s: %w", m.UserID, err)
		}
	}
	now := s.now()
	changedAt := now
	changed := string(p.Access) != m.Access
	if !changed && m.AccessChangedAt != nil {
		changedAt = *m.AccessChangedAt
	}
	updated, err := scope.SaveMailboxAccess(ctx, m.UserID, string(p.Access), p.Code, reason(p), now, s.next(p.Access, changedAt, now), changed)
	if err != nil {
		return err
	}
	if changed {
		s.changed(ctx, orgID, updated, captured(m))
	}
	return nil
}

// reason says in words why a mailbox has its access.
func reason(p Probe) string {
	switch p.Access {
	case Accessible:
		return "teamaccess can read this mailbox."
	case BlockedByPolicy:
		return "An application access policy of the tenant keeps teamaccess out of this mailbox."
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
