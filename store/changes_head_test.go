package store

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/event"
)

// A live feed's poll that finds nothing new does not read the change log on the embedded
// store (a query there decodes all of it): the head says so, and a query comes at most every
// headTrust, in case a head was left behind.
func TestNothingNewIsAnsweredFromTheHeadWithoutReadingTheLog(t *testing.T) {
	t.Parallel()
	var queries atomic.Int64
	mon := &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		if coll, _ := e.Command.Lookup(e.CommandName).StringValueOK(); e.CommandName == "find" && coll == changeCollection {
			queries.Add(1)
		}
	}}
	s, err := Open(t.Context(), Options{DataDir: t.TempDir(), Logger: quiet(), Monitor: mon})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	o := s.Org("org_a")
	ctx := t.Context()
	require.NoError(t, o.AppendChanges(ctx, []Change{{Type: "CREATED", ActivityID: "a1", At: time.Now()}, {Type: "CREATED", ActivityID: "a2", At: time.Now()}}))
	cs, err := o.ChangesAfter(ctx, 0, 10)
	require.NoError(t, err)
	require.Len(t, cs, 2)
	require.Equal(t, changeID("org_a", 2), cs[1].ID)
	before := queries.Load()
	for range 20 {
		cs, err = o.ChangesAfter(ctx, 2, 10)
		require.NoError(t, err)
		require.Empty(t, cs)
	}
	require.Equal(t, before, queries.Load(), "nothing new, and the log was read")
	last, err := o.LastChangeSeq(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 2, last)

	require.NoError(t, o.AppendChanges(ctx, []Change{{Type: "UPDATED", ActivityID: "a1", At: time.Now()}}))
	cs, err = o.ChangesAfter(ctx, 2, 10)
	require.NoError(t, err)
	require.Len(t, cs, 1)
	require.EqualValues(t, 3, cs[0].Seq)

	// A head left behind (two processes raising it at once) delays a change by headTrust at most.
	_, err = s.collection(changeHeadCollection).UpdateOne(ctx, map[string]any{"_id": "org_a"}, map[string]any{"$set": map[string]any{"seq": 1}})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		cs, err := o.ChangesAfter(ctx, 2, 10)
		return err == nil && len(cs) == 1
	}, 2*headTrust, 50*time.Millisecond)
}

// A live feed on a FerretDB this process reaches by URI (no tail: FerretDB over PostgreSQL,
// or another client of the embedded one) polling an idle log never queries it (a query decodes
// all of it): every headTrust it looks the next number up by _id instead, which also finds a
// change whose head was left behind.
func TestAnIdleFeedOnFerretDBLooksTheNextNumberUp(t *testing.T) {
	t.Parallel()
	s := openTemp(t, t.TempDir())
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	mon, queries := logQueries()
	r := otherProcesses(t, s, mon, 1)[0]
	require.True(t, r.ferret)
	require.False(t, r.tailed)
	o, ctx := r.Org("org_a"), t.Context()
	require.NoError(t, s.Org("org_a").AppendChanges(ctx, []Change{{Type: "CREATED", ActivityID: "a1", At: time.Now()}}))
	start := time.Now()
	for i := 0; time.Since(start) < headTrust+time.Second && i < 1000; i++ { // bounded
		cs, err := o.ChangesAfter(ctx, 1, 500)
		require.NoError(t, err)
		require.Empty(t, cs)
		time.Sleep(20 * time.Millisecond)
	}
	require.Zero(t, queries.Load(), "queries of an idle log")

	lost := Change{Type: "CREATED", ActivityID: "a2", At: time.Now().UTC(), Seq: 2, OrgID: "org_a", ID: changeID("org_a", 2)}
	_, err := s.collection(changeCollection).InsertOne(ctx, lost) // its head never raised
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		cs, err := o.ChangesAfter(ctx, 1, 500)
		return err == nil && len(cs) == 1 && cs[0].Seq == 2
	}, 2*headTrust, 50*time.Millisecond)
}
