package activities

import (
	"context"
	"encoding/base64"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/teamaccess/teamaccess/errkind"
	"github.com/teamaccess/teamaccess/store"
)

// Errors callers can act on.
var (
	// ErrInvalid is bad input: a malformed cursor or id, or a page size out of range.
	ErrInvalid = errkind.ErrInvalid
	// ErrTooSlow ends a live feed whose subscriber did not keep up.
	ErrTooSlow = errors.New("subscriber too slow")
)

// MaxPage is the largest page; DefaultPageSize a page's size when the caller names none.
const (
	MaxPage         = 100
	DefaultPageSize = 20
)

// Filter selects activities; every field narrows the selection.
type Filter struct {
	Kinds            []Kind
	MailboxIds       []string // global mailbox ids
	ParticipantEmail *string
	Domain           *string
	Direction        *Direction
	OccurredAfter    *time.Time
	OccurredBefore   *time.Time
	Text             *string
}

// query turns a filter into the store's query, checking it.
// Bounds of filter input: a text reaches the store as a quoted pattern matched against every
// candidate, and an error message quotes it, so its size is the caller's cost, bounded here.
const (
	MaxFilterText = 200 // characters of a text, email, domain or search filter
	MaxFilterIDs  = 100 // ids in a mailboxIds filter
)

// bounded refuses any of the named texts (name, value pairs) longer than MaxFilterText,
// without quoting it back.
func bounded(pairs ...any) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if v, _ := pairs[i+1].(*string); v != nil && len(*v) > MaxFilterText {
			return errkind.E(errkind.ErrInvalid, "%s is at most %d characters (it has %d)", pairs[i], MaxFilterText, len(*v))
		}
	}
	return nil
}

func (f *Filter) query() (store.ActivityQuery, error) {
	var q store.ActivityQuery
	if f == nil {
		return q, nil
	}
	if err := bounded("participantEmail", f.ParticipantEmail, "domain", f.Domain, "text", f.Text); err != nil {
		return q, err
	}
	if len(f.MailboxIds) > MaxFilterIDs {
		return q, errkind.E(errkind.ErrInvalid, "mailboxIds names at most %d mailboxes", MaxFilterIDs)
	}
	for _, k := range f.Kinds {
		q.Kinds = append(q.Kinds, string(k))
	}
	for _, id := range f.MailboxIds {
		u, ok := strings.CutPrefix(id, mailboxPrefix)
		if !ok || u == "" {
			return q, errkind.E(errkind.ErrInvalid, "%q is not a mailbox id", id)
		}
		q.MailboxIDs = append(q.MailboxIDs, u)
	}
	if f.Direction != nil {
		q.Direction = string(*f.Direction)
	}
	if f.ParticipantEmail != nil {
		q.ParticipantEmail = strings.ToLower(strings.TrimSpace(*f.ParticipantEmail))
		if !strings.Contains(q.ParticipantEmail, "@") {
			return q, errkind.E(errkind.ErrInvalid, "participantEmail %q is not an email address", *f.ParticipantEmail)
		}
	}
	if f.Domain != nil {
		q.Domain = strings.TrimPrefix(strings.ToLower(strings.TrimSpace(*f.Domain)), "@")
		if q.Domain == "" || strings.ContainsAny(q.Domain, "@ ") {
			return q, errkind.E(errkind.ErrInvalid, "domain %q is not a domain", *f.Domain)
		}
	}
	if f.Text != nil {
		q.Text = *f.Text
	}
	q.OccurredAfter, q.OccurredBefore = f.OccurredAfter, f.OccurredBefore
	if q.OccurredAfter != nil && q.OccurredBefore != nil && !q.OccurredAfter.Before(*q.OccurredBefore) {
		return q, errkind.E(errkind.ErrInvalid, "occurredAfter must be before occurredBefore")
	}
	return q, nil
}

// matches says whether a stored activity is in the filter's selection (the live feed's test,
// the same as the store query's).
func matches(q store.ActivityQuery, a store.Activity) bool {
	if len(q.Kinds) > 0 && !slices.Contains(q.Kinds, a.Kind) {
		return false
	}
	if len(q.MailboxIDs) > 0 && !slices.Contains(q.MailboxIDs, a.MailboxID) {
		return false
	}
	if q.Direction != "" && a.Direction != q.Direction {
		return false
	}
	if q.OccurredAfter != nil && a.OccurredAt.Before(*q.OccurredAfter) {
		return false
	}
	if q.OccurredBefore != nil && !a.OccurredAt.Before(*q.OccurredBefore) {
		return false
	}
	if q.Text != "" && !strings.Contains(strings.ToLower(a.Subject), strings.ToLower(q.Text)) {
		return false
	}
	if q.ParticipantEmail != "" || q.Domain != "" {
		found := false
		for _, p := range a.Participants {
			if (q.ParticipantEmail == "" || p.Address == q.ParticipantEmail) &&
				(q.Domain == "" || strings.HasSuffix(p.Address, "@"+q.Domain)) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// Page asks for a page: First after After, or Last before Before.
type Page struct {
	First, Last   *int
	After, Before *string
	Ascending     bool
}

// Result is a page of activities with their cursors.
type Result struct {
	Activities      []View
	Cursors         []string
	HasNext, HasPre bool
}

// Service reads activities and contacts.
type Service struct {
	st *store.Store
}

// New returns the service.
func New(st *store.Store) *Service { return &Service{st: st} }

// cursor is an activity's keyset position, opaque to clients.
func cursor(a store.Activity) string {
	_, rest, _ := strings.Cut(a.ID, "|")
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(a.OccurredAt.UnixMilli(), 10) + "|" + rest))
}

func parseCursor(orgID, c string) (time.Time, string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	ms, rest, ok := strings.Cut(string(raw), "|")
	n, err2 := strconv.ParseInt(ms, 10, 64)
	if err != nil || !ok || err2 != nil || rest == "" {
		return time.Time{}, "", errkind.E(errkind.ErrInvalid, "%q is not a cursor of this connection", c)
	}
	return time.UnixMilli(n).UTC(), orgID + "|" + rest, nil
}

// List pages through the organisation's activities: newest first unless p.Ascending, forwards
// with First/After or backwards with Last/Before, over the (occurredAt, id) keyset.
func (s *Service) List(ctx context.Context, orgID string, f *Filter, p Page) (Result, error) {
	q, err := f.query()
	if err != nil {
		return Result{}, err
	}
	n, backward, pos, err := p.plan()
	if err != nil {
		return Result{}, err
	}
	q.Ascending = p.Ascending != backward
	if pos != "" {
		at, id, err := parseCursor(orgID, pos)
		if err != nil {
			return Result{}, err
		}
		q.AfterAt, q.AfterID = &at, id
	}
	q.Limit = n + 1
	as, err := s.st.Org(orgID).Activities(ctx, q)
	if err != nil {
		return Result{}, err
	}
	var r Result
	as, r.HasNext, r.HasPre = cut(p, n, backward, as)
	r.Activities, r.Cursors = make([]View, len(as)), make([]string, len(as))
	for i, a := range as {
		r.Activities[i], r.Cursors[i] = ToView(a), cursor(a)
	}
	return r, nil
}

// plan reads a page request: its size (20 if unset), its direction, and the cursor it starts
// from ("" for the start).
func (p Page) plan() (n int, backward bool, pos string, err error) {
	if p.First != nil && p.Last != nil {
		return 0, false, "", errkind.E(errkind.ErrInvalid, "pass first or last, not both")
	}
	n = DefaultPageSize
	for _, v := range []*int{p.First, p.Last} {
		if v != nil {
			if *v < 0 || *v > MaxPage {
				return 0, false, "", errkind.E(errkind.ErrInvalid, "a page has 0 to %d items, not %d", MaxPage, *v)
			}
			n = *v
		}
	}
	backward = p.Last != nil || (p.Before != nil && p.First == nil)
	c := p.After
	if backward {
		c = p.Before
	}
	if c != nil {
		pos = *c
	}
	return n, backward, pos, nil
}

// cut trims what a store query read (n+1 items past the cursor) to the page, in the
// connection's order, and says whether there are items on either side.
func cut[T any](p Page, n int, backward bool, items []T) (page []T, hasNext, hasPre bool) {
	more := len(items) > n
	if more {
		items = items[:n]
	}
	if backward {
		slices.Reverse(items)
		return items, p.Before != nil && *p.Before != "", more
	}
	return items, more, p.After != nil && *p.After != ""
}

// Count counts what a filter selects.
func (s *Service) Count(ctx context.Context, orgID string, f *Filter) (int, error) {
	q, err := f.query()
	if err != nil {
		return 0, err
	}
	return s.st.Org(orgID).CountActivities(ctx, q)
}

// Get reads one live activity by global id; nil when there is none in the organisation.
func (s *Service) Get(ctx context.Context, orgID, id string) (View, error) {
	sid, ok := storeID(activityPrefix, orgID, id)
	if !ok {
		return nil, nil
	}
	a, err := s.st.Org(orgID).Activity(ctx, sid)
	if errors.Is(err, store.ErrNotFound) || (err == nil && a.Deleted) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return ToView(a), nil
}

// ContactsByEmail finds the organisation's contacts with the addresses: the first contact for
// each address (the batch a dataloader asks for).
func (s *Service) ContactsByEmail(ctx context.Context, orgID string, emails []string) (map[string]Contact, error) {
	cs, err := s.st.Org(orgID).ContactsByEmail(ctx, emails)
	if err != nil {
		return nil, err
	}
	out := make(map[string]Contact, len(emails))
	for _, c := range cs {
		for _, e := range c.Emails {
			if _, ok := out[e]; !ok {
				out[e] = ContactView(c)
			}
		}
	}
	return out, nil
}

// ContactFilter selects contacts; every field narrows the selection.
type ContactFilter struct {
	MailboxIds []string
	Email      *string
	Search     *string
}

// ContactResult is a page of contacts with their cursors.
type ContactResult struct {
	Contacts        []Contact
	Cursors         []string
	HasNext, HasPre bool
}

func contactCursor(c store.PersonalContact) string {
	_, rest, _ := strings.Cut(c.ID, "|")
	return base64.RawURLEncoding.EncodeToString([]byte(c.DisplayName + "\x00" + rest))
}

// Contacts pages through the organisation's captured contacts by name, forwards with
// First/After or backwards with Last/Before.
func (s *Service) Contacts(ctx context.Context, orgID string, f *ContactFilter, p Page) (ContactResult, error) {
	var q store.ContactQuery
	if f != nil {
		for _, id := range f.MailboxIds {
			u, ok := strings.CutPrefix(id, mailboxPrefix)
			if !ok || u == "" {
				return ContactResult{}, errkind.E(errkind.ErrInvalid, "%q is not a mailbox id", id)
			}
			q.MailboxIDs = append(q.MailboxIDs, u)
		}
		if err := bounded("email", f.Email, "search", f.Search); err != nil {
			return ContactResult{}, err
		}
		if len(f.MailboxIds) > MaxFilterIDs {
			return ContactResult{}, errkind.E(errkind.ErrInvalid, "mailboxIds names at most %d mailboxes", MaxFilterIDs)
		}
		if f.Email != nil {
			q.Email = strings.ToLower(strings.TrimSpace(*f.Email))
			if !strings.Contains(q.Email, "@") {
				return ContactResult{}, errkind.E(errkind.ErrInvalid, "email %q is not an email address", *f.Email)
			}
		}
		if f.Search != nil {
			q.Search = *f.Search
		}
	}
	n, backward, pos, err := p.plan()
	if err != nil {
		return ContactResult{}, err
	}
	q.Descending = backward
	if pos != "" {
		raw, err := base64.RawURLEncoding.DecodeString(pos)
		name, rest, ok := strings.Cut(string(raw), "\x00")
		if err != nil || !ok || rest == "" {
			return ContactResult{}, errkind.E(errkind.ErrInvalid, "%q is not a cursor of this connection", pos)
		}
		q.After, q.AfterName, q.AfterID = true, name, orgID+"|"+rest
	}
	q.Limit = n + 1
	cs, err := s.st.Org(orgID).Contacts(ctx, q)
	if err != nil {
		return ContactResult{}, err
	}
	var r ContactResult
	cs, r.HasNext, r.HasPre = cut(p, n, backward, cs)
	r.Contacts, r.Cursors = make([]Contact, len(cs)), make([]string, len(cs))
	for i, c := range cs {
		r.Contacts[i], r.Cursors[i] = ContactView(c), contactCursor(c)
	}
	return r, nil
}

// GetContact reads one live contact by global id; nil when there is none in the organisation.
func (s *Service) GetContact(ctx context.Context, orgID, id string) (*Contact, error) {
	sid, ok := storeID(contactPrefix, orgID, id)
	if !ok {
		return nil, nil
	}
	c, err := s.st.Org(orgID).Contact(ctx, sid)
	if errors.Is(err, store.ErrNotFound) || (err == nil && c.Deleted) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	v := ContactView(c)
	return &v, nil
}
