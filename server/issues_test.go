package server

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/teamaccess/teamaccess/access"
	"github.com/teamaccess/teamaccess/activities"
	"github.com/teamaccess/teamaccess/attention"
	"github.com/teamaccess/teamaccess/auth"
	"github.com/teamaccess/teamaccess/feed"
	"github.com/teamaccess/teamaccess/graphsim"
	"github.com/teamaccess/teamaccess/mailboxes"
	"github.com/teamaccess/teamaccess/store"
)

func kinds(t *testing.T, att *attention.Service, org string) map[string]attention.Issue {
	t.Helper()
	is, err := att.Issues(t.Context(), org)
	require.NoError(t, err)
	out := map[string]attention.Issue{}
	for _, i := range is {
		out[i.Kind+" "+i.Mailbox] = i
	}
	return out
}

// The issues an admin is shown come and go with what they describe: a mailbox whose syncs fail
// (a graphsim fault) is listed with Microsoft's words and leaves once its sync succeeds; a
// mailbox an access policy newly leaves out is listed; a revoked consent comes first.
func TestIssuesFollowWhatTheyDescribe(t *testing.T) {
	t.Parallel()
	e := newSyncEnv(t)
	ctx := t.Context()
	require.NoError(t, e.st.Org(e.org).SaveTeamAccess(ctx, store.TeamAccess{OrgID: e.org, Status: "ACTIVE", TenantID: e.tenant, UpdatedAt: e.now}))
	att := attention.New(e.st, func() time.Time { return e.now })
	s := e.syncer(e.mc)
	require.NoError(t, s.SyncMailbox(ctx, e.org, e.tenant, e.alice))
	require.NoError(t, s.SyncMailbox(ctx, e.org, e.tenant, e.bob))
	require.Empty(t, kinds(t, att, e.org), "all is well")
	changed, err := att.Changed(ctx, []string{e.org})
	require.NoError(t, err)
	require.Empty(t, changed, "no issues, nothing to publish")

	e.sim.InjectFault(graphsim.Fault{UserID: e.alice, Status: 403, Count: 1000})
	require.Error(t, s.SyncMailbox(ctx, e.org, e.tenant, e.alice))
	got := kinds(t, att, e.org)
	require.Contains(t, got, attention.SyncFailing+" "+e.alice)
	require.Contains(t, got[attention.SyncFailing+" "+e.alice].Message, "Alice Adams")
	require.Contains(t, got[attention.SyncFailing+" "+e.alice].Message, "Microsoft said: ")
	changed, err = att.Changed(ctx, []string{e.org})
	require.NoError(t, err)
	require.Equal(t, []string{e.org}, changed, "the new issue is published")

	e.sim.ClearFaults()
	require.NoError(t, s.SyncMailbox(ctx, e.org, e.tenant, e.alice))
	require.Empty(t, kinds(t, att, e.org), "it leaves once the sync succeeds")
	changed, err = att.Changed(ctx, []string{e.org})
	require.NoError(t, err)
	require.Equal(t, []string{e.org}, changed, "and its leaving too")

	// An application access policy now leaves Bob out: the probe sees it, and so does the admin.
	// (A mailbox blocked since teamaccess first probed it is no news: the coverage table says so.)
	mbx := mailboxes.New(e.st, e.mc, auth.NewDirectory(e.st), mailboxes.Options{Now: func() time.Time { return e.now }})
	both := []string{"mbx_" + e.alice, "mbx_" + e.bob}
	_, err = mbx.Recheck(ctx, e.org, e.tenant, both)
	require.NoError(t, err)
	require.Empty(t, kinds(t, att, e.org))
	require.NoError(t, e.sim.SetAccessPolicy(e.tenant, syncApp, []string{e.alice}))
	e.sim.Advance(31 * time.Minute) // the policy applies after 30 minutes
	_, err = mbx.Recheck(ctx, e.org, e.tenant, both)
	require.NoError(t, err)
	got = kinds(t, att, e.org)
	require.Contains(t, got, attention.MailboxBlocked+" "+e.bob)
	require.Contains(t, got[attention.MailboxBlocked+" "+e.bob].Message, "Bob Brown")
	require.NotContains(t, got, attention.MailboxBlocked+" "+e.alice)

	require.NoError(t, e.st.Org(e.org).SaveTeamAccess(ctx, store.TeamAccess{OrgID: e.org, Status: "REVOKED", TenantID: e.tenant, UpdatedAt: e.now,
		LastError: &store.Problem{Code: "AADSTS7000112", Message: "Application is disabled.", At: e.now}}))
	is, err := att.Issues(ctx, e.org)
	require.NoError(t, err)
	require.Equal(t, attention.ConsentRevoked, is[0].Kind, "the most severe first")
	require.Contains(t, is[0].Message, "Application is disabled.")
}

// A mailbox an access policy newly leaves out reaches the admin's live page (teamAccessChanged)
// within a second or so of the probe that saw it, not at the next check of every followed
// organisation (every 30 s); a probe that changes nothing the admin is told of publishes nothing.
func TestNewlyBlockedMailboxIsPublishedAtOnce(t *testing.T) {
	t.Parallel()
	e := newSyncEnv(t)
	ctx := t.Context()
	require.NoError(t, e.st.Org(e.org).SaveTeamAccess(ctx, store.TeamAccess{OrgID: e.org, Status: "ACTIVE", TenantID: e.tenant, UpdatedAt: e.now}))
	changes := feed.New[access.TeamAccess](8)
	w := newIssueWatch(attention.New(e.st, func() time.Time { return e.now }),
		func(_ context.Context, org string) (access.TeamAccess, error) {
			return access.TeamAccess{OrgID: org, Status: "ACTIVE"}, nil
		},
		changes, slog.New(slog.DiscardHandler))
	go w.Run(ctx)
	live := changes.Subscribe(ctx, e.org) // the admin's page
	log := slog.New(slog.DiscardHandler)
	mbx := mailboxes.New(e.st, e.mc, auth.NewDirectory(e.st), mailboxes.Options{Now: func() time.Time { return e.now },
		Publish: publishMailbox(feed.New[mailboxes.Mailbox](8), e.st, activities.NewHub(e.st, activities.HubOptions{Log: log}), log, "", w.Poke)})
	both := []string{"mbx_" + e.alice, "mbx_" + e.bob}
	_, err := mbx.Recheck(ctx, e.org, e.tenant, both) // both readable: no issue
	require.NoError(t, err)
	select {
	case ta := <-live:
		t.Fatalf("published with no issue to tell: %+v", ta)
	case <-time.After(3 * issuesSettle):
	}

	require.NoError(t, e.sim.SetAccessPolicy(e.tenant, syncApp, []string{e.alice}))
	e.sim.Advance(31 * time.Minute) // the policy applies after 30 minutes
	probed := time.Now()
	_, err = mbx.Recheck(ctx, e.org, e.tenant, both)
	require.NoError(t, err)
	select {
	case ta := <-live:
		require.Equal(t, e.org, ta.OrgID)
		t.Logf("published %v after the probe", time.Since(probed).Round(time.Millisecond))
	case <-time.After(10 * time.Second):
		t.Fatal("the newly blocked mailbox was not published within 10 s of the probe")
	}
}

// While mailboxes keep changing, a check of the issues that takes longer than the settling wait
// leaves at least as long again before the next: the checks take at most about half the time.
func TestIssueChecksTakeAtMostHalfTheTimeWhileMailboxesChurn(t *testing.T) {
	t.Parallel()
	changes := feed.New[access.TeamAccess](8)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	_ = changes.Subscribe(ctx, "org") // an admin's page
	w := newIssueWatch(attention.New(nil, nil), nil, changes, slog.New(slog.DiscardHandler))
	const check = 2 * issuesSettle
	var mu sync.Mutex
	var starts []time.Time
	w.changed = func(context.Context, []string) ([]string, error) {
		mu.Lock()
		starts = append(starts, time.Now())
		mu.Unlock()
		time.Sleep(check) // a slow store
		return nil, nil
	}
	go w.Run(ctx)
	for start := time.Now(); time.Since(start) < 10*check; { // bounded: 10 s of pokes, one every 50 ms
		w.Poke("org")
		time.Sleep(50 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	require.GreaterOrEqual(t, len(starts), 3)
	gap := starts[len(starts)-1].Sub(starts[0]) / time.Duration(len(starts)-1)
	t.Logf("%d checks of %v, one every %v", len(starts), check, gap.Round(time.Millisecond))
	// Before: a check every issuesSettle plus the check itself (1.5 checks' time).
	require.Greater(t, gap, check*18/10, "a check of %v every %v", check, gap)
}
