package store

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
)

// Three processes appending to one organisation's log at once (each a store of its own on the
// embedded FerretDB, as the cluster runs), with several rounds of each ending together: the
// numbers stay dense, each is written once, and every change is in the log.
func TestWritersInThreeProcessesAtOnceKeepTheNumbersDense(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	var inserts, refused atomic.Int64
	mon := &event.CommandMonitor{Succeeded: func(_ context.Context, e *event.CommandSucceededEvent) {
		if e.CommandName != "insert" {
			return
		}
		inserts.Add(1)
		if _, err := e.Reply.LookupErr("writeErrors"); err == nil {
			refused.Add(1)
		}
	}}
	s := openTemp(t, t.TempDir())
	defer s.Close(context.Background())
	require.NoError(t, s.Org("o").AppendChanges(ctx, []Change{{Type: "CREATED"}})) // the log and its head exist
	ws := otherProcesses(t, s, mon, 3)
	const rounds, appends = 4, 6
	var wg sync.WaitGroup
	for p, w := range ws {
		for r := range rounds {
			wg.Go(func() {
				for k := range appends {
					cs := make([]Change, 5)
					for i := range cs {
						cs[i] = Change{Type: "CREATED", ActivityID: fmt.Sprintf("p%d-r%d-%d-%d", p, r, k, i)}
					}
					require.NoError(t, w.Org("o").AppendChanges(ctx, cs))
				}
			})
		}
	}
	wg.Wait()
	cs, err := s.Org("o").ChangesAfter(ctx, 0, 1000)
	require.NoError(t, err)
	seen := map[string]bool{}
	for i, c := range cs {
		require.EqualValues(t, i+1, c.Seq, "each number once, in order")
		if c.Type != ChangeMark {
			require.False(t, seen[c.ActivityID], "%s twice", c.ActivityID)
			seen[c.ActivityID] = true
		}
	}
	require.Len(t, seen, 1+3*rounds*appends*5, "every change written")
	t.Logf("%d inserts of the log, %d refused", inserts.Load(), refused.Load())
}

// Numbers another process has taken and is about to write are neither written over nor
// passed: a writer takes its own after them and writes once they are in the log, so that the
// other's insert is not refused (numbering after the newest change written, it was, and
// the other wrote its changes again after a search for where the log was).
func TestAWriterWaitsForTheNumbersAnotherHasTaken(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, w := takenByAnother(t, 2) // another process takes 2 and 3 and writes them 300 ms later
	o := s.Org("o")
	done := make(chan error, 1)
	go func() { done <- w.Org("o").AppendChanges(ctx, []Change{{Type: "CREATED", ActivityID: "c"}}) }()
	time.Sleep(300 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("written before the numbers before it (%v)", err)
	default:
	}
	require.NoError(t, o.WriteChanges(ctx, []Change{{Seq: 2, Type: "CREATED", ActivityID: "b1"}, {Seq: 3, Type: "CREATED", ActivityID: "b2"}}),
		"the numbers it took are its own")
	require.NoError(t, <-done)
	require.Equal(t, []string{"CREATED:a", "CREATED:b1", "CREATED:b2", "CREATED:c"}, denseLog(t, o))
}

// denseLog is the organisation's log as type:activity, checked to be numbered 1, 2, 3, ...
func denseLog(t *testing.T, o OrgScope) []string {
	cs, err := o.ChangesAfter(t.Context(), 0, 1000)
	require.NoError(t, err)
	var got []string
	for i, c := range cs {
		require.EqualValues(t, i+1, c.Seq, "dense")
		got = append(got, c.Type+":"+c.ActivityID)
	}
	return got
}

// A writer that took numbers and stopped before writing them (its process died between the
// two) holds no one up for long: the next writer waits for them a while, then fills them with
// marks and goes on after them, and the numbers stay dense.
func TestNumbersTakenByAWriterThatStoppedAreFilled(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, w := takenByAnother(t, 3) // another process takes 2 to 4 and stops
	o := s.Org("o")
	w.changeWait = 200 * time.Millisecond
	require.NoError(t, w.Org("o").AppendChanges(ctx, []Change{{Type: "CREATED", ActivityID: "b"}}))
	require.NoError(t, o.AppendChanges(ctx, []Change{{Type: "CREATED", ActivityID: "c"}}))
	require.Equal(t, []string{"CREATED:a", "MARK:", "MARK:", "MARK:", "CREATED:b", "CREATED:c"}, denseLog(t, o))
	last, err := o.LastChangeSeq(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 6, last)
}

// takenByAnother is a store whose organisation "o" has one change, "a", and n numbers past it
// taken by another process (not written), and a store of a second process on its database.
func takenByAnother(t *testing.T, n int) (s, w *Store) {
	s = openTemp(t, t.TempDir())
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	require.NoError(t, s.Org("o").AppendChanges(t.Context(), []Change{{Type: "CREATED", ActivityID: "a"}}))
	_, err := s.collection(changeHeadCollection).UpdateOne(t.Context(), bson.D{{Key: "_id", Value: "o"}},
		bson.D{{Key: "$inc", Value: bson.D{{Key: "reserved", Value: n}}}})
	require.NoError(t, err)
	return s, otherProcesses(t, s, nil, 1)[0]
}

// An insert of the log that meets a number another writer took writes nothing past it, however
// many changes it carries: FerretDB orders an insert only within each batch of 100 documents
// and goes on with the next batch after a refused one, which wrote changes after a number
// this writer never wrote, and again when it numbered them anew.
func TestARefusedInsertOfTheLogWritesNothingPastTheRefusedNumber(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := openTemp(t, t.TempDir())
	defer s.Close(context.Background())
	o := s.Org("o")
	_, _, err := o.insertChanges(ctx, []Change{{Seq: 11, End: 11, Type: "CREATED", ActivityID: "theirs"}})
	require.NoError(t, err)
	var cs []Change
	for i := range 250 {
		cs = append(cs, Change{Seq: int64(i + 1), End: 250, Type: "CREATED", ActivityID: fmt.Sprintf("mine-%d", i)})
	}
	n, _, err := o.insertChanges(ctx, cs)
	require.True(t, refused(err), "%v", err)
	require.Equal(t, 10, n, "the ten before the refused number")
	var docs []struct {
		Seq int64 `bson:"seq"`
	}
	cur, err := s.db.Collection(changeCollection).Find(ctx, bson.D{{Key: "orgId", Value: "o"}})
	require.NoError(t, err)
	require.NoError(t, cur.All(ctx, &docs))
	var seqs []int64
	for _, d := range docs {
		seqs = append(seqs, d.Seq)
	}
	slices.Sort(seqs)
	require.Equal(t, []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, seqs, "nothing written past the refused number")

	// The rest, numbered after it, goes in whole.
	for i := range cs[n:] {
		cs[n+i].Seq = int64(11 + i + 1)
	}
	m, _, err := o.insertChanges(ctx, cs[n:])
	require.NoError(t, err)
	require.Equal(t, 240, m)
}
