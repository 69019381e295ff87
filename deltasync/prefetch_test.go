package deltasync_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/teamaccess/teamaccess/deltasync"
	"github.com/teamaccess/teamaccess/graphsim"
)

// While a scope's last page is being stored, the round's next scope's first page is already
// asked for: on a store several processes write, a page's writes (its change-log append above
// all) took longer than a Graph request, and the round waited for the two in turn (in the
// three-process backfill bench, 0.24 s on average between a mailbox's mail page and its
// calendar request, 0.03 s with one process).
func TestTheNextScopesPageIsAskedForWhileAPageIsStored(t *testing.T) {
	t.Parallel()
	e := newEnv(t, graphsim.Options{})
	e.meeting(t, "Kick-off", e.now.Add(24*time.Hour))
	_, err := e.sim.AddMessage(e.tenant, e.alice, "inbox", graphsim.Message{Subject: "Hello",
		ReceivedDateTime: e.now.Add(-time.Hour), From: &graphsim.Recipient{EmailAddress: customer}})
	require.NoError(t, err)
	deltas := func() int {
		n := 0
		for _, r := range e.sim.Requests() {
			if strings.HasSuffix(r.Path, "/delta") {
				n++
			}
		}
		return n
	}
	var during []int // delta requests made once the first page's changes were written
	s := deltasync.New(e.st, e.mc, deltasync.Options{Now: func() time.Time { return e.now }, Publish: func(_ string, c deltasync.Change) {
		if len(during) > 0 {
			return
		}
		for deadline := time.Now().Add(2 * time.Second); deltas() < 2 && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}
		during = append(during, deltas())
	}})
	require.NoError(t, s.SyncMailbox(t.Context(), e.org, e.tenant, e.alice))
	require.Equal(t, []int{2}, during, "the next scope's page asked for while the mail page was stored")
	require.Len(t, e.meetings(t), 1, "and stored in its turn")
	as, err := e.st.Org(e.org).LiveActivities(t.Context(), e.alice)
	require.NoError(t, err)
	require.Len(t, as, 2)
}
