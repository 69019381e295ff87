package store

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The polls of the connections (discovery twice a second, probes, rounds due, re-verification)
// see every connection another process writes at their next poll, and in between read no
// connection: one read of the connections' generation.
func TestConnectionPollsSeeAnotherProcesssWritesAndReadNoConnectionMeanwhile(t *testing.T) {
	t.Parallel()
	for _, pg := range []bool{false, true} {
		t.Run(fmt.Sprintf("postgresql=%v", pg), func(t *testing.T) {
			t.Parallel()
			var reads atomic.Int64 // queries of the teamAccess collection by the poller
			poller, writer := pollerAndWriter(t, pg, "connections", readsOf(teamAccessCollection, &reads))

			connected := func() map[string]string {
				t.Helper()
				tas, err := poller.ConnectedTeamAccess(t.Context())
				require.NoError(t, err)
				got := map[string]string{}
				for _, ta := range tas {
					got[ta.OrgID] = ta.Status
				}
				return got
			}
			require.Empty(t, connected(), "no connection yet")
			now := time.Now().UTC().Truncate(time.Millisecond)
			require.NoError(t, writer.Org("org_a").SaveTeamAccess(t.Context(), TeamAccess{Status: "ACTIVE", TenantID: "t-a", Granted: []string{"Mail.Read"}, UpdatedAt: now}))
			require.Equal(t, map[string]string{"org_a": "ACTIVE"}, connected(), "a consent another process took is seen at the next poll")

			before := reads.Load()
			for range 5 {
				require.Equal(t, map[string]string{"org_a": "ACTIVE"}, connected())
			}
			require.Equal(t, before, reads.Load(), "polls with no connection written meanwhile read no connection")

			tas, err := poller.ConnectedTeamAccess(t.Context())
			require.NoError(t, err)
			tas[0].Granted[0], tas[0].Status = "changed by the caller", "changed"
			again, err := poller.ConnectedTeamAccess(t.Context())
			require.NoError(t, err)
			require.Equal(t, []string{"Mail.Read"}, again[0].Granted, "what a caller does to its copy is not the next caller's")
			require.Equal(t, "ACTIVE", again[0].Status)

			require.NoError(t, writer.Org("org_b").SaveTeamAccess(t.Context(), TeamAccess{Status: "ACTIVE", TenantID: "t-b", UpdatedAt: now}))
			require.NoError(t, writer.Org("org_a").SaveTeamAccess(t.Context(), TeamAccess{Status: "REVOKED", TenantID: "t-a", UpdatedAt: now}))
			require.Equal(t, map[string]string{"org_a": "REVOKED", "org_b": "ACTIVE"}, connected(), "a second consent and a status change are seen")

			require.NoError(t, writer.Org("org_b").MarkPurging(t.Context(), now))
			tas, err = poller.ConnectedTeamAccess(t.Context())
			require.NoError(t, err)
			purging := map[string]bool{}
			for _, ta := range tas {
				purging[ta.OrgID] = ta.PurgingAt != nil
			}
			require.Equal(t, map[string]bool{"org_a": false, "org_b": true}, purging, "a purge's mark is seen")

			require.NoError(t, writer.Org("org_a").SaveTeamAccess(t.Context(), TeamAccess{Status: "NOT_CONFIGURED", UpdatedAt: now}))
			require.Equal(t, map[string]string{"org_b": "ACTIVE"}, connected(), "a disconnected organisation is no longer listed")
			require.Greater(t, reads.Load(), before, "the writes were read")
		})
	}
}
