package deltasync_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/teamaccess/teamaccess/deltasync"
	"github.com/teamaccess/teamaccess/graphsim"
)

// The calendar view's delta announces @removed for events that merely left the window and for
// events it never sent (concepts/delta-query-events.md: the round covers the window only).
// Only an activity that was stored gets a DELETED change; a removal of something never stored
// changes nothing a subscriber sees.
func TestRemovalsOfItemsNeverStoredPublishNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, graphsim.Options{})
	ctx := t.Context()
	inside := e.meeting(t, "Kick-off", e.now.Add(24*time.Hour))
	beyond := e.meeting(t, "Next year's offsite", e.now.Add(300*24*time.Hour)) // the window ends 180 days ahead
	var deleted []string
	s := deltasync.New(e.st, e.mc, deltasync.Options{Now: func() time.Time { return e.now }, Publish: func(_ string, c deltasync.Change) {
		if c.Type == deltasync.Deleted {
			deleted = append(deleted, c.Activity.GraphID)
		}
	}})
	require.NoError(t, s.SyncMailbox(ctx, e.org, e.tenant, e.alice))
	got := e.meetings(t)
	require.Len(t, got, 1)
	require.Equal(t, "Kick-off", got[inside].Subject)

	require.NoError(t, e.sim.DeleteEvent(e.tenant, e.alice, beyond))
	require.NoError(t, e.sim.UpdateEvent(e.tenant, e.alice, inside, func(ev *graphsim.Event) {
		ev.Start, ev.End = graphsim.LocalTime(e.now.Add(400*24*time.Hour)), graphsim.LocalTime(e.now.Add(400*24*time.Hour+time.Hour))
	}))
	require.NoError(t, s.SyncMailbox(ctx, e.org, e.tenant, e.alice))
	require.Equal(t, []string{inside}, deleted, "one DELETED, for the stored meeting that left the window; none for one never stored")
	require.Empty(t, e.meetings(t))
	log, err := e.st.Org(e.org).ChangesAfter(ctx, 0, 100)
	require.NoError(t, err)
	n := 0
	for _, c := range log {
		if c.Type == string(deltasync.Deleted) {
			n++
		}
	}
	require.Equal(t, 1, n, "the change log holds the same single deletion")
}
