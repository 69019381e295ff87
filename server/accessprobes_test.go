package server

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/teamaccess/teamaccess/graphsim"
)

// A new tenant's mailboxes are probed 16 at a time: each probe asks about another mailbox,
// and Outlook's 4 concurrent requests are per app and mailbox (throttling-limits, "Outlook
// service limits"), which m365 keeps. At 4 at a time for the tenant, a 300-mailbox tenant
// took 12.5 s to probe at 150 ms a request before its last mailbox could start its backfill
// (the three-process bench's request log). No probe is throttled.
func TestATenantsMailboxesAreProbedSixteenAtOnce(t *testing.T) {
	t.Parallel()
	e := newHookEnv(t, 40, graphsim.Options{})
	e.sim.InjectFault(graphsim.Fault{Path: "/", Latency: 100 * time.Millisecond})
	svc := startService(t, e.dir, e.args()...)
	e.connect(t, svc.url)
	type span struct{ from, to time.Time }
	var probes []span
	for _, r := range e.sim.Requests() {
		if r.Method == "GET" && strings.HasSuffix(r.Path, "/mailFolders/inbox") {
			require.NotEqual(t, 429, r.Status, "a probe throttled: %+v", r)
			probes = append(probes, span{r.At, r.At.Add(r.Took)})
		}
	}
	require.Len(t, probes, len(e.users), "one probe a mailbox")
	most := 0
	for _, p := range probes {
		at := 0
		for _, q := range probes {
			if !q.from.After(p.from) && q.to.After(p.from) {
				at++
			}
		}
		most = max(most, at)
	}
	require.Greater(t, most, 8, "probes in flight at once, at most")
	require.LessOrEqual(t, most, 16, "probes in flight at once, at most")
}
