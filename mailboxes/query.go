package mailboxes

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/teamaccess/teamaccess/auth"
	"github.com/teamaccess/teamaccess/errkind"
	"github.com/teamaccess/teamaccess/store"
)

// idPrefix starts a mailbox's global id.
const idPrefix = "mbx_"

func toView(m store.Mailbox) Mailbox {
	opt := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	v := Mailbox{ID: idPrefix + m.UserID, UserID: m.UserID, DisplayName: m.DisplayName, UserPrincipalName: m.UserPrincipalName,
		Mail: opt(m.Mail), JobTitle: opt(m.JobTitle), Department: opt(m.Department), IsGuest: m.UserType == "Guest",
		AccountEnabled: m.AccountEnabled, Kind: mailboxKind(m), Access: Access(m.Access), AccessReason: m.Reason, AccessCode: opt(m.Code),
		CheckedAt: m.CheckedAt, AccessChangedAt: m.AccessChangedAt, Capture: m.Capture, Captured: captured(m)}
	if v.AccessReason == "" && v.Access == Unknown {
		v.AccessReason = "Not checked yet."
	}
	switch {
	case m.Deleted:
		v.AccessReason = "The user was removed from the tenant."
	case v.Access == Accessible && !m.Capture:
		v.AccessReason = "teamaccess can read this mailbox; capture is off for it (an admin's switch, or the capture policy of its kind)."
	}
	return v
}

// mailboxKind is the kind discovery stored, or told now for a record made before kinds were.
func mailboxKind(m store.Mailbox) Kind {
	if m.Kind != "" {
		return Kind(m.Kind)
	}
	return kindOf(m.UserType, m.AccountEnabled, m.Licensed)
}

// KindCaptures is the organisation's capture policy, kind by kind, with how many of its live
// mailboxes are of each kind.
func (s *Service) KindCaptures(ctx context.Context, orgID string) ([]KindCapture, error) {
	scope := s.st.Org(orgID)
	p, err := scope.CapturePolicy(ctx)
	if err != nil {
		return nil, err
	}
	all, err := scope.Mailboxes(ctx, store.MailboxQuery{})
	if err != nil {
		return nil, err
	}
	count := map[Kind]int{}
	for _, m := range all {
		count[mailboxKind(m)]++
	}
	out := make([]KindCapture, len(Kinds))
	for i, k := range Kinds {
		out[i] = KindCapture{Kind: k, Capture: kindCapture(p, k), Mailboxes: count[k]}
	}
	return out, nil
}

// SetKindCapture sets the capture policy of a kind: every mailbox of that kind has its capture
// switch set, and mailboxes of that kind found later start so. Audited; each mailbox whose
// capture changes is announced (and starts or stops syncing).
func (s *Service) SetKindCapture(ctx context.Context, actor auth.Actor, kind Kind, enabled bool) ([]KindCapture, error) {
	if _, ok := DefaultKindCapture[kind]; !ok {
		return nil, errkind.E(errkind.ErrInvalid, "unknown mailbox kind %q", kind)
	}
	if kind == KindGuest && enabled {
		return nil, errkind.E(errkind.ErrInvalid, "a guest's mailbox is in their home organization and cannot be captured here")
	}
	scope := s.st.Org(actor.OrgID)
	now := s.now()
	if err := scope.SetKindCapture(ctx, string(kind), enabled, now); err != nil {
		return nil, err
	}
	all, err := scope.Mailboxes(ctx, store.MailboxQuery{})
	if err != nil {
		return nil, err
	}
	var ids []string
	var changed []store.Mailbox
	for _, m := range all {
		if mailboxKind(m) == kind && m.Capture != enabled {
			ids = append(ids, m.UserID)
			changed = append(changed, m)
		}
	}
	if err := scope.SetMailboxesCapture(ctx, ids, enabled, now); err != nil {
		return nil, err
	}
	verb := map[bool]string{true: "included", false: "excluded"}[enabled]
	if err := s.audit.Record(ctx, actor, "mailbox.kindCapture", string(kind),
		fmt.Sprintf("%s mailboxes of kind %s in capture (%d changed)", verb, kind, len(ids))); err != nil {
		return nil, err
	}
	ts := make([]transition, len(changed))
	for i, m := range changed {
		after := m
		after.Capture, after.CaptureChangedAt = enabled, &now
		ts[i] = transition{after, captured(m)}
	}
	s.changed(ctx, actor.OrgID, ts...)
	return s.KindCaptures(ctx, actor.OrgID)
}

// userID reads a global mailbox id.
func userID(id string) (string, error) {
	u, ok := strings.CutPrefix(id, idPrefix)
	if !ok || u == "" {
		return "", errkind.E(errkind.ErrInvalid, "%q is not a mailbox id", id)
	}
	return u, nil
}

// Filter selects mailboxes.
type Filter struct {
	Access  []Access
	Capture *bool
	Search  string
}

// Page is a page of mailboxes with their cursors.
type Page struct {
	Mailboxes []Mailbox
	Cursors   []string
	HasNext   bool
}

// MaxPage is the largest page.
const MaxPage = 100

// List pages through the organisation's mailboxes by display name.
func (s *Service) List(ctx context.Context, orgID string, f Filter, first int, after string) (Page, error) {
	if first < 0 || first > MaxPage {
		return Page{}, errkind.E(errkind.ErrInvalid, "first must be between 0 and %d", MaxPage)
	}
	if len(f.Search) > 200 {
		return Page{}, errkind.E(errkind.ErrInvalid, "search is at most 200 characters")
	}
	q := store.MailboxQuery{Capture: f.Capture, Search: f.Search, Limit: first + 1}
	for _, a := range f.Access {
		q.Access = append(q.Access, string(a))
	}
	if after != "" {
		b, err := base64.RawURLEncoding.DecodeString(after)
		name, id, ok := strings.Cut(string(b), "\x00")
		if err != nil || !ok {
			return Page{}, errkind.E(errkind.ErrInvalid, "after is not a cursor of this connection")
		}
		q.AfterName, q.AfterID = name, id
	}
	ms, err := s.st.Org(orgID).Mailboxes(ctx, q)
	if err != nil {
		return Page{}, err
	}
	page := Page{HasNext: len(ms) > first}
	if page.HasNext {
		ms = ms[:first]
	}
	for _, m := range ms {
		page.Mailboxes = append(page.Mailboxes, toView(m))
		page.Cursors = append(page.Cursors, base64.RawURLEncoding.EncodeToString([]byte(m.DisplayName+"\x00"+m.ID)))
	}
	return page, nil
}

// Get reads one mailbox.
func (s *Service) Get(ctx context.Context, orgID, id string) (Mailbox, error) {
	u, err := userID(id)
	if err != nil {
		return Mailbox{}, err
	}
	m, err := s.st.Org(orgID).Mailbox(ctx, u)
	if errors.Is(err, store.ErrNotFound) {
		return Mailbox{}, errkind.E(errkind.ErrNotFound, "mailbox %s", id)
	}
	if err != nil {
		return Mailbox{}, err
	}
	return toView(m), nil
}

// Summary counts the organisation's mailboxes by access.
func (s *Service) Summary(ctx context.Context, orgID string) (Summary, error) {
	c, err := s.st.Org(orgID).MailboxCounts(ctx)
	if err != nil {
		return Summary{}, err
	}
	sum := Summary{Accessible: c[string(Accessible)], BlockedByPolicy: c[string(BlockedByPolicy)], NoMailbox: c[string(NoMailbox)],
		MissingPermission: c[string(MissingPermission)], Errors: c[string(Errored)], Unknown: c[string(Unknown)]}
	for _, n := range c {
		sum.Total += n
	}
	return sum, nil
}

// SetCapture lets an admin exclude a mailbox from capture, or include it again. Audited.
func (s *Service) SetCapture(ctx context.Context, actor auth.Actor, id string, enabled bool) (Mailbox, error) {
	u, err := userID(id)
	if err != nil {
		return Mailbox{}, err
	}
	scope := s.st.Org(actor.OrgID)
	before, err := scope.Mailbox(ctx, u)
	if errors.Is(err, store.ErrNotFound) {
		return Mailbox{}, errkind.E(errkind.ErrNotFound, "mailbox %s", id)
	}
	if err != nil {
		return Mailbox{}, err
	}
	if before.Capture == enabled {
		return toView(before), nil
	}
	after, err := scope.SetMailboxCapture(ctx, u, enabled, s.now())
	if err != nil {
		return Mailbox{}, err
	}
	verb := map[bool]string{true: "included", false: "excluded"}[enabled]
	if err := s.audit.Record(ctx, actor, "mailbox.capture", idPrefix+u, verb+" the mailbox of "+after.DisplayName+" ("+after.UserPrincipalName+") in capture"); err != nil {
		return Mailbox{}, err
	}
	s.changed(ctx, actor.OrgID, transition{after, captured(before)})
	return toView(after), nil
}

// Recheck probes the given mailboxes (all with none) now, and returns them.
func (s *Service) Recheck(ctx context.Context, orgID, tenantID string, ids []string) ([]Mailbox, error) {
	users := make([]string, 0, len(ids))
	for _, id := range ids {
		u, err := userID(id)
		if err != nil {
			return nil, err
		}
		users = append(users, u)
	}
	defer s.lock(orgID)()
	scope := s.st.Org(orgID)
	if err := scope.SetMailboxNextCheck(ctx, users, s.now()); err != nil {
		return nil, err
	}
	if err := s.probeDue(ctx, orgID, tenantID); err != nil {
		return nil, err
	}
	var out []Mailbox
	if len(users) == 0 {
		all, err := scope.Mailboxes(ctx, store.MailboxQuery{})
		if err != nil {
			return nil, err
		}
		for _, m := range all {
			out = append(out, toView(m))
		}
		return out, nil
	}
	for _, u := range users {
		m, err := scope.Mailbox(ctx, u)
		if err != nil {
			return nil, errkind.E(errkind.ErrNotFound, "mailbox %s", idPrefix+u)
		}
		out = append(out, toView(m))
	}
	return out, nil
}

// Refused probes one captured mailbox at once because Graph refused its delta round (403 or
// 404): its access changed since its last probe (a policy now leaves it out, its mailbox went),
// and the admin should see so within the sync, not at the next scheduled probe. The probe's
// answer stops its capture if it is no longer readable.
func (s *Service) Refused(ctx context.Context, orgID, tenantID, userID string) {
	if _, err := s.Recheck(ctx, orgID, tenantID, []string{idPrefix + userID}); err != nil && ctx.Err() == nil {
		s.o.Log.Warn("probing a mailbox whose sync was refused", "organization", orgID, "mailbox", idPrefix+userID, "err", err)
	}
}

// connected lists organisations whose connection can be used.
func (s *Service) connected(ctx context.Context) ([]store.TeamAccess, error) {
	all, err := s.st.ConnectedTeamAccess(ctx)
	if err != nil {
		return nil, err
	}
	var out []store.TeamAccess
	for _, ta := range all {
		if ta.Status == "ACTIVE" || ta.Status == "DEGRADED" {
			out = append(out, ta)
		}
	}
	return out, nil
}

// Disconnected forgets the tenant's users delta link (it belongs to that tenant) and, with purge,
// deletes the organisation's mailboxes.
func (s *Service) Disconnected(ctx context.Context, orgID string, purge bool) error {
	defer s.lock(orgID)()
	scope := s.st.Org(orgID)
	if purge {
		if err := scope.DeleteCapturedData(ctx); err != nil {
			return err
		}
		if err := scope.DeleteMailboxes(ctx); err != nil {
			return err
		}
	}
	return scope.SetSyncState(ctx, usersKey, "", s.now())
}

// GetMany reads mailboxes by global id in one store query; ids it cannot find are absent from
// the map.
func (s *Service) GetMany(ctx context.Context, orgID string, ids []string) (map[string]Mailbox, error) {
	us := make([]string, 0, len(ids))
	for _, id := range ids {
		if u, err := userID(id); err == nil {
			us = append(us, u)
		}
	}
	ms, err := s.st.Org(orgID).MailboxesByUserID(ctx, us)
	if err != nil {
		return nil, err
	}
	out := make(map[string]Mailbox, len(ms))
	for _, m := range ms {
		v := toView(m)
		out[v.ID] = v
	}
	return out, nil
}

// PrimaryDomain is the tenant's domain as most of its members' sign-in names show it (a sample
// of 200), preferring a custom domain to its onmicrosoft.com one; "" before discovery.
func (s *Service) PrimaryDomain(ctx context.Context, orgID string) (string, error) {
	ms, err := s.st.Org(orgID).MailboxSample(ctx, 200)
	if err != nil {
		return "", err
	}
	count := map[string]int{}
	for _, m := range ms {
		_, d, ok := strings.Cut(strings.ToLower(m.UserPrincipalName), "@")
		if !ok || m.UserType == "Guest" || strings.Contains(m.UserPrincipalName, "#EXT#") {
			continue
		}
		count[d]++
	}
	best, bestN := "", 0
	for d, n := range count {
		custom := !strings.HasSuffix(d, ".onmicrosoft.com")
		bestCustom := best != "" && !strings.HasSuffix(best, ".onmicrosoft.com")
		if (custom && !bestCustom) || (custom == bestCustom && (n > bestN || n == bestN && d < best)) {
			best, bestN = d, n
		}
	}
	return best, nil
}
