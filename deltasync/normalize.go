package deltasync

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/teamaccess/teamaccess/store"
)

// domainsEvery is how often the tenant's domains and the mailboxes' owners are read again: from
// the organisation's mailboxes as the store keeps them in memory (LiveMailboxes), a read of one
// small document unless they changed.
const domainsEvery = 30 * time.Second

// domains are the tenant's email domains (of its users' addresses), refreshed every
// domainsEvery: mail between them is internal. Rounds of an organisation that start together
// wait for one read.
func (s *Syncer) domainsOf(ctx context.Context, org store.OrgScope) map[string]bool {
	fresh := func() (domainSet, bool) {
		s.mu.Lock()
		defer s.mu.Unlock()
		d, ok := s.domains[org.ID()]
		return d, ok && s.now().Sub(d.at) < domainsEvery
	}
	if d, ok := fresh(); ok {
		return d.d
	}
	s.mu.Lock()
	l, ok := s.domainsLock[org.ID()]
	if !ok {
		l = &sync.Mutex{}
		s.domainsLock[org.ID()] = l
	}
	s.mu.Unlock()
	l.Lock()
	defer l.Unlock()
	d, ok := fresh()
	if ok { // read by the round that held the lock
		return d.d
	}
	ms, err := org.LiveMailboxes(ctx)
	if err != nil {
		return d.d // the last read (nil: none), and another read at the next call
	}
	set, owners := map[string]bool{}, map[string]map[string]bool{}
	for _, m := range ms {
		owners[m.UserID] = map[string]bool{}
		for _, a := range []string{m.UserPrincipalName, m.Mail} {
			a = strings.ToLower(a)
			if _, dom, ok := strings.Cut(a, "@"); ok && !strings.Contains(dom, "#ext#") {
				set[dom] = true
				owners[m.UserID][a] = true
			}
		}
	}
	s.mu.Lock()
	s.domains[org.ID()] = domainSet{at: s.now(), d: set, owners: owners}
	s.mu.Unlock()
	return set
}

// ownerOf returns the mailbox owner's addresses (read with the domains).
func (s *Syncer) ownerOf(ctx context.Context, org store.OrgScope, userID string) map[string]bool {
	s.domainsOf(ctx, org)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.domains[org.ID()].owners[userID]
}

func internal(domains map[string]bool, address string) bool {
	_, dom, ok := strings.Cut(strings.ToLower(address), "@")
	return ok && domains[dom]
}

// direction of an email: outbound from the tenant, inbound to it, or internal when every party
// is in the tenant.
func direction(domains map[string]bool, m Message) string {
	fromInside := m.From != nil && internal(domains, m.From.Address)
	allInside := fromInside
	for _, l := range [][]Address{m.To, m.Cc, m.Bcc} {
		for _, a := range l {
			allInside = allInside && internal(domains, a.Address)
		}
	}
	switch {
	case allInside:
		return "INTERNAL"
	case fromInside:
		return "OUTBOUND"
	}
	return "INBOUND"
}

func participants(domains map[string]bool, role string, as []Address) []store.Participant {
	out := make([]store.Participant, 0, len(as))
	for _, a := range as {
		out = append(out, store.Participant{Name: a.Name, Address: strings.ToLower(a.Address), Role: role, Internal: internal(domains, a.Address)})
	}
	return out
}

// storeMessages writes a page of messages and tombstones the removed ones.
func (s *Syncer) storeMessages(ctx context.Context, org store.OrgScope, userID string, st *store.DeltaState, ms []Message) error {
	domains := s.domainsOf(ctx, org)
	owner := s.ownerOf(ctx, org, userID)
	now := s.now()
	var acts []store.Activity
	var removed []string
	for _, m := range ms {
		if m.Removed {
			removed = append(removed, m.ID)
			continue
		}
		if m.IsDraft {
			continue // not an activity until sent
		}
		a := store.Activity{ID: store.ItemID(org.ID(), userID, st.Scope, m.ID), MailboxID: userID, Scope: st.Scope, GraphID: m.ID,
			Kind: "EMAIL", Subject: m.Subject, Direction: direction(domains, m), ConversationID: m.ConversationID,
			InternetMessageID: m.InternetMessageID, WebLink: m.WebLink, HasAttachments: m.HasAttachments, Importance: m.Importance,
			SentAt: m.Sent, ReceivedAt: m.Received, Gen: st.Gen, ChangedAt: now}
		if s.o.CaptureBodies {
			a.BodyPreview = m.BodyPreview
		}
		if m.Sensitivity != "normal" {
			a.Sensitivity = m.Sensitivity // where Graph answers it (m365's sensitivityExpand)
		}
		a.OccurredAt = m.Received
		if st.FullRound && st.BackfilledAt == nil && !m.Received.IsZero() && (st.ReachedBack == nil || m.Received.Before(*st.ReachedBack)) {
			r := m.Received
			st.ReachedBack = &r // the backfill has read back to it (newest first)
		}
		if a.Direction != "INBOUND" && !m.Sent.IsZero() {
			a.OccurredAt = m.Sent
		}
		if m.From != nil {
			a.Participants = append(a.Participants, participants(domains, "from", []Address{*m.From})...)
		}
		a.Participants = append(a.Participants, participants(domains, "to", m.To)...)
		a.Participants = append(a.Participants, participants(domains, "cc", m.Cc)...)
		if m.From != nil && a.Direction != "INBOUND" && owner[strings.ToLower(m.From.Address)] {
			a.Participants = append(a.Participants, participants(domains, "bcc", m.Bcc)...) // the sender's own copy
		}
		acts = append(acts, a)
	}
	acts, excluded, err := s.screenActivities(ctx, org, userID, st, acts)
	if err != nil {
		return err
	}
	return s.write(ctx, org, userID, st, acts, removed, excluded)
}

// storeEvents completes a page's bare occurrences (series.go), writes its events and
// tombstones the removed ones.
func (s *Syncer) storeEvents(ctx context.Context, org store.OrgScope, tenantID, userID string, st *store.DeltaState, es []Event, sr *seriesRound) error {
	if err := s.hydrate(ctx, tenantID, userID, es, sr); err != nil {
		return err
	}
	return s.writeEvents(ctx, org, userID, st, es, sr)
}

// writeEvents writes complete events and tombstones the removed ones.
func (s *Syncer) writeEvents(ctx context.Context, org store.OrgScope, userID string, st *store.DeltaState, es []Event, sr *seriesRound) error {
	domains := s.domainsOf(ctx, org)
	now := s.now()
	var acts []store.Activity
	var removed []string
	for _, e := range es {
		if e.Removed {
			removed = append(removed, e.ID)
			continue
		}
		a := store.Activity{ID: store.ItemID(org.ID(), userID, st.Scope, e.ID), MailboxID: userID, Scope: st.Scope, GraphID: e.ID,
			Kind: "MEETING", Subject: e.Subject, OccurredAt: e.Start, Start: e.Start, End: e.End,
			StartTimeZone: e.StartTimeZone, EndTimeZone: e.EndTimeZone, IsAllDay: e.IsAllDay, SeriesID: e.SeriesMasterID, SeriesChangeKey: sr.keys[e.ID],
			OnlineMeetingURL: e.JoinURL, Location: e.Location, IsCancelled: e.IsCancelled, WebLink: e.WebLink, Gen: st.Gen, ChangedAt: now}
		if e.IsAllDay {
			a.StartDate, a.EndDate = e.StartDate, e.EndDate
		}
		a.Participants = append(a.Participants, participants(domains, "organizer", []Address{e.Organizer})...)
		for _, at := range e.Attendees {
			a.Participants = append(a.Participants, store.Participant{Name: at.Name, Address: strings.ToLower(at.Address.Address), Role: "attendee",
				Response: at.Response, Type: at.Type, Internal: internal(domains, at.Address.Address)})
		}
		if e.Sensitivity != "normal" {
			a.Sensitivity = e.Sensitivity
		}
		acts = append(acts, a)
	}
	acts, excluded, err := s.screenActivities(ctx, org, userID, st, acts)
	if err != nil {
		return err
	}
	return s.write(ctx, org, userID, st, acts, removed, excluded)
}

// storeContacts writes a page of contacts and tombstones the removed ones.
func (s *Syncer) storeContacts(ctx context.Context, org store.OrgScope, userID string, st *store.DeltaState, cs []Contact) error {
	now := s.now()
	var out []store.PersonalContact
	var removed []string
	for _, c := range cs {
		if c.Removed {
			removed = append(removed, c.ID)
			continue
		}
		pc := store.PersonalContact{ID: store.ItemID(org.ID(), userID, st.Scope, c.ID), MailboxID: userID, Scope: st.Scope, GraphID: c.ID,
			DisplayName: c.DisplayName, GivenName: c.GivenName, Surname: c.Surname, Company: c.Company, JobTitle: c.JobTitle,
			Emails: []string{}, Phones: append([]string{}, c.Phones...), Gen: st.Gen, ChangedAt: now}
		for _, e := range c.Emails {
			pc.Emails = append(pc.Emails, strings.ToLower(e.Address))
		}
		out = append(out, pc)
	}
	out, excluded, err := s.screenContacts(ctx, org, userID, st, out)
	if err != nil {
		return err
	}
	if _, err := org.WriteContacts(ctx, out); err != nil {
		return err
	}
	if _, err := org.ForgetContacts(ctx, excluded); err != nil { // stored before the rule that now excludes them
		return err
	}
	_, err = org.Tombstone(ctx, userID, st.Scope, removed, st.Gen, now)
	return err
}

// write stores activities and tombstones, removes what was stored of the excluded ones, and
// publishes them.
func (s *Syncer) write(ctx context.Context, org store.OrgScope, userID string, st *store.DeltaState, acts []store.Activity, removed, excluded []string) error {
	existed, err := org.WriteActivities(ctx, acts)
	if err != nil {
		return err
	}
	removed, err = org.Tombstone(ctx, userID, st.Scope, removed, st.Gen, s.now())
	if err != nil {
		return err
	}
	// An item a rule excludes now that was stored before it: removed whole, never tombstoned
	// (a tombstone keeps its data for the feed).
	forgotten, err := org.ForgetActivities(ctx, excluded)
	if err != nil {
		return err
	}
	changes := make([]store.Change, 0, len(acts)+len(removed)+len(forgotten))
	for _, id := range forgotten {
		changes = append(changes, store.Change{Type: string(Deleted), ActivityID: id, At: s.now()})
	}
	for i, a := range acts {
		t := Created
		if existed[a.ID] {
			t = Updated
		}
		changes = append(changes, store.Change{Type: string(t), ActivityID: a.ID, At: a.ChangedAt, Activity: &acts[i]})
	}
	for _, g := range removed {
		changes = append(changes, store.Change{Type: string(Deleted), ActivityID: store.ItemID(org.ID(), userID, st.Scope, g), At: s.now()})
	}
	if err := org.AppendChanges(ctx, changes); err != nil {
		return err
	}
	if s.o.Publish != nil {
		for _, a := range acts {
			t := Created
			if existed[a.ID] {
				t = Updated
			}
			s.o.Publish(org.ID(), Change{Type: t, Activity: a})
		}
	}
	s.publishDeleted(org.ID(), userID, st.Scope, removed)
	if s.o.Publish != nil {
		for _, id := range forgotten {
			s.o.Publish(org.ID(), Change{Type: Deleted, Activity: store.Activity{ID: id, OrgID: org.ID(), MailboxID: userID, Scope: st.Scope, Deleted: true}})
		}
	}
	return nil
}

func (s *Syncer) publishDeleted(orgID, userID, scope string, graphIDs []string) {
	if s.o.Publish == nil || store.Scope(scope) == store.ScopeContacts {
		return
	}
	for _, g := range graphIDs {
		s.o.Publish(orgID, Change{Type: Deleted, Activity: store.Activity{ID: store.ItemID(orgID, userID, scope, g), OrgID: orgID, MailboxID: userID, Scope: scope, GraphID: g, Deleted: true}})
	}
}
