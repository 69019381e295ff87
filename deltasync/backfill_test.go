package deltasync_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/teamaccess/teamaccess/deltasync"
	"github.com/teamaccess/teamaccess/graphsim"
)

// backfillMail gives alice n messages, the i-th received i hours before now (0 the newest).
func backfillMail(t *testing.T, e *env, n int) {
	for i := range n {
		_, err := e.sim.AddMessage(e.tenant, e.alice, "inbox", graphsim.Message{Subject: fmt.Sprintf("Pricing %03d", i),
			From: &graphsim.Recipient{EmailAddress: customer}, ReceivedDateTime: e.now.Add(-time.Duration(i) * time.Hour)})
		require.NoError(t, err)
	}
}

func subjects(t *testing.T, e *env) map[string]bool {
	as, err := e.st.Org(e.org).LiveActivities(t.Context(), e.alice)
	require.NoError(t, err)
	out := map[string]bool{}
	for _, a := range as {
		out[a.Subject] = true
	}
	return out
}

// A new mailbox's backfill reads its mail newest first, so its latest messages are queryable
// after the first page, and says how far it has come: items read, the time reached back, an
// estimate of the share done, then done.
func TestABackfillReadsNewestFirstAndSaysHowFarItHasCome(t *testing.T) {
	t.Parallel()
	e := newEnv(t, graphsim.Options{})
	backfillMail(t, e, 250) // three pages of 100, over 250 hours
	g := &pausingGraph{Graph: e.mc, paused: make(chan struct{}), resume: make(chan struct{})}
	s := deltasync.New(e.st, g, deltasync.Options{Now: func() time.Time { return e.now }, MailFolders: []string{"inbox"}, Backfill: 1000 * time.Hour})
	done := make(chan error, 1)
	go func() { done <- s.SyncScopes(context.Background(), e.org, e.tenant, e.alice, []string{"mail:inbox"}) }()
	<-g.paused // the first page is written
	got := subjects(t, e)
	require.Len(t, got, 100)
	for i := range 100 {
		require.True(t, got[fmt.Sprintf("Pricing %03d", i)], "the newest 100 first: Pricing %03d missing", i)
	}
	// Mid-round, the state is saved at most every checkpointEvery: the health reads what was.
	require.Eventually(t, func() bool {
		hs, err := s.Health(t.Context(), e.org, e.alice)
		return err == nil && len(hs) == 1 && hs[0].Backfill.ItemsRead == 100
	}, 5*time.Second, 10*time.Millisecond)
	hs, _ := s.Health(t.Context(), e.org, e.alice)
	b := hs[0].Backfill
	require.False(t, b.Complete)
	require.Equal(t, e.now.Add(-99*time.Hour).Truncate(time.Second), b.ReachedBack.Truncate(time.Second))
	require.InDelta(t, 0.099, *b.Done, 0.001, "99 of the 1,000 hours read back over")

	close(g.resume)
	require.NoError(t, <-done)
	require.Len(t, subjects(t, e), 250)
	hs, err := s.Health(t.Context(), e.org, e.alice)
	require.NoError(t, err)
	b = hs[0].Backfill
	require.True(t, b.Complete)
	require.EqualValues(t, 250, b.ItemsRead)
	require.Equal(t, 1.0, *b.Done)
	require.False(t, b.Capped)
}

// Graph ends a filtered delta's first round at 5,000 messages as if it were done (graphsim
// plays it with a cap of 120 here, the syncer told so): the backfill holds the newest, and the
// mailbox's health and the organization's summary say it was capped.
func TestABackfillGraphCappedSaysSo(t *testing.T) {
	t.Parallel()
	e := newEnv(t, graphsim.Options{FilteredDeltaCap: 120})
	backfillMail(t, e, 200)
	require.NoError(t, e.st.Org(e.org).SaveMailboxAccess(t.Context(), []string{e.alice}, "ACCESSIBLE", "", "", e.now, e.now.Add(time.Hour), true, "UNKNOWN"))
	s := deltasync.New(e.st, e.mc, deltasync.Options{Now: func() time.Time { return e.now }, MailFolders: []string{"inbox"},
		Backfill: 1000 * time.Hour, FilteredDeltaCap: 120})
	require.NoError(t, s.SyncScopes(t.Context(), e.org, e.tenant, e.alice, []string{"mail:inbox"}))
	got := subjects(t, e)
	require.Len(t, got, 120)
	require.True(t, got["Pricing 000"])
	require.True(t, got["Pricing 119"])
	require.False(t, got["Pricing 120"], "the oldest are what the cap leaves out")
	hs, err := s.Health(t.Context(), e.org, e.alice)
	require.NoError(t, err)
	require.True(t, hs[0].Backfill.Complete)
	require.True(t, hs[0].Backfill.Capped)
	sum, err := s.Backfill(t.Context(), e.org)
	require.NoError(t, err)
	require.Equal(t, deltasync.BackfillSummary{Scopes: 1, Complete: 1, Capped: 1, ItemsRead: 120, Done: sum.Done}, sum)
	require.Equal(t, 1.0, *sum.Done)
}
