package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/teamaccess/teamaccess/deltasync"
	"github.com/teamaccess/teamaccess/graphdata"
	"github.com/teamaccess/teamaccess/graphsim"
	"github.com/teamaccess/teamaccess/lifecycle"
	"github.com/teamaccess/teamaccess/m365"
	"github.com/teamaccess/teamaccess/mailboxes"
	"github.com/teamaccess/teamaccess/store"
	"github.com/teamaccess/teamaccess/testenv"
)

const syncApp = "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d"

// syncEnv is the sync stack as the service composes it: graphsim, m365, deltasync, the store.
type syncEnv struct {
	sim         *graphsim.Sim
	st          *store.Store
	graph       deltasync.Graph
	mc          *m365.Client
	org, tenant string
	alice, bob  string
	now         time.Time
	changes     atomic.Int64
}

func newSyncEnv(t *testing.T) *syncEnv { return newSyncEnvWith(t, graphsim.Options{}) }

// newSyncEnvWith is newSyncEnv with graphsim options of the test's.
func newSyncEnvWith(t *testing.T, opts graphsim.Options) *syncEnv {
	t.Helper()
	opts.Apps = []graphsim.App{{ID: syncApp, Secret: "s", Name: "teamaccess",
		Permissions: []string{"Calendars.Read", "User.Read.All", "Mail.Read", "Contacts.Read"}}}
	sim := testenv.Sim(t, opts)
	st := testenv.Store(t)
	cl, _ := m365.CustomCloud(sim.AuthorityURL(), sim.GraphURL())
	mc, err := m365.New(m365.Config{ClientID: syncApp, ClientSecret: "s", Cloud: cl, RootCAs: sim.CertPool()})
	require.NoError(t, err)
	e := &syncEnv{sim: sim, st: st, graph: mc, mc: mc, org: "org_sync", now: time.Now().UTC()}
	e.tenant = sim.AddTenant(graphsim.TenantSpec{Name: "Contoso", Domain: "contoso.onmicrosoft.com"})
	e.alice, _ = sim.AddUser(e.tenant, graphsim.UserSpec{DisplayName: "Alice Adams", UPN: "alice@contoso.com"})
	e.bob, _ = sim.AddUser(e.tenant, graphsim.UserSpec{DisplayName: "Bob Brown", UPN: "bob@contoso.com"})
	require.NoError(t, sim.GrantConsent(e.tenant, syncApp))
	require.NoError(t, st.Org(e.org).UpsertDirectoryUsers(t.Context(), e.tenant, []store.Mailbox{
		{UserID: e.alice, DisplayName: "Alice Adams", UserPrincipalName: "alice@contoso.com", Mail: "alice@contoso.com", AccountEnabled: true},
		{UserID: e.bob, DisplayName: "Bob Brown", UserPrincipalName: "bob@contoso.com", Mail: "bob@contoso.com", AccountEnabled: true},
	}, e.now))
	return e
}

func (e *syncEnv) syncer(g deltasync.Graph) *deltasync.Syncer {
	return deltasync.New(e.st, g, deltasync.Options{Now: func() time.Time { return e.now },
		Publish: func(string, deltasync.Change) { e.changes.Add(1) }})
}

var customer = graphsim.EmailAddress{Name: "Carol Customer", Address: "carol@fabrikam.com"}

func (e *syncEnv) mail(t *testing.T, user, folder, subject string, received time.Time) string {
	me := graphsim.EmailAddress{Name: "Alice Adams", Address: "alice@contoso.com"}
	m := graphsim.Message{Subject: subject, ReceivedDateTime: received, Body: graphsim.ItemBody{Content: "hello " + subject}}
	if folder == "sentitems" {
		m.From = &graphsim.Recipient{EmailAddress: me}
		m.ToRecipients = []graphsim.Recipient{{EmailAddress: customer}}
		m.BccRecipients = []graphsim.Recipient{{EmailAddress: graphsim.EmailAddress{Name: "Boss", Address: "boss@contoso.com"}}}
	} else {
		m.From = &graphsim.Recipient{EmailAddress: customer}
		m.ToRecipients = []graphsim.Recipient{{EmailAddress: me}}
	}
	id, err := e.sim.AddMessage(e.tenant, user, folder, m)
	require.NoError(t, err)
	return id
}

func (e *syncEnv) meeting(t *testing.T, user, subject string, start time.Time) string {
	id, err := e.sim.AddEvent(e.tenant, user, graphsim.Event{Subject: subject, Start: graphsim.LocalTime(start), End: graphsim.LocalTime(start.Add(time.Hour)),
		Organizer:       graphsim.Recipient{EmailAddress: graphsim.EmailAddress{Name: "Alice Adams", Address: "alice@contoso.com"}},
		Attendees:       []graphsim.Attendee{{Type: "required", EmailAddress: customer, Status: graphsim.ResponseStatus{Response: "accepted"}}},
		IsOnlineMeeting: true, OnlineMeeting: &graphsim.OnlineMeetingInfo{JoinURL: "https://teams.example/" + subject}})
	require.NoError(t, err)
	return id
}

// truth is graphsim's ground truth as activities should show it: scope|graphId -> subject.
func (e *syncEnv) truth(t *testing.T, user string) map[string]string {
	out := map[string]string{}
	from := e.now.Add(-90 * 24 * time.Hour)
	for _, f := range []string{"inbox", "sentitems"} {
		ms, err := e.sim.Messages(e.tenant, user, f)
		require.NoError(t, err)
		for _, m := range ms {
			if !m.ReceivedDateTime.Before(from) {
				out["mail:"+f+"|"+m.ID] = m.Subject
			}
		}
	}
	evs, err := e.sim.Events(e.tenant, user)
	require.NoError(t, err)
	wFrom, wTo := e.now.Add(-90*24*time.Hour).Truncate(time.Hour), e.now.Add(180*24*time.Hour).Truncate(time.Hour)
	for _, ev := range evs {
		s, _ := time.Parse("2006-01-02T15:04:05.0000000", ev.Start.DateTime)
		en, _ := time.Parse("2006-01-02T15:04:05.0000000", ev.End.DateTime)
		if s.Before(wTo) && en.After(wFrom) {
			out["calendar|"+ev.ID] = ev.Subject
		}
	}
	return out
}

// stored is what the store has, in the same form; it fails on a duplicate.
func (e *syncEnv) stored(t *testing.T, user string) map[string]string {
	as, err := e.st.Org(e.org).LiveActivities(t.Context(), user)
	require.NoError(t, err)
	out := map[string]string{}
	for _, a := range as {
		k := a.Scope + "|" + a.GraphID
		require.NotContains(t, out, k, "duplicate")
		out[k] = a.Subject
	}
	return out
}

func (e *syncEnv) reconcile(t *testing.T, phase string) {
	t.Helper()
	for _, u := range []string{e.alice, e.bob} {
		want, got := e.truth(t, u), e.stored(t, u)
		require.Equal(t, len(want), len(got), "%s: %d items in graphsim, %d stored", phase, len(want), len(got))
		require.Equal(t, want, got, phase)
	}
}

func TestDeltaSyncReconcilesWithGraphsim(t *testing.T) {
	t.Parallel()
	e := newSyncEnv(t)
	ctx := t.Context()
	var inbox []string
	for i := range 45 {
		inbox = append(inbox, e.mail(t, e.alice, "inbox", fmt.Sprintf("deal %02d", i), e.now.Add(-time.Duration(i)*24*time.Hour)))
	}
	e.mail(t, e.alice, "inbox", "ancient", e.now.Add(-200*24*time.Hour)) // before the backfill window
	for i := range 12 {
		e.mail(t, e.alice, "sentitems", fmt.Sprintf("reply %02d", i), e.now.Add(-time.Duration(i)*time.Hour))
	}
	var meetings []string
	for i := range 15 {
		meetings = append(meetings, e.meeting(t, e.alice, fmt.Sprintf("meeting %02d", i), e.now.Add(time.Duration(i-5)*24*time.Hour)))
	}
	e.meeting(t, e.alice, "far away", e.now.Add(400*24*time.Hour))
	for i := range 5 {
		e.mail(t, e.bob, "inbox", fmt.Sprintf("bob %d", i), e.now.Add(-time.Hour))
	}
	_, err := e.sim.AddContact(e.tenant, e.alice, graphsim.Contact{DisplayName: "Carol Customer", EmailAddresses: []graphsim.EmailAddress{customer}})
	require.NoError(t, err)

	s := e.syncer(e.graph)
	syncAll := func() {
		for _, u := range []string{e.alice, e.bob} {
			require.NoError(t, s.SyncMailbox(ctx, e.org, e.tenant, u))
		}
	}
	syncAll()
	e.reconcile(t, "after backfill")

	// Field values of a stored email and meeting.
	as, _ := e.st.Org(e.org).LiveActivities(ctx, e.alice)
	for _, a := range as {
		switch {
		case a.Subject == "reply 00":
			require.Equal(t, "OUTBOUND", a.Direction)
			require.True(t, slices.ContainsFunc(a.Participants, func(p store.Participant) bool { return p.Role == "bcc" && p.Address == "boss@contoso.com" }),
				"the sender's copy keeps its bcc")
		case a.Subject == "deal 00":
			require.Equal(t, "INBOUND", a.Direction)
			require.Equal(t, "EMAIL", a.Kind)
			require.Empty(t, a.BodyPreview, "bodies are not captured by default")
		case a.Subject == "meeting 05":
			require.Equal(t, "MEETING", a.Kind)
			require.Equal(t, "https://teams.example/meeting 05", a.OnlineMeetingURL)
			require.Equal(t, "accepted", a.Participants[1].Response)
			require.WithinDuration(t, e.now, a.Start, time.Second)
		}
	}
	cs, _ := e.st.Org(e.org).LiveContacts(ctx, e.alice)
	require.Len(t, cs, 1)
	require.Equal(t, []string{"carol@fabrikam.com"}, cs[0].Emails)

	// A burst of changes.
	for i := range 6 {
		e.mail(t, e.alice, "inbox", fmt.Sprintf("new %d", i), e.now)
	}
	require.NoError(t, e.sim.UpdateMessage(e.tenant, e.alice, inbox[1], func(m *graphsim.Message) { m.Subject = "deal 01 (edited)" }))
	require.NoError(t, e.sim.DeleteMessage(e.tenant, e.alice, inbox[2]))
	_, err = e.sim.MoveMessage(e.tenant, e.alice, inbox[7], "archive") // out of the synced folders
	require.NoError(t, err)
	_, err = e.sim.MoveMessage(e.tenant, e.alice, inbox[8], "sentitems") // from one synced folder to another
	require.NoError(t, err)
	require.NoError(t, e.sim.DeleteEvent(e.tenant, e.alice, meetings[3]))
	require.NoError(t, e.sim.UpdateEvent(e.tenant, e.alice, meetings[4], func(ev *graphsim.Event) { ev.Subject = "moved"; ev.IsCancelled = true }))
	syncAll()
	e.reconcile(t, "after a burst")

	// Expired tokens: a full resynchronisation replaces the stored set.
	require.NoError(t, e.sim.ResetDelta(e.tenant, e.alice, "messages"))
	require.NoError(t, e.sim.DeleteMessage(e.tenant, e.alice, inbox[5])) // deleted while the token was dead
	e.mail(t, e.alice, "inbox", "after reset", e.now)
	syncAll()
	e.reconcile(t, "after a delta reset")
	states, _ := e.st.Org(e.org).DeltaStates(ctx, e.alice)
	require.Equal(t, 1, states[slices.IndexFunc(states, func(s store.DeltaState) bool { return s.Scope == "mail:inbox" })].Resyncs)

	// 429 storms and 5xx: syncs that fail resume where they stopped, and converge.
	e.sim.InjectFault(graphsim.Fault{Path: "/messages/delta", Status: 429, RetryAfter: 1, Count: 2})
	e.sim.InjectFault(graphsim.Fault{Path: "/calendarView/delta", Status: 500, Count: 1})
	for i := range 12 {
		e.mail(t, e.alice, "inbox", fmt.Sprintf("storm %d", i), e.now)
	}
	require.NoError(t, e.sim.DeleteEvent(e.tenant, e.alice, meetings[6]))
	err = s.SyncMailbox(ctx, e.org, e.tenant, e.alice)
	require.ErrorContains(t, err, "calendar: delta: Microsoft Graph answered 500 InternalServerError", "the 500 failed the calendar round")
	require.NotErrorIs(t, err, graphdata.ErrThrottled, "a 500 is a failure, not throttling (429, 503, 504)")
	require.NoError(t, s.SyncMailbox(ctx, e.org, e.tenant, e.alice))
	e.reconcile(t, "after faults")
	require.Positive(t, e.changes.Load(), "stored changes are published")
}

// pageLimit is a Graph that fails after some pages, as a process killed in the middle of a
// sync would stop.
type pageLimit struct {
	deltasync.Graph
	left atomic.Int64
}

var errKilled = errors.New("killed")

func (p *pageLimit) MessagesPage(ctx context.Context, tenantID, link string) (deltasync.Page[deltasync.Message], error) {
	if p.left.Add(-1) < 0 {
		return deltasync.Page[deltasync.Message]{}, errKilled
	}
	return p.Graph.MessagesPage(ctx, tenantID, link)
}

func TestRestartResumesMidRound(t *testing.T) {
	t.Parallel()
	e := newSyncEnv(t)
	ctx := t.Context()
	for i := range 450 {
		e.mail(t, e.alice, "inbox", fmt.Sprintf("m%03d", i), e.now.Add(-time.Duration(i)*time.Minute))
	}
	deltaRequests := func() int {
		n := 0
		for _, r := range e.sim.Requests() {
			// The inbox's pages (the first names "inbox", the others its folder id); the sent
			// items folder has one page, named "sentitems".
			if strings.HasSuffix(r.Path, "/messages/delta") && !strings.Contains(r.Path, "sentitems") {
				n++
			}
		}
		return n
	}
	killed := &pageLimit{Graph: e.graph}
	killed.left.Store(2) // dies after two pages of 100
	err := e.syncer(killed).SyncMailbox(ctx, e.org, e.tenant, e.alice)
	require.ErrorIs(t, err, errKilled)
	require.Equal(t, 2, deltaRequests())
	require.Len(t, e.stored(t, e.alice), 200, "two pages stored")

	// A new process on the same store resumes where the round's last checkpoint was: after page
	// one or two (a checkpoint is at most 250 ms old), never at the start.
	require.NoError(t, e.syncer(e.graph).SyncMailbox(ctx, e.org, e.tenant, e.alice))
	require.LessOrEqual(t, deltaRequests(), 2+4, "the folder is not read again from its first page")
	e.reconcile(t, "after the restart")
}

func TestPurgeDeletesCapturedDataAndTheNextSyncBackfillsAgain(t *testing.T) {
	t.Parallel()
	e := newSyncEnv(t)
	ctx := t.Context()
	for i := range 5 {
		e.mail(t, e.alice, "inbox", fmt.Sprintf("deal %d", i), e.now.Add(-time.Duration(i)*time.Hour))
	}
	_, err := e.sim.AddContact(e.tenant, e.alice, graphsim.Contact{DisplayName: "Carol Customer", EmailAddresses: []graphsim.EmailAddress{customer}})
	require.NoError(t, err)
	// Another organisation's data, which a purge must not touch.
	other := e.st.Org("org_other")
	_, err = other.WriteActivities(ctx, []store.Activity{{ID: store.ItemID("org_other", "u", "mail:inbox", "g"), MailboxID: "u", Kind: "EMAIL"}})
	require.NoError(t, err)

	s := e.syncer(e.graph)
	require.NoError(t, s.SyncMailbox(ctx, e.org, e.tenant, e.alice))
	e.reconcile(t, "backfill")
	changes, err := e.st.Org(e.org).ChangesAfter(ctx, 0, 100)
	require.NoError(t, err)
	require.NotEmpty(t, changes)

	mbx := mailboxes.New(e.st, nil, nil, mailboxes.Options{Log: slog.New(slog.DiscardHandler)})
	require.NoError(t, mbx.Disconnected(ctx, e.org, true))
	s.Forget(e.org)
	org := e.st.Org(e.org)
	as, err := org.Activities(ctx, store.ActivityQuery{Limit: 100})
	require.NoError(t, err)
	require.Empty(t, as, "activities purged")
	cs, err := org.Contacts(ctx, store.ContactQuery{Limit: 100})
	require.NoError(t, err)
	require.Empty(t, cs, "contacts purged")
	lastSeq := changes[len(changes)-1].Seq
	changes, err = org.ChangesAfter(ctx, 0, 100)
	require.NoError(t, err)
	require.Len(t, changes, 1, "change log purged but for a mark of its last number")
	require.Equal(t, store.ChangeMark, changes[0].Type)
	require.Equal(t, lastSeq, changes[0].Seq)
	require.Nil(t, changes[0].Activity, "no personal data left in the mark")
	states, err := org.DeltaStates(ctx, e.alice)
	require.NoError(t, err)
	require.Empty(t, states, "delta positions purged")
	kept, err := other.Activities(ctx, store.ActivityQuery{Limit: 10})
	require.NoError(t, err)
	require.Len(t, kept, 1, "another organisation keeps its data")

	// Reconnected and captured again: the same syncer backfills from scratch.
	require.NoError(t, org.UpsertDirectoryUsers(ctx, e.tenant, []store.Mailbox{
		{UserID: e.alice, DisplayName: "Alice Adams", UserPrincipalName: "alice@contoso.com", Mail: "alice@contoso.com", AccountEnabled: true},
		{UserID: e.bob, DisplayName: "Bob Brown", UserPrincipalName: "bob@contoso.com", Mail: "bob@contoso.com", AccountEnabled: true},
	}, e.now))
	require.NoError(t, s.SyncMailbox(ctx, e.org, e.tenant, e.alice))
	require.NoError(t, s.SyncMailbox(ctx, e.org, e.tenant, e.bob))
	e.reconcile(t, "after purge")
	changes, err = org.ChangesAfter(ctx, lastSeq, 1)
	require.NoError(t, err)
	require.Equal(t, lastSeq+1, changes[0].Seq, "numbering goes on after the purge")
}

// A purge while a round is fetching pages is final: the round stops before its next page, the
// purge waits for it, and nothing of the organisation is written afterwards.
func TestPurgeDuringARoundLeavesNothingBehind(t *testing.T) {
	t.Parallel()
	e := newSyncEnv(t)
	ctx := t.Context()
	for i := range 60 { // one page, then the other scopes' rounds
		e.mail(t, e.alice, "inbox", fmt.Sprintf("deal %d", i), e.now.Add(-time.Duration(i)*time.Hour))
	}
	e.sim.InjectFault(graphsim.Fault{Path: "/messages/delta", UserID: e.alice, Latency: 150 * time.Millisecond})
	s := e.syncer(e.graph)
	org := e.st.Org(e.org)
	done := make(chan error, 1)
	go func() { done <- s.SyncMailbox(ctx, e.org, e.tenant, e.alice) }()
	require.Eventually(t, func() bool {
		as, err := org.Activities(ctx, store.ActivityQuery{Limit: 100})
		return err == nil && len(as) > 0
	}, 10*time.Second, 5*time.Millisecond, "the round has written its first page")

	release, err := s.Hold(ctx, e.org)
	require.NoError(t, err)
	select {
	case err := <-done:
		require.ErrorContains(t, err, "on hold", "the round stopped before its next page, not at its end")
	case <-time.After(5 * time.Second):
		t.Fatal("the round did not stop")
	}
	mbx := mailboxes.New(e.st, nil, nil, mailboxes.Options{Log: slog.New(slog.DiscardHandler)})
	require.NoError(t, mbx.Disconnected(ctx, e.org, true))
	require.NoError(t, s.SyncMailbox(ctx, e.org, e.tenant, e.alice), "a round asked for meanwhile writes nothing")
	release()

	time.Sleep(400 * time.Millisecond) // what a round still running would write in that time
	as, err := org.Activities(ctx, store.ActivityQuery{Limit: 100})
	require.NoError(t, err)
	require.Empty(t, as, "nothing written after the purge")
	states, err := org.DeltaStates(ctx, e.alice)
	require.NoError(t, err)
	require.Empty(t, states, "no delta position saved after the purge")
	changes, err := org.ChangesAfter(ctx, 0, 100)
	require.NoError(t, err)
	require.Len(t, changes, 1, "the change log holds only the purge's mark")
}

// The same with the round in another process: the purge marks the organisation, that process's
// round sees the mark before writing its next page and stops, and the purge deletes only after
// giving it time to.
func TestPurgeLeavesNothingBehindWhenAnotherProcessIsSyncing(t *testing.T) {
	t.Parallel()
	e := newSyncEnv(t)
	ctx := t.Context()
	for i := range 600 { // six pages of 100, 400 ms each: the round outlasts the purge's settling
		e.mail(t, e.alice, "inbox", fmt.Sprintf("deal %d", i), e.now.Add(-time.Duration(i)*time.Minute))
	}
	e.sim.InjectFault(graphsim.Fault{Path: "/messages/delta", UserID: e.alice, Latency: 400 * time.Millisecond})
	here, elsewhere := e.syncer(e.graph), e.syncer(e.graph) // two processes' syncers
	org := e.st.Org(e.org)
	done := make(chan error, 1)
	go func() { done <- elsewhere.SyncMailbox(ctx, e.org, e.tenant, e.alice) }()
	require.Eventually(t, func() bool {
		as, err := org.Activities(ctx, store.ActivityQuery{Limit: 100})
		return err == nil && len(as) > 0
	}, 10*time.Second, 5*time.Millisecond, "the other process's round has written its first page")

	mbx := mailboxes.New(e.st, nil, nil, mailboxes.Options{Log: slog.New(slog.DiscardHandler)})
	lc := lifecycle.New(lifecycle.NewGroup(ctx), e.st, deltasync.PurgeSettle, nil)
	lc.Attach(lifecycle.Parts{Discovery: mbx, Sync: here, Notifications: noNotifications{}})
	require.NoError(t, lc.Disconnecting(ctx, e.org, e.tenant, true))
	select {
	case err := <-done:
		require.ErrorContains(t, err, "on hold", "the other round stopped at the mark, not at its end")
	case <-time.After(5 * time.Second):
		t.Fatal("the other process's round did not stop")
	}
	time.Sleep(400 * time.Millisecond)
	as, err := org.Activities(ctx, store.ActivityQuery{Limit: 100})
	require.NoError(t, err)
	require.Empty(t, as, "nothing written after the purge")
	states, err := org.DeltaStates(ctx, e.alice)
	require.NoError(t, err)
	require.Empty(t, states)
	changes, err := org.ChangesAfter(ctx, 0, 100)
	require.NoError(t, err)
	require.Len(t, changes, 1, "the change log holds only the purge's mark")
}

// noNotifications is a deployment without change notifications, for the lifecycle.
type noNotifications struct{}

func (noNotifications) MailboxCaptured(context.Context, string, string, string, bool) {}
func (noNotifications) Disconnected(context.Context, string) error                    { return nil }
