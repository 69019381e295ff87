package partition_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/teamaccess/teamaccess/partition"
	"github.com/teamaccess/teamaccess/testenv"
)

// clock is the processes' shared clock, moved by the test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

const term = 15 * time.Second

// passes runs n passes of each table in turn.
func passes(t *testing.T, n int, tables ...*partition.Table) {
	t.Helper()
	for range n {
		for _, tb := range tables {
			require.NoError(t, tb.Pass(t.Context()))
		}
	}
}

// split checks that the tables hold every partition between them, none twice, each within
// 20% of an even share.
func split(t *testing.T, what string, tables ...*partition.Table) {
	t.Helper()
	owner := map[int]int{}
	even := float64(partition.Count) / float64(len(tables))
	for i, tb := range tables {
		held := tb.Held()
		require.InDelta(t, even, float64(len(held)), even*0.2, "%s: process %d holds %d of %d", what, i, len(held), partition.Count)
		for _, p := range held {
			prev, twice := owner[p]
			require.False(t, twice, "%s: partition %d held by processes %d and %d", what, p, prev, i)
			owner[p] = i
		}
	}
	require.Len(t, owner, partition.Count, "%s: every partition is held", what)
}

func TestPartitionsSplitEvenlyAndMoveWithTheProcesses(t *testing.T) {
	t.Parallel()
	st := testenv.Store(t)
	c := &clock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	table := func(name string) *partition.Table {
		return partition.New(st, partition.Options{Owner: name, Term: term, Every: term / 3, Now: c.now})
	}
	a, b, cc := table("a"), table("b"), table("c")
	passes(t, 3, a, b, cc)
	split(t, "three processes", a, b, cc)

	// c dies (no more passes, nothing handed over): nobody takes its partitions while its
	// leases last, and the others have all of them within a term and a pass.
	dead := cc.Held()
	for range 3 {
		c.add(term / 4)
		passes(t, 1, a, b)
		for _, p := range dead {
			_, ownedA := a.Owns(p)
			_, ownedB := b.Owns(p)
			require.False(t, ownedA || ownedB, "partition %d taken while the dead process's lease lasts", p)
		}
	}
	c.add(term/4 + time.Second) // past the lease's end
	passes(t, 2, a, b)
	split(t, "after one died", a, b)
	// Its clock had stopped acting on them before the others started.
	for _, p := range dead {
		_, ok := cc.Owns(p)
		require.False(t, ok, "the dead process still acts on partition %d", p)
	}

	// It comes back from the pause (a fresh process, say): it rejoins and the others make room.
	passes(t, 3, a, b, cc)
	split(t, "after it came back", a, b, cc)

	// b stops cleanly: it hands its partitions over, and they are taken at once.
	b.HandOver(t.Context())
	require.Empty(t, b.Held())
	passes(t, 2, a, cc)
	split(t, "after a clean stop", a, cc)
}

func TestPartitionsAreNotHandedOverUnderWorkAndFencesRise(t *testing.T) {
	t.Parallel()
	st := testenv.Store(t)
	c := &clock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	a := partition.New(st, partition.Options{Owner: "a", Term: term, Now: c.now})
	passes(t, 1, a)
	require.Len(t, a.Held(), partition.Count)
	p := partition.Of("org1", "mailbox1")
	fence, done, ok := a.Hold(p)
	require.True(t, ok)

	// Another process joins: a gives up half, but not the partition under work until it ends.
	b := partition.New(st, partition.Options{Owner: "b", Term: term, Now: c.now})
	passes(t, 2, b, a, b)
	_, ok = b.Owns(p)
	require.False(t, ok, "the partition under work stays with its holder")
	require.True(t, a.Still(p, fence))
	done()
	for range 4 {
		passes(t, 1, a, b)
	}
	split(t, "after the work ended", a, b)
	if fb, ok := b.Owns(p); ok {
		require.Greater(t, fb, fence, "a partition that changed hands has a higher fence")
		require.False(t, a.Still(p, fence))
	}

	// Its lease lapses unrenewed (a paused process): the next holder's fence is higher.
	fa := map[int]int64{}
	for _, q := range a.Held() {
		fa[q], _ = a.Owns(q)
	}
	c.add(term + time.Second)
	passes(t, 2, b)
	require.Len(t, b.Held(), partition.Count)
	for q, f := range fa {
		fb, ok := b.Owns(q)
		require.True(t, ok)
		require.Greater(t, fb, f, fmt.Sprintf("partition %d", q))
	}
	passes(t, 1, a)
	require.Empty(t, a.Held(), "the paused process finds its partitions taken")
}
