package deltasync_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/teamaccess/teamaccess/auth"
	"github.com/teamaccess/teamaccess/deltasync"
	"github.com/teamaccess/teamaccess/graphsim"
	"github.com/teamaccess/teamaccess/privacy"
	"github.com/teamaccess/teamaccess/store"
)

// privacyEnv is env with a second mailbox (Bob's), a capture policy and a log kept for reading.
type privacyEnv struct {
	*env
	bob      string
	pol      *privacy.Service
	log      *syncBuffer
	syncer   *deltasync.Syncer
	excluded map[string]int
	mu       sync.Mutex
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}
func (b *syncBuffer) String() string { b.mu.Lock(); defer b.mu.Unlock(); return b.b.String() }

func newPrivacyEnv(t *testing.T) *privacyEnv {
	e := &privacyEnv{env: newEnv(t, graphsim.Options{}), log: &syncBuffer{}, excluded: map[string]int{}}
	e.bob, _ = e.sim.AddUser(e.tenant, graphsim.UserSpec{DisplayName: "Bob Brown", UPN: "bob@contoso.com"})
	require.NoError(t, e.st.Org(e.org).UpsertDirectoryUsers(t.Context(), e.tenant, []store.Mailbox{
		{UserID: e.alice, DisplayName: "Alice Adams", UserPrincipalName: "alice@contoso.com", Mail: "alice@contoso.com", AccountEnabled: true},
		{UserID: e.bob, DisplayName: "Bob Brown", UserPrincipalName: "bob@contoso.com", Mail: "bob@contoso.com", AccountEnabled: true},
	}, e.now))
	e.pol = privacy.New(e.st, privacy.Options{Now: func() time.Time { return e.now }, Audit: auth.NewDirectory(e.st), Excluded: func(rule string, n int) {
		e.mu.Lock()
		e.excluded[rule] += n
		e.mu.Unlock()
	}})
	log := slog.New(slog.NewTextHandler(e.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.syncer = deltasync.New(e.st, e.mc, deltasync.Options{Now: func() time.Time { return e.now }, Log: log, CaptureBodies: true, Policy: e.pol})
	return e
}

func addr(name, address string) graphsim.Recipient {
	return graphsim.Recipient{EmailAddress: graphsim.EmailAddress{Name: name, Address: address}}
}

var carol = addr("Carol Customer", "carol@fabrikam.com")

func (e *privacyEnv) mail(t *testing.T, userID, subject string, from graphsim.Recipient, to ...graphsim.Recipient) string {
	t.Helper()
	if len(to) == 0 {
		to = []graphsim.Recipient{addr("Alice Adams", "alice@contoso.com")}
	}
	id, err := e.sim.AddMessage(e.tenant, userID, "inbox", graphsim.Message{Subject: subject, BodyPreview: subject + " preview",
		From: &from, ToRecipients: to, ReceivedDateTime: e.now.Add(-time.Hour)})
	require.NoError(t, err)
	return id
}

func (e *privacyEnv) event(t *testing.T, subject, sensitivity string, attendees ...graphsim.EmailAddress) {
	t.Helper()
	start := e.now.Add(24 * time.Hour)
	ev := graphsim.Event{Subject: subject, Sensitivity: sensitivity, Start: graphsim.LocalTime(start), End: graphsim.LocalTime(start.Add(time.Hour)),
		Organizer: addr("Alice Adams", "alice@contoso.com")}
	for _, a := range attendees {
		ev.Attendees = append(ev.Attendees, graphsim.Attendee{Type: "required", EmailAddress: a, Status: graphsim.ResponseStatus{Response: "accepted"}})
	}
	_, err := e.sim.AddEvent(e.tenant, e.alice, ev)
	require.NoError(t, err)
}

func (e *privacyEnv) sync(t *testing.T, users ...string) {
	t.Helper()
	for _, u := range users {
		require.NoError(t, e.syncer.SyncMailbox(t.Context(), e.org, e.tenant, u))
	}
}

// everything is every document of every collection but the policy itself (which holds the
// admin's list of excluded addresses and domains, by design), as text.
func (e *privacyEnv) everything(t *testing.T) string {
	t.Helper()
	all, err := e.st.Everything(t.Context())
	require.NoError(t, err)
	var b strings.Builder
	for coll, docs := range all {
		if coll == "privacyPolicies" {
			continue
		}
		for _, d := range docs {
			b.WriteString(coll + ": " + d + "\n")
		}
	}
	return b.String()
}

func ptr[T any](v T) *T { return &v }

// With every rule on, a burst of mail, meetings and contacts that each match one rule leaves no
// trace of them in any collection or in the log; what matches no rule is captured as before.
func TestEveryCaptureRuleKeepsItsItemsOutOfEveryCollectionAndTheLog(t *testing.T) {
	t.Parallel()
	e := newPrivacyEnv(t)
	ctx := t.Context()
	_, err := e.pol.UpdateCapture(ctx, auth.CommandLine(e.org), privacy.CaptureChange{
		ExcludedAddresses: ptr([]string{"ceo@fabrikam.com"}), ExcludedDomains: ptr([]string{"lawfirm.example"}),
		ExcludeInternal: ptr(true), ExcludedSensitivities: ptr([]string{"personal", "private", "confidential"}), ExcludeAutomated: ptr(true),
		BulkRecipients: ptr(20), ExcludePrivateMeetings: ptr(true), ExcludeSoloMeetings: ptr(true)})
	require.NoError(t, err)
	_, err = e.pol.SetOptOut(ctx, auth.CommandLine(e.org), e.bob, true)
	require.NoError(t, err)

	e.mail(t, e.alice, "Leak-address", addr("The CEO", "ceo@fabrikam.com"))
	e.mail(t, e.alice, "Leak-subdomain", addr("Counsel", "counsel@eu.lawfirm.example"))
	e.mail(t, e.alice, "Leak-internal", addr("Bob Brown", "bob@contoso.com"))
	e.mail(t, e.alice, "Leak-automated", addr("Billing", "no-reply+invoices@vendor.example"))
	e.mail(t, e.alice, "Leak-postmaster", addr("Mail Delivery System", "postmaster@vendor.example"))
	var many []graphsim.Recipient
	for i := range 25 {
		many = append(many, addr("", fmt.Sprintf("list%d@fabrikam.com", i)))
	}
	e.mail(t, e.alice, "Leak-bulk", carol, many...)
	e.mail(t, e.alice, "Kept-email", carol)
	e.mail(t, e.bob, "Leak-opt-out", carol, addr("Bob Brown", "bob@contoso.com"))
	e.event(t, "Leak-private", "private", carol.EmailAddress)
	e.event(t, "Leak-personal", "personal", carol.EmailAddress)
	e.event(t, "Leak-confidential", "confidential", carol.EmailAddress)
	e.event(t, "Leak-solo", "normal")
	e.event(t, "Leak-address-meeting", "normal", graphsim.EmailAddress{Name: "The CEO", Address: "CEO@Fabrikam.com"})
	e.event(t, "Leak-internal-meeting", "normal", graphsim.EmailAddress{Name: "Bob Brown", Address: "bob@contoso.com"})
	e.event(t, "Kept-meeting", "normal", carol.EmailAddress)
	_, err = e.sim.AddContact(e.tenant, e.alice, graphsim.Contact{DisplayName: "Leak-contact", EmailAddresses: []graphsim.EmailAddress{{Address: "ceo@fabrikam.com"}}})
	require.NoError(t, err)
	_, err = e.sim.AddContact(e.tenant, e.alice, graphsim.Contact{DisplayName: "Kept-contact", EmailAddresses: []graphsim.EmailAddress{carol.EmailAddress}})
	require.NoError(t, err)

	e.sync(t, e.alice, e.bob)

	all := e.everything(t)
	for _, leak := range []string{"Leak", "ceo@fabrikam.com", "lawfirm.example", "no-reply", "postmaster@", "list3@"} {
		require.NotContains(t, strings.ToLower(all), strings.ToLower(leak), "a collection names an excluded item")
		require.NotContains(t, strings.ToLower(e.log.String()), strings.ToLower(leak), "the log names an excluded item")
	}
	for _, kept := range []string{"Kept-email", "Kept-email preview", "Kept-meeting", "Kept-contact"} {
		require.Contains(t, all, kept, "what no rule excludes is captured as before")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	require.Equal(t, map[string]int{"address": 3, "domain": 1, "internal": 2, "automated": 2, "bulk": 1,
		"sensitivity": 3, "single_attendee": 1}, e.excluded,
		"each exclusion counted by its rule (private meetings fall to the sensitivity rule first; Bob's opted-out mailbox is not read at all)")
}

// Metadata only keeps participants and times, never a subject or a preview; a mailbox's own
// setting overrides the organisation's.
func TestMetadataOnlyKeepsNoSubjectOrPreview(t *testing.T) {
	t.Parallel()
	e := newPrivacyEnv(t)
	ctx := t.Context()
	_, err := e.pol.UpdateCapture(ctx, auth.CommandLine(e.org), privacy.CaptureChange{MetadataOnly: ptr(true)})
	require.NoError(t, err)
	_, err = e.pol.SetMailboxMetadataOnly(ctx, auth.CommandLine(e.org), e.bob, ptr(false))
	require.NoError(t, err)
	e.mail(t, e.alice, "Secret-terms", carol)
	e.mail(t, e.bob, "Bobs-terms", carol, addr("Bob Brown", "bob@contoso.com"))
	e.sync(t, e.alice, e.bob)
	all := e.everything(t)
	require.NotContains(t, all, "Secret-terms")
	as, err := e.st.Org(e.org).LiveActivities(ctx, e.alice)
	require.NoError(t, err)
	require.Len(t, as, 1)
	require.Equal(t, "carol@fabrikam.com", as[0].Participants[0].Address, "participants kept")
	require.False(t, as[0].OccurredAt.IsZero(), "times kept")
	require.Contains(t, all, "Bobs-terms preview", "Bob's mailbox overrides the organization's setting")
}

// pausingGraph holds a round before its second page of mail until the test lets it go on.
type pausingGraph struct {
	deltasync.Graph
	calls  atomic.Int32
	paused chan struct{}
	resume chan struct{}
}

func (g *pausingGraph) MessagesPage(ctx context.Context, tenantID, link string) (deltasync.Page[deltasync.Message], error) {
	if g.calls.Add(1) == 2 {
		close(g.paused)
		<-g.resume
	}
	return g.Graph.MessagesPage(ctx, tenantID, link)
}

// A rule changed by another process while a backfill runs applies from the backfill's next page.
func TestARuleChangedDuringABackfillAppliesFromTheNextPage(t *testing.T) {
	t.Parallel()
	e := newPrivacyEnv(t)
	for i := range 250 { // three pages of 100
		e.mail(t, e.alice, fmt.Sprintf("Pricing %03d", i), carol)
	}
	g := &pausingGraph{Graph: e.mc, paused: make(chan struct{}), resume: make(chan struct{})}
	here := privacy.New(e.st, privacy.Options{Now: func() time.Time { return e.now }})
	s := deltasync.New(e.st, g, deltasync.Options{Now: func() time.Time { return e.now }, Policy: here, MailFolders: []string{"inbox"}})
	done := make(chan error, 1)
	go func() { done <- s.SyncMailbox(context.Background(), e.org, e.tenant, e.alice) }()
	<-g.paused                                    // the first page is written
	other := privacy.New(e.st, privacy.Options{}) // another process's service
	_, err := other.UpdateCapture(t.Context(), auth.CommandLine(e.org), privacy.CaptureChange{ExcludedDomains: ptr([]string{"fabrikam.com"})})
	require.NoError(t, err)
	close(g.resume)
	require.NoError(t, <-done)
	as, err := e.st.Org(e.org).LiveActivities(t.Context(), e.alice)
	require.NoError(t, err)
	require.Len(t, as, 100, "the page read before the change is stored; none of the pages after it")
}

// Erasure removes everything that names the address; a new message from it, an edit of an old
// one and a full resync bring nothing back. Erasing a mailbox owner's address erases the mailbox.
func TestErasureRemovesAPersonAndNothingCapturesThemAgain(t *testing.T) {
	t.Parallel()
	e := newPrivacyEnv(t)
	ctx := t.Context()
	old := e.mail(t, e.alice, "Carol-1", carol)
	e.mail(t, e.alice, "Carol-2", addr("Dave", "dave@fabrikam.com"), carol, addr("Alice Adams", "alice@contoso.com"))
	e.mail(t, e.alice, "Dave-only", addr("Dave", "dave@fabrikam.com"))
	e.event(t, "Carol-meeting", "normal", carol.EmailAddress)
	_, err := e.sim.AddContact(e.tenant, e.alice, graphsim.Contact{DisplayName: "Carol-contact", EmailAddresses: []graphsim.EmailAddress{carol.EmailAddress}})
	require.NoError(t, err)
	e.mail(t, e.bob, "Bob-mail", addr("Dave", "dave@fabrikam.com"), addr("Bob Brown", "bob@contoso.com"))
	e.sync(t, e.alice, e.bob)
	require.Contains(t, e.everything(t), "carol@fabrikam.com")

	er, err := e.pol.Erase(ctx, auth.CommandLine(e.org), " Carol@Fabrikam.com ", false)
	require.NoError(t, err)
	require.Equal(t, privacy.Erasure{Activities: 3, Contacts: 1}, er)
	all := e.everything(t)
	require.NotContains(t, strings.ToLower(all), "carol", "nothing names the address, the change log included")
	require.Contains(t, all, "Dave-only")
	audit := strings.ToLower(all[strings.Index(all, "audit: "):])
	require.NotContains(t, audit, "carol", "the audit entry does not name the erased address")

	e.mail(t, e.alice, "Carol-3", carol)
	require.NoError(t, e.sim.UpdateMessage(e.tenant, e.alice, old, func(m *graphsim.Message) { m.Subject = "Carol-1 edited" }))
	e.sync(t, e.alice)
	require.NoError(t, e.sim.ResetDelta(e.tenant, e.alice, "messages"))
	e.sync(t, e.alice)
	require.NotContains(t, strings.ToLower(e.everything(t)), "carol", "a new message, an edit and a full resync bring nothing back")
	require.Contains(t, e.everything(t), "Dave-only", "a full resync still captures the rest")

	er, err = e.pol.Erase(ctx, auth.CommandLine(e.org), "bob@contoso.com", false)
	require.NoError(t, err)
	require.Equal(t, e.bob, er.Mailbox)
	e.mail(t, e.bob, "Bob-mail-2", addr("Dave", "dave@fabrikam.com"), addr("Bob Brown", "bob@contoso.com"))
	e.sync(t, e.bob)
	as, err := e.st.Org(e.org).LiveActivities(ctx, e.bob)
	require.NoError(t, err)
	require.Empty(t, as, "the owner's mailbox is erased and not captured again")
}

// An erasure above the guard's count changes nothing until confirmed.
func TestALargeErasureAsksForConfirmation(t *testing.T) {
	t.Parallel()
	e := newPrivacyEnv(t)
	pol := privacy.New(e.st, privacy.Options{ConfirmAbove: 2})
	for i := range 3 {
		e.mail(t, e.alice, fmt.Sprintf("Carol-%d", i), carol)
	}
	e.sync(t, e.alice)
	er, err := pol.Erase(t.Context(), auth.CommandLine(e.org), "carol@fabrikam.com", false)
	require.NoError(t, err)
	require.True(t, er.NeedsConfirmation)
	require.EqualValues(t, 3, er.Activities)
	require.Contains(t, e.everything(t), "carol@fabrikam.com", "nothing changed")
	er, err = pol.Erase(t.Context(), auth.CommandLine(e.org), "carol@fabrikam.com", true)
	require.NoError(t, err)
	require.False(t, er.NeedsConfirmation)
	require.NotContains(t, e.everything(t), "carol@fabrikam.com")
	_, err = pol.Erase(t.Context(), auth.CommandLine(e.org), "not an address", true)
	require.ErrorContains(t, err, "is not an email address")
}

// Retention: with the clock moved, what is past its class's retention is gone (previews, then
// subjects and contacts, then whole activities), and nothing younger; what is already past it
// is never captured.
func TestRetentionRemovesExpiredDataAndNothingYounger(t *testing.T) {
	t.Parallel()
	e := newPrivacyEnv(t)
	ctx := t.Context()
	require.NoError(t, e.st.InsertOrganization(ctx, store.Organization{ID: e.org, Name: "Contoso", CreatedAt: e.now}))
	_, err := e.pol.UpdateRetention(ctx, auth.CommandLine(e.org), store.Retention{ActivityDays: 30, SubjectDays: 7, PreviewDays: 2, ContactDays: 10})
	require.NoError(t, err)
	e.mail(t, e.alice, "Recent-mail", carol)
	_, err = e.sim.AddMessage(e.tenant, e.alice, "inbox", graphsim.Message{Subject: "Old-mail", From: &carol,
		ToRecipients: []graphsim.Recipient{addr("Alice Adams", "alice@contoso.com")}, ReceivedDateTime: e.now.Add(-40 * 24 * time.Hour)})
	require.NoError(t, err)
	start := e.now.Add(60 * 24 * time.Hour)
	_, err = e.sim.AddEvent(e.tenant, e.alice, graphsim.Event{Subject: "Far-meeting", Start: graphsim.LocalTime(start), End: graphsim.LocalTime(start.Add(time.Hour)),
		Organizer: addr("Alice Adams", "alice@contoso.com"), Attendees: []graphsim.Attendee{{Type: "required", EmailAddress: carol.EmailAddress}}})
	require.NoError(t, err)
	_, err = e.sim.AddContact(e.tenant, e.alice, graphsim.Contact{DisplayName: "Carol-contact", EmailAddresses: []graphsim.EmailAddress{carol.EmailAddress}})
	require.NoError(t, err)
	e.sync(t, e.alice)
	all := e.everything(t)
	require.NotContains(t, all, "Old-mail", "past its retention already: never captured")
	require.Contains(t, all, "Recent-mail preview")

	step := func(days int) string {
		e.now = e.now.Add(time.Duration(days) * 24 * time.Hour)
		_, err := e.pol.EnforceRetention(ctx)
		require.NoError(t, err)
		return e.everything(t)
	}
	all = step(3)
	require.NotContains(t, all, "Recent-mail preview", "previews after 2 days, the change log's snapshots included")
	require.Contains(t, all, "Recent-mail")
	require.Contains(t, all, "Carol-contact")
	all = step(8)
	require.NotContains(t, all, "Recent-mail", "subjects after 7 days")
	require.NotContains(t, all, "Carol-contact", "contacts 10 days after their last change")
	require.Contains(t, all, "Far-meeting", "a meeting two months ahead keeps its subject")
	as, err := e.st.Org(e.org).LiveActivities(ctx, e.alice)
	require.NoError(t, err)
	require.Len(t, as, 2, "both activities still there, without their texts")
	step(20) // 31 days after the capture
	as, err = e.st.Org(e.org).LiveActivities(ctx, e.alice)
	require.NoError(t, err)
	require.Len(t, as, 1, "the mail is gone after 30 days; the meeting, still ahead, is not")
	require.Equal(t, "Far-meeting", as[0].Subject)
}

// An item stored before a rule that now excludes it leaves the store (with a DELETED change,
// its snapshots blanked) the next time a round reads it.
func TestAnItemStoredBeforeARuleLeavesWhenARoundReadsItAgain(t *testing.T) {
	t.Parallel()
	e := newPrivacyEnv(t)
	ctx := t.Context()
	id := e.mail(t, e.alice, "Board-pack", addr("Counsel", "counsel@lawfirm.example"))
	e.mail(t, e.alice, "Kept-email", carol)
	e.sync(t, e.alice)
	require.Contains(t, e.everything(t), "Board-pack")
	_, err := e.pol.UpdateCapture(ctx, auth.CommandLine(e.org), privacy.CaptureChange{ExcludedDomains: ptr([]string{"lawfirm.example"})})
	require.NoError(t, err)
	require.NoError(t, e.sim.UpdateMessage(e.tenant, e.alice, id, func(m *graphsim.Message) { m.Subject = "Board-pack v2" }))
	e.sync(t, e.alice)
	all := e.everything(t)
	require.NotContains(t, all, "Board-pack")
	require.Contains(t, all, "Kept-email")
	log, err := e.st.Org(e.org).ChangesAfter(ctx, 0, 100)
	require.NoError(t, err)
	require.Equal(t, string(deltasync.Deleted), log[len(log)-1].Type, "subscribers and partners are told it left")
}

// A message's sensitivity (PidTagSensitivity, read through $expand on delta as message-delta.md
// documents) leaves personal, private and confidential mail out. Where delta with $expand
// answers 500, as field reports have it, the round goes on without it: mail is captured, its
// sensitivity unknown.
func TestMessageSensitivityWhereGraphAnswersItAndWhereItFails(t *testing.T) {
	t.Parallel()
	for _, fails := range []bool{false, true} {
		e := &privacyEnv{env: newEnv(t, graphsim.Options{DeltaExpandFails: fails}), log: &syncBuffer{}, excluded: map[string]int{}}
		e.pol = privacy.New(e.st, privacy.Options{Now: func() time.Time { return e.now }})
		e.syncer = deltasync.New(e.st, e.mc, deltasync.Options{Now: func() time.Time { return e.now }, Policy: e.pol})
		_, err := e.pol.UpdateCapture(t.Context(), auth.CommandLine(e.org), privacy.CaptureChange{ExcludedSensitivities: ptr([]string{"personal", "private", "confidential"})})
		require.NoError(t, err)
		for _, m := range []struct{ subject, sensitivity string }{{"Offer", ""}, {"Doctor", "personal"}, {"Salary", "private"}, {"Merger", "confidential"}} {
			_, err := e.sim.AddMessage(e.tenant, e.alice, "inbox", graphsim.Message{Subject: m.subject, Sensitivity: m.sensitivity, From: &carol,
				ToRecipients: []graphsim.Recipient{addr("Alice Adams", "alice@contoso.com")}, ReceivedDateTime: e.now.Add(-time.Hour)})
			require.NoError(t, err)
		}
		e.sync(t, e.alice)
		all := e.everything(t)
		require.Contains(t, all, "Offer")
		if fails {
			require.Contains(t, all, "Merger", "the sensitivity is not known: captured as before")
			continue
		}
		for _, s := range []string{"Doctor", "Salary", "Merger"} {
			require.NotContains(t, all, s)
		}
	}
}

// Nothing of an opted-out mailbox is read from Graph, let alone stored; withdrawn, it syncs again.
func TestAnOptedOutMailboxIsNotRead(t *testing.T) {
	t.Parallel()
	e := newPrivacyEnv(t)
	ctx := t.Context()
	e.mail(t, e.bob, "Bobs-mail", carol, addr("Bob Brown", "bob@contoso.com"))
	_, err := e.pol.SetOptOut(ctx, auth.CommandLine(e.org), e.bob, true)
	require.NoError(t, err)
	reads := func() int {
		n := 0
		for _, r := range e.sim.Requests() {
			if strings.Contains(r.Path, e.bob) {
				n++
			}
		}
		return n
	}
	e.sync(t, e.bob)
	require.Zero(t, reads(), "no Graph request for an opted-out mailbox")
	_, err = e.pol.SetOptOut(ctx, auth.CommandLine(e.org), e.bob, false)
	require.NoError(t, err)
	e.sync(t, e.bob)
	require.Positive(t, reads())
	require.Contains(t, e.everything(t), "Bobs-mail")
}

// A domain the tenant gains (a colleague's address at it, found by discovery) counts as the
// tenant's within a minute: mail from that colleague is internal, which the policy excludes.
// The domains used to be read again hourly: for that hour such mail was captured as inbound.
func TestMailFromAColleagueAtANewDomainIsInternalWithinAMinute(t *testing.T) {
	t.Parallel()
	e := newPrivacyEnv(t)
	ctx := t.Context()
	_, err := e.pol.UpdateCapture(ctx, auth.CommandLine(e.org), privacy.CaptureChange{ExcludeInternal: ptr(true)})
	require.NoError(t, err)
	e.mail(t, e.alice, "Kept-before", carol)
	e.sync(t, e.alice) // the tenant's domains as they are: contoso.com

	dave, _ := e.sim.AddUser(e.tenant, graphsim.UserSpec{DisplayName: "Dave Dunn", UPN: "dave@northwind.example"})
	require.NoError(t, e.st.Org(e.org).UpsertDirectoryUsers(ctx, e.tenant, []store.Mailbox{
		{UserID: dave, DisplayName: "Dave Dunn", UserPrincipalName: "dave@northwind.example", Mail: "dave@northwind.example", AccountEnabled: true},
	}, e.now))
	e.mail(t, e.alice, "Leak-new-domain", addr("Dave Dunn", "dave@northwind.example"))
	e.mail(t, e.alice, "Kept-after", carol)
	e.now = e.now.Add(time.Minute)
	e.sync(t, e.alice)

	all := e.everything(t)
	require.NotContains(t, all, "Leak-new-domain", "mail between the tenant's own people is internal, whatever their domain")
	require.Contains(t, all, "Kept-before")
	require.Contains(t, all, "Kept-after")
}

// countingPolicy counts the reads of the capture rules.
type countingPolicy struct {
	deltasync.Policy
	reads atomic.Int64
}

func (p *countingPolicy) Rules(ctx context.Context, orgID string) (*privacy.Rules, error) {
	p.reads.Add(1)
	return p.Policy.Rules(ctx, orgID)
}

// A mailbox's sync reads the capture rules (a read of the policy's version in the store) once as
// it begins and once for each page it screens, so that a change applies from the next page; a
// full round notes the version the sync began with. It read them again as each scope's round
// began: 9 reads for 4 scopes of one page each, 5 now.
func TestASyncReadsTheCaptureRulesOnceAndOnceAPage(t *testing.T) {
	t.Parallel()
	e := newPrivacyEnv(t)
	e.mail(t, e.alice, "Kept", carol)
	pol := &countingPolicy{Policy: e.pol}
	syncer := deltasync.New(e.st, e.mc, deltasync.Options{Now: func() time.Time { return e.now }, Policy: pol})
	require.NoError(t, syncer.SyncMailbox(t.Context(), e.org, e.tenant, e.alice))
	pages := 0
	for _, r := range e.sim.Requests() {
		if r.UserID == e.alice && strings.Contains(r.Path, "/delta") {
			pages++
		}
	}
	require.Positive(t, pages)
	require.Equal(t, int64(1+pages), pol.reads.Load(), "reads of the rules for %d pages", pages)
	require.Contains(t, e.everything(t), "Kept")
}
