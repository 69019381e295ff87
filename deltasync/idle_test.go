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
	org := e.st.Org(e.org)
	require.NoError(t, org.SaveTeamAccess(ctx, store.TeamAccess{OrgID: e.org, Status: "ACTIVE", TenantID: e.tenant, UpdatedAt: e.now}))
	require.NoError(t, org.SaveMailboxAccess(ctx, []string{e.alice}, "ACCESSIBLE", "", "", e.now, e.now.Add(time.Hour), true, "UNKNOWN"))
	_, err := org.SetMailboxCapture(ctx, e.alice, true, e.now)
	require.NoError(t, err)
	e.meeting(t, "Kick-off", e.now.Add(24*time.Hour))
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
