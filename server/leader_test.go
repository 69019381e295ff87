package server

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/teamaccess/teamaccess/store"
)

// Two processes on one database: jobs on shared data run in one of them only, local jobs in
// both; when the leader stops, the other takes the jobs over.
func TestScheduledJobsRunInTheLeadingProcessOnly(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st, err := store.Open(ctx, store.Options{DataDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	defer st.Close(context.Background())
	other, err := store.Open(ctx, store.Options{URI: st.EmbeddedURI(), Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	defer other.Close(context.Background())

	type process struct {
		lead          *leader
		shared, local atomic.Int32
	}
	start := func(s *store.Store, owner string) (*process, func()) {
		p := &process{lead: &leader{lease: store.NewLease(s, leaderLease, owner, leaderFor), now: time.Now, log: slog.New(slog.DiscardHandler)}}
		sched, err := startScheduler(slog.New(slog.DiscardHandler), p.lead, []job{
			{name: "shared", every: 20 * time.Millisecond, run: func(context.Context) error { p.shared.Add(1); return nil }},
			{name: "local", every: 20 * time.Millisecond, run: func(context.Context) error { p.local.Add(1); return nil }, local: true},
		})
		require.NoError(t, err)
		return p, func() {
			require.NoError(t, sched.Shutdown())
			require.NoError(t, s.ReleaseLease(context.Background(), leaderLease, owner))
		}
	}
	a, stopA := start(st, "a")
	b, stopB := start(other, "b")
	stop := map[*process]func(){a: stopA, b: stopB}
	defer func() {
		for _, f := range stop {
			f()
		}
	}()
	require.Eventually(t, func() bool { return a.local.Load() > 5 && b.local.Load() > 5 }, 10*time.Second, 10*time.Millisecond,
		"local jobs run everywhere")
	require.Eventually(t, func() bool { return a.shared.Load()+b.shared.Load() > 5 }, 10*time.Second, 10*time.Millisecond)
	leaderP, follower := a, b
	if b.shared.Load() > 0 {
		leaderP, follower = b, a
	}
	require.Zero(t, follower.shared.Load(), "a shared job runs in one process")
	require.True(t, leaderP.lead.leading.Load())
	stop[leaderP]()
	delete(stop, leaderP)
	require.Eventually(t, func() bool { return follower.shared.Load() > 5 }, 10*time.Second, 10*time.Millisecond,
		"the other process takes the jobs over once the leader has stopped")
}
