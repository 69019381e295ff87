package deltasync

import (
	"context"
	"time"

	"github.com/teamaccess/teamaccess/store"
)

// Pages of a round: asked for (fetch), possibly ahead of their scope's turn (prefetch), and
// stored (page).

// page stores one page as fetched; it returns the next page's link or the delta link, and how
// many items it stored.
func (s *Syncer) page(ctx context.Context, org store.OrgScope, tenantID, userID string, st *store.DeltaState, sr *seriesRound, f *fetched) (string, string, int, error) {
	if f.err != nil {
		return "", "", 0, f.err
	}
	var write func() error
	switch {
	case store.Scope(st.Scope).IsMail():
		write = func() error { return s.storeMessages(ctx, org, userID, st, f.messages) }
	case store.Scope(st.Scope) == store.ScopeCalendar:
		write = func() error { return s.storeEvents(ctx, org, tenantID, userID, st, f.events, sr) }
	default:
		write = func() error { return s.storeContacts(ctx, org, userID, st, f.contacts) }
	}
	if !s.still(org.ID(), userID, st.Fence) {
		return "", "", 0, errMoved // nothing written: another process may hold the mailbox now
	}
	if err := s.writable(ctx, org, tenantID); err != nil {
		return "", "", 0, err
	}
	return f.next, f.delta, f.n, write()
}

// fetched is one page of a scope as Graph answered it, not stored yet.
type fetched struct {
	next, delta string
	n           int
	messages    []Message
	events      []Event
	contacts    []Contact
	err         error
}

// fetch asks Graph for the page of a scope at link.
func (s *Syncer) fetch(ctx context.Context, tenantID, scope, link string) *fetched {
	f := &fetched{}
	switch {
	case store.Scope(scope).IsMail():
		p, err := s.g.MessagesPage(ctx, tenantID, link)
		f.next, f.delta, f.n, f.messages, f.err = p.NextLink, p.DeltaLink, len(p.Items), p.Items, err
	case store.Scope(scope) == store.ScopeCalendar:
		p, err := s.g.EventsPage(ctx, tenantID, link)
		f.next, f.delta, f.n, f.events, f.err = p.NextLink, p.DeltaLink, len(p.Items), p.Items, err
	default:
		p, err := s.g.ContactsPage(ctx, tenantID, link)
		f.next, f.delta, f.n, f.contacts, f.err = p.NextLink, p.DeltaLink, len(p.Items), p.Items, err
	}
	return f
}

// prefetched is a scope's state, read before its turn in a round, and its first page, being
// asked for meanwhile.
type prefetched struct {
	st     store.DeltaState
	now    time.Time // as of which its first link was made (the scope's turn makes it the same)
	link   string
	f      *fetched
	done   chan struct{}
	cancel context.CancelFunc
}

// prefetch reads the state of the round's scope i and starts asking for its first page (nil
// when there is no scope i, or its state could not be read: its turn reads it again).
func (s *Syncer) prefetch(ctx context.Context, orgID, tenantID, userID string, scopes []string, i int) *prefetched {
	if i >= len(scopes) {
		return nil
	}
	st, err := s.loadState(ctx, s.st.Org(orgID), userID, scopes[i])
	if err != nil {
		return nil
	}
	now := s.now()
	link, probe := st.Link, st // probe: initial sets a new calendar window on it
	if s.aged(&st, now) || link == "" {
		link = s.initial(&probe, userID, now)
	}
	ctx, cancel := context.WithCancel(ctx)
	p := &prefetched{st: st, now: now, link: link, done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(p.done)
		p.f = s.fetch(ctx, tenantID, st.Scope, link)
	}()
	return p
}

// state is the scope's state as read before its turn, and the time its turn goes by.
func (p *prefetched) state() (store.DeltaState, time.Time, bool) {
	if p == nil {
		return store.DeltaState{}, time.Time{}, false
	}
	return p.st, p.now, true
}

// take is the first page, once it is in, when it was asked for at link (which the scope's turn
// requests first); nil otherwise.
func (p *prefetched) take(link string) *fetched {
	if p == nil {
		return nil
	}
	if p.link != link {
		p.drop()
		return nil
	}
	<-p.done
	p.cancel()
	return p.f
}

// drop gives the page up, and waits for its request to end.
func (p *prefetched) drop() {
	if p == nil {
		return
	}
	p.cancel()
	<-p.done
}

// aged says whether a calendar scope's window has moved on so far that a full round over the
// window as of now is due.
func (s *Syncer) aged(st *store.DeltaState, now time.Time) bool {
	return store.Scope(st.Scope) == store.ScopeCalendar && !st.InRound && st.Link != "" && now.Sub(st.WindowFrom.Add(s.o.CalendarBack)) > s.o.WindowMove
}
