package deltasync_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/teamaccess/teamaccess/deltasync"
	"github.com/teamaccess/teamaccess/graphsim"
	"github.com/teamaccess/teamaccess/partition"
	"github.com/teamaccess/teamaccess/store"
)

// Two processes on one database split the mailboxes by partition: each one's scheduled sync
// reads its own mailboxes from Graph and not one of the other's.
func TestEachProcessSyncsTheMailboxesOfItsPartitions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, graphsim.Options{})
	ctx := t.Context()
	users := e.captured(t, 11)

	a := partition.New(e.st, partition.Options{Owner: "a"})
	b := partition.New(e.st, partition.Options{Owner: "b"})
	for range 3 {
		require.NoError(t, a.Pass(ctx))
		require.NoError(t, b.Pass(ctx))
	}
	mine := map[*partition.Table][]string{}
	for _, u := range users {
		switch {
		case a.Mailbox(e.org, u):
			mine[a] = append(mine[a], u)
		case b.Mailbox(e.org, u):
			mine[b] = append(mine[b], u)
		default:
			t.Fatalf("mailbox %s is in no process's partitions", u)
		}
	}
	require.NotEmpty(t, mine[a], "the 12 mailboxes fall in both processes' partitions")
	require.NotEmpty(t, mine[b])

	read := func() map[string]bool {
		out := map[string]bool{}
		for _, r := range e.sim.Requests() {
			if r.UserID != "" {
				out[r.UserID] = true
			}
		}
		return out
	}
	sa := deltasync.New(e.st, e.mc, deltasync.Options{Partitions: a, MailFolders: []string{"inbox"}})
	require.NoError(t, sa.SyncDue(ctx))
	got := read()
	for _, u := range mine[a] {
		require.True(t, got[u], "process a reads its mailbox %s", u)
	}
	for _, u := range mine[b] {
		require.False(t, got[u], "process a read process b's mailbox %s", u)
	}
	// A notification's round asked of the wrong process does nothing either.
	require.Error(t, sa.SyncScopes(ctx, e.org, e.tenant, mine[b][0], []string{"mail:inbox"}))
	require.False(t, read()[mine[b][0]])

	sb := deltasync.New(e.st, e.mc, deltasync.Options{Partitions: b, MailFolders: []string{"inbox"}})
	require.NoError(t, sb.SyncDue(ctx))
	got = read()
	for _, u := range users {
		require.True(t, got[u], "mailbox %s read by its process", u)
	}
}

// fixed is a process that believes it holds every partition under one fence: one whose pause
// outlived its lease without its knowing (its clock is wrong, say).
type fixed int64

func (f fixed) Mailbox(string, string) bool { return true }
func (f fixed) HoldMailbox(string, string) (int64, func(), bool) {
	return int64(f), func() {}, true
}
func (f fixed) StillMailbox(string, string, int64) bool { return true }

// The store refuses the delta position of a process that lost the mailbox's partition, even
// when the process itself believes it still holds it: the new holder's position stands.
func TestAProcessThatLostThePartitionCannotMoveTheMailboxsPosition(t *testing.T) {
	t.Parallel()
	e := newEnv(t, graphsim.Options{})
	ctx := t.Context()
	backfillMail(t, e, 3)
	old := deltasync.New(e.st, e.mc, deltasync.Options{Partitions: fixed(1), MailFolders: []string{"inbox"}})
	require.NoError(t, old.SyncMailbox(ctx, e.org, e.tenant, e.alice))
	backfillMail(t, e, 1)
	holder := deltasync.New(e.st, e.mc, deltasync.Options{Partitions: fixed(2), MailFolders: []string{"inbox"}})
	require.NoError(t, holder.SyncMailbox(ctx, e.org, e.tenant, e.alice))
	want, err := e.st.Org(e.org).DeltaState(ctx, e.alice, "mail:inbox")
	require.NoError(t, err)
	require.Equal(t, int64(2), want.Fence)

	backfillMail(t, e, 1)
	err = old.SyncMailbox(ctx, e.org, e.tenant, e.alice)
	require.ErrorIs(t, err, store.ErrFenced)
	got, err := e.st.Org(e.org).DeltaState(ctx, e.alice, "mail:inbox")
	require.NoError(t, err)
	require.Equal(t, want.Link, got.Link, "the new holder's position stands")
	require.Equal(t, want.UpdatedAt, got.UpdatedAt)
	require.NoError(t, holder.SyncMailbox(ctx, e.org, e.tenant, e.alice), "the holder goes on from its position")
}

// Under a bound on the rounds at once (2 places, 6 mailboxes of 250 messages, all captured at
// once), every mailbox gets its newest page before any mailbox's backfill reads a second page,
// and then every backfill goes on to its end.
func TestEveryMailboxGetsItsNewestPageBeforeAnyDeepBackfill(t *testing.T) {
	t.Parallel()
	e := newEnv(t, graphsim.Options{})
	ctx := t.Context()
	users := e.captured(t, 5)
	for _, u := range users {
		for i := range 250 {
			_, err := e.sim.AddMessage(e.tenant, u, "inbox", graphsim.Message{Subject: fmt.Sprintf("m%03d", i),
				From: &graphsim.Recipient{EmailAddress: customer}, ReceivedDateTime: e.now.Add(-time.Duration(i) * time.Hour)})
			require.NoError(t, err)
		}
	}
	e.sim.InjectFault(graphsim.Fault{Path: "/", Latency: 30 * time.Millisecond})

	s := deltasync.New(e.st, e.mc, deltasync.Options{Rounds: 2, MailFolders: []string{"inbox"}})
	done := make(chan struct{}, len(users))
	for _, u := range users {
		go func() { s.SyncNow(ctx, e.org, e.tenant, u); done <- struct{}{} }()
	}
	for range users {
		<-done
	}
	firsts, seconds := map[string]time.Time{}, map[string]time.Time{}
	for _, r := range e.sim.Requests() {
		if !strings.Contains(r.Path, "/mailFolders/") {
			continue
		}
		if strings.Contains(r.Query, "skiptoken") || strings.Contains(r.Query, "skipToken") {
			if _, ok := seconds[r.UserID]; !ok {
				seconds[r.UserID] = r.At
			}
		} else if _, ok := firsts[r.UserID]; !ok {
			firsts[r.UserID] = r.At
		}
	}
	require.Len(t, firsts, len(users), "every mailbox read its newest page")
	var lastFirst time.Time
	for _, at := range firsts {
		if at.After(lastFirst) {
			lastFirst = at
		}
	}
	for u, at := range seconds {
		require.False(t, at.Before(lastFirst), "mailbox %s read its second page before every mailbox had its first", u)
	}
	require.NotEmpty(t, seconds, "the backfills read on")
	for _, u := range users {
		require.Len(t, subjectsOf(t, e, u), 250, "mailbox %s backfilled: its backfill went on once it had a place again", u)
	}
}

func subjectsOf(t *testing.T, e *env, user string) map[string]bool {
	as, err := e.st.Org(e.org).LiveActivities(t.Context(), user)
	require.NoError(t, err)
	out := map[string]bool{}
	for _, a := range as {
		out[a.Subject] = true
	}
	return out
}

// captured adds n sellers to alice in the tenant, connects the organisation and captures every
// mailbox; it returns their user ids, alice's first.
func (e *env) captured(t *testing.T, n int) []string {
	ctx := t.Context()
	users := []string{e.alice}
	for i := range n {
		u, _ := e.sim.AddUser(e.tenant, graphsim.UserSpec{DisplayName: "Seller", UPN: fmt.Sprintf("seller%d@contoso.com", i)})
		users = append(users, u)
	}
	org := e.st.Org(e.org)
	require.NoError(t, org.SaveTeamAccess(ctx, store.TeamAccess{OrgID: e.org, Status: "ACTIVE", TenantID: e.tenant, UpdatedAt: e.now}))
	mbs := make([]store.Mailbox, len(users))
	for i, u := range users {
		mbs[i] = store.Mailbox{UserID: u, DisplayName: u, UserPrincipalName: u + "@x.com", AccountEnabled: true}
	}
	require.NoError(t, org.UpsertDirectoryUsers(ctx, e.tenant, mbs, e.now))
	require.NoError(t, org.SaveMailboxAccess(ctx, users, "ACCESSIBLE", "", "", e.now, e.now.Add(time.Hour), true, "UNKNOWN"))
	return users
}
