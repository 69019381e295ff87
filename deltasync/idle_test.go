package deltasync_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/teamaccess/teamaccess/deltasync"
	"github.com/teamaccess/teamaccess/graphsim"
	"github.com/teamaccess/teamaccess/store"
)

// An idle mailbox whose change-notification subscriptions are all healthy costs at most 100
// Graph requests a day (at every 5 minutes it cost 4 scopes x 288 rounds = 1,152); as soon as
// a subscription is missing or failing, its rounds come back to every 5 minutes.
func TestAnIdleCoveredMailboxCostsFewRequestsAndComesBackWhenASubscriptionFails(t *testing.T) {
	t.Parallel()
	e := newEnv(t, graphsim.Options{})
	ctx := t.Context()
	e.captureAlice(t)
	var covered atomic.Bool
	covered.Store(true)
	now := e.now
	s := deltasync.New(e.st, e.mc, deltasync.Options{Now: func() time.Time { return now },
		Covered: func(context.Context, string) (map[string]bool, error) {
			return map[string]bool{e.alice: covered.Load()}, nil
		}})
	deltas := func() int {
		n := 0
		for _, r := range e.sim.Requests() {
			if strings.Contains(r.Path, e.alice) && strings.Contains(r.Path, "delta") {
				n++
			}
		}
		return n
	}
	for range 24 * 60 { // a day, a minute at a time, as the scheduled job runs
		require.NoError(t, s.SyncDue(ctx))
		now = now.Add(time.Minute)
	}
	day := deltas()
	t.Logf("delta requests in a day for an idle, covered mailbox: %d", day)
	require.LessOrEqual(t, day, 100, "Graph requests in a day for an idle, covered mailbox")
	require.Positive(t, day)

	covered.Store(false) // a subscription is removed or failing
	before := deltas()
	require.NoError(t, s.SyncDue(ctx))
	require.Greater(t, deltas(), before, "a round at once")
	for range 60 {
		now = now.Add(time.Minute)
		require.NoError(t, s.SyncDue(ctx))
	}
	require.GreaterOrEqual(t, deltas()-before, 4*12, "then every 5 minutes again: 12 rounds an hour of its 4 scopes")
}

// A mailbox whose round failed (here Graph's 500; in a cluster, as often a database that
// refused a connection) is tried again within 30 s, and its first data comes then, not 5-10
// minutes later; while it keeps failing, each wait is twice the last, up to an hour (a
// mailbox that had once synced was brought back to its interval after that success, and so
// tried at every run of the job: 691 rounds in two hours).
func TestAFailedRoundIsTriedAgainWithinHalfAMinuteThenLessAndLessOften(t *testing.T) {
	t.Parallel()
	e := newEnv(t, graphsim.Options{})
	ctx := t.Context()
	e.captureAlice(t)
	now := e.now
	s := deltasync.New(e.st, e.mc, deltasync.Options{Now: func() time.Time { return now }})
	failed := func() int {
		n := 0
		for _, r := range e.sim.Requests() {
			if strings.Contains(r.Path, e.alice) && r.Status == 500 {
				n++
			}
		}
		return n
	}

	e.sim.InjectFault(graphsim.Fault{UserID: e.alice, Status: 500})
	require.Error(t, s.SyncDue(ctx), "the round met Graph's 500")
	require.Positive(t, failed())
	e.sim.ClearFaults()
	now = now.Add(30 * time.Second)
	require.NoError(t, s.SyncDue(ctx))
	require.Len(t, e.meetings(t), 1, "stored 30 s after the failed round")

	// Now it fails for good: two hours of the scheduled job, every 10 s; a round that failed
	// is a SyncDue that answers its error.
	e.sim.InjectFault(graphsim.Fault{UserID: e.alice, Status: 500})
	tries := 0
	for range 2 * 360 {
		now = now.Add(10 * time.Second)
		if err := s.SyncDue(ctx); err != nil {
			tries++
		}
	}
	t.Logf("rounds of a mailbox failing for two hours: %d", tries)
	require.GreaterOrEqual(t, tries, 5, "tried again and again")
	require.LessOrEqual(t, tries, 12, "less and less often: 15-30 s, 30-60 s, ... up to an hour")
}

// captureAlice connects the organisation and captures Alice's mailbox, which has one meeting.
func (e *env) captureAlice(t *testing.T) {
	ctx := t.Context()
	org := e.st.Org(e.org)
	require.NoError(t, org.SaveTeamAccess(ctx, store.TeamAccess{OrgID: e.org, Status: "ACTIVE", TenantID: e.tenant, UpdatedAt: e.now}))
	require.NoError(t, org.SaveMailboxAccess(ctx, []string{e.alice}, "ACCESSIBLE", "", "", e.now, e.now.Add(time.Hour), true, "UNKNOWN"))
	_, err := org.SetMailboxCapture(ctx, e.alice, true, e.now)
	require.NoError(t, err)
	e.meeting(t, "Kick-off", e.now.Add(24*time.Hour))
}
