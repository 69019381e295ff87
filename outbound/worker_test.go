package outbound

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/teamaccess/teamaccess/store"
)

// breakingExec's subscriptions end at once with an error; the n-th in lasts[n] of the clock.
type breakingExec struct {
	Executor
	clock *clock
	lasts map[int]time.Duration
	runs  int
}

func (b *breakingExec) Run(context.Context, string, string, map[string]any, string) (<-chan Event, func() error, error) {
	b.clock.advance(b.lasts[b.runs])
	b.runs++
	ch := make(chan Event)
	close(ch)
	return ch, func() error { return errors.New("cut") }, nil
}

type clock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// A subscription that keeps breaking is started again with growing waits; one that ran for a
// while before it broke starts the waits over.
func TestABrokenSubscriptionIsRestartedWithBackoffThatResetsAfterALongRun(t *testing.T) {
	t.Parallel()
	c := &clock{now: time.Unix(1e9, 0)}
	exec := &breakingExec{clock: c, lasts: map[int]time.Duration{5: 10 * time.Minute}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := New((*store.Store)(nil), exec, Options{Now: c.Now, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Sleep: func(_ context.Context, d time.Duration) bool {
			c.mu.Lock()
			c.sleeps = append(c.sleeps, d)
			n := len(c.sleeps)
			c.mu.Unlock()
			if n == 8 {
				cancel()
				return false
			}
			return true
		}})
	s.deliver(ctx, store.WebhookEndpoint{ID: "whe_x"})
	require.Len(t, c.sleeps, 8)
	for i := range 5 { // breaks in a row: waits of 1 s doubling, each half to all of it (jitter)
		require.GreaterOrEqual(t, c.sleeps[i], (time.Second<<i)/2, "wait %d", i)
		require.LessOrEqual(t, c.sleeps[i], time.Second<<i, "wait %d", i)
	}
	require.LessOrEqual(t, c.sleeps[5], time.Second, "after a ten-minute run the waits start over")
}
