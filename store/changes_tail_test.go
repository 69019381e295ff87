package store

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/event"
)

// logQueries counts the queries of the change log (finds of it other than by _id alone).
func logQueries() (*event.CommandMonitor, *atomic.Int64) {
	var n atomic.Int64
	return &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		if coll, _ := e.Command.Lookup(e.CommandName).StringValueOK(); e.CommandName == "find" && coll == changeCollection &&
			!strings.Contains(e.Command.Lookup("filter").String(), `"_id"`) {
			n.Add(1)
		}
	}}, &n
}

func mailChange(id, subject string) Change {
	return Change{Type: "CREATED", ActivityID: id, At: time.Now().UTC(),
		Activity: &Activity{ID: id, OrgID: "org_a", Subject: subject, OccurredAt: time.Now().UTC().Add(-time.Hour)}}
}

// A live feed on the embedded store over SQLite reads this process's new changes without a
// query of the log (which there decodes all of it: 1.5 s for 5,000 changes): after its first
// read, from the tail the store keeps in memory, checked against the head.
func TestLiveReadsOfOwnChangesNeedNoQueryOfTheLog(t *testing.T) {
	t.Parallel()
	mon, queries := logQueries()
	s, err := Open(t.Context(), Options{DataDir: t.TempDir(), Logger: quiet(), Monitor: mon})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	o, ctx := s.Org("org_a"), t.Context()
	require.NoError(t, o.AppendChanges(ctx, []Change{mailChange("a1", "one"), mailChange("a2", "two")}))
	cs, err := o.ChangesAfter(ctx, 0, 500)
	require.NoError(t, err)
	require.Len(t, cs, 2)
	first := queries.Load()
	pos := int64(2)
	for i := range 30 {
		require.NoError(t, o.AppendChanges(ctx, []Change{mailChange(fmt.Sprintf("b%d", i), fmt.Sprintf("mail %d", i))}))
		cs, err := o.ChangesAfter(ctx, pos, 500)
		require.NoError(t, err)
		require.Len(t, cs, 1)
		require.Equal(t, pos+1, cs[0].Seq)
		require.Equal(t, fmt.Sprintf("mail %d", i), cs[0].Activity.Subject)
		pos = cs[0].Seq
		cs[0].Activity.Subject = "changed by a reader" // readers share nothing with the tail
	}
	cs, err = o.ChangesAfter(ctx, 2, 10)
	require.NoError(t, err)
	require.Len(t, cs, 10, "the limit holds")
	require.Equal(t, "mail 0", cs[0].Activity.Subject)
	require.Equal(t, first, queries.Load(), "queries of the log after the first read")
}

// The tail holds the newest 2,000 changes: a feed further behind reads them from the log, all
// of them, in order; one within them needs no query.
func TestAFeedBehindTheTailReadsTheLog(t *testing.T) {
	t.Parallel()
	mon, queries := logQueries()
	s, err := Open(t.Context(), Options{DataDir: t.TempDir(), Logger: quiet(), Monitor: mon})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	o, ctx := s.Org("org_a"), t.Context()
	_, err = o.ChangesAfter(ctx, 0, 500) // an empty log: the tail starts at 0
	require.NoError(t, err)
	const n = 2600
	for i := 0; i < n; i += 100 {
		batch := make([]Change, 100)
		for j := range batch {
			batch[j] = Change{Type: "CREATED", ActivityID: fmt.Sprintf("a%d", i+j), At: time.Now().UTC()}
		}
		require.NoError(t, o.AppendChanges(ctx, batch))
	}
	before := queries.Load()
	cs, err := o.ChangesAfter(ctx, n-tailMax, 5000)
	require.NoError(t, err)
	require.Len(t, cs, tailMax)
	require.Equal(t, before, queries.Load(), "the newest 2,000 come from the tail")
	cs, err = o.ChangesAfter(ctx, 0, 5000)
	require.NoError(t, err)
	require.Len(t, cs, n)
	for i, c := range cs {
		require.EqualValues(t, i+1, c.Seq)
	}
	require.Greater(t, queries.Load(), before, "older ones from the log")
}

// A read that made the tail before this process's own append landed (the tail then ends before
// the head) is read again from the log, and is not taken for another client's write (which
// would cost a lookup every headTrust from then on).
func TestATailBehindOwnAppendIsNotAnotherWriter(t *testing.T) {
	t.Parallel()
	s, err := Open(t.Context(), Options{DataDir: t.TempDir(), Logger: quiet()})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	o, ctx := s.Org("org_a"), t.Context()
	require.NoError(t, o.AppendChanges(ctx, []Change{mailChange("a1", "one"), mailChange("a2", "two")}))
	gen := s.tailGeneration()
	read, err := o.ChangesAfter(ctx, 0, 500)
	require.NoError(t, err)
	require.NoError(t, o.AppendChanges(ctx, []Change{mailChange("a3", "three")}))
	o.keepTail(gen, 0, 500, read) // the read's tail, kept after the append
	require.NoError(t, o.AppendChanges(ctx, []Change{mailChange("a4", "four")}))
	require.False(t, s.tailShared, "this process's own appends, after a tail they overtook, taken for another writer's")
	cs, err := o.ChangesAfter(ctx, 2, 500)
	require.NoError(t, err)
	require.Len(t, cs, 2)
	require.Equal(t, "three", cs[0].Activity.Subject)
	require.False(t, s.tailShared, "this process's own append taken for another writer's")
}

// The tail never hides a change: another client's append is read at once (its head is past
// the tail), one whose head was left behind within headTrust (a lookup of the next number by
// _id), and an erasure of this store's reaches the next read.
func TestTheChangeLogTailHidesNothing(t *testing.T) {
	t.Parallel()
	s := openTemp(t, t.TempDir())
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	other := otherProcesses(t, s, nil, 1)[0]
	o, ctx := s.Org("org_a"), t.Context()
	require.NoError(t, o.AppendChanges(ctx, []Change{mailChange("org_a|a1", "one")}))
	cs, err := o.ChangesAfter(ctx, 0, 500)
	require.NoError(t, err)
	require.Len(t, cs, 1)

	require.NoError(t, other.Org("org_a").AppendChanges(ctx, []Change{mailChange("a2", "two")}))
	cs, err = o.ChangesAfter(ctx, 1, 500)
	require.NoError(t, err)
	require.Len(t, cs, 1, "another client's change")
	require.Equal(t, "two", cs[0].Activity.Subject)

	// Another client's change whose head was lost (FerretDB's updates are not atomic).
	lost := mailChange("a3", "three")
	lost.Seq, lost.OrgID, lost.ID = 3, "org_a", changeID("org_a", 3)
	_, err = other.collection(changeCollection).InsertOne(ctx, lost)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		cs, err := o.ChangesAfter(ctx, 2, 500)
		return err == nil && len(cs) == 1 && cs[0].Activity.Subject == "three"
	}, 3*headTrust, 50*time.Millisecond, "a change the head does not know of")

	// An erasure here changes what the next read says.
	_, err = s.collection(activityCollection).InsertOne(ctx, *mailChange("org_a|a1", "one").Activity)
	require.NoError(t, err)
	n, err := o.BlankBefore(ctx, "subject", time.Now(), 10)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	cs, err = o.ChangesAfter(ctx, 0, 500)
	require.NoError(t, err)
	require.Len(t, cs, 3)
	require.Empty(t, cs[0].Activity.Subject, "the erased subject")
	found, err := o.ForgetActivities(ctx, []string{"org_a|a1"})
	require.NoError(t, err)
	require.Equal(t, []string{"org_a|a1"}, found)
	cs, err = o.ChangesAfter(ctx, 0, 500)
	require.NoError(t, err)
	require.Equal(t, ChangeMark, cs[0].Type, "the forgotten activity's change")
	require.Nil(t, cs[0].Activity)
}

// BenchmarkLiveReadOfALongLog: a live feed's read of one new change (an append, then the read
// after the feed's place) on the embedded store over SQLite with a log of 5,000 changes (the
// demo's generator adds 8,640 a day), from the tail against a query of the log (the tail
// turned off: the baseline), in one run.
func BenchmarkLiveReadOfALongLog(b *testing.B) {
	s, err := Open(b.Context(), Options{DataDir: b.TempDir(), Logger: quiet()})
	require.NoError(b, err)
	b.Cleanup(func() { _ = s.Close(context.Background()) })
	o, ctx := s.Org("org_a"), b.Context()
	for i := range 10 {
		batch := make([]Change, 500)
		for j := range batch {
			batch[j] = mailChange(fmt.Sprintf("org_a|m%d", i*500+j), strings.Repeat("a subject of some length ", 4))
			batch[j].Activity.Participants = []Participant{{Address: "alice@contoso.com", Name: "Alice Adams", Role: "from"}, {Address: "carol@fabrikam.com", Name: "Carol Customer", Role: "to"}}
		}
		require.NoError(b, o.AppendChanges(ctx, batch))
	}
	for _, tc := range []struct {
		name   string
		tailed bool
	}{{"query", false}, {"tail", true}} {
		b.Run(tc.name, func(b *testing.B) {
			s.tailed = tc.tailed
			s.dropTail("")
			pos, err := o.LastChangeSeq(ctx)
			require.NoError(b, err)
			_, err = o.ChangesAfter(ctx, pos, 500) // the feed's first read
			require.NoError(b, err)
			for b.Loop() {
				require.NoError(b, o.AppendChanges(ctx, []Change{mailChange(fmt.Sprintf("org_a|n%d", pos), "new")}))
				cs, err := o.ChangesAfter(ctx, pos, 500)
				require.NoError(b, err)
				require.Len(b, cs, 1)
				pos = cs[0].Seq
			}
		})
	}
}
