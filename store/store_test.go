package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func openTemp(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(t.Context(), Options{DataDir: dir, Logger: quiet()})
	require.NoError(t, err)
	return s
}

func TestEmbeddedStoreKeepsDataAcrossRestarts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openTemp(t, dir)
	info, err := s.Info(t.Context())
	require.NoError(t, err)
	require.Equal(t, EngineFerretDB, info.Engine)
	require.True(t, info.Embedded)
	require.Equal(t, DefaultDatabase, info.Database)
	require.Equal(t, SchemaVersion(), info.SchemaVersion)
	require.Contains(t, info.ServerVersion, "MongoDB")
	first, err := s.Installation(t.Context())
	require.NoError(t, err)
	require.Len(t, first.ID, 32)
	require.Equal(t, 1, first.Starts)
	require.NoError(t, s.Close(context.Background()))

	s = openTemp(t, dir)
	defer s.Close(context.Background())
	again, err := s.Installation(t.Context())
	require.NoError(t, err)
	require.Equal(t, first.ID, again.ID, "the installation keeps its identity")
	require.True(t, first.CreatedAt.Equal(again.CreatedAt))
	require.Equal(t, 2, again.Starts)
}

func TestEmbeddedStoreRefusesASecondProcessOnTheSameDirectory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openTemp(t, dir)
	defer s.Close(context.Background())
	_, err := Open(t.Context(), Options{DataDir: dir, Logger: quiet()})
	require.ErrorContains(t, err, "in use by another teamaccess process")
}

func TestUnreachableServerGivesAClearError(t *testing.T) {
	t.Parallel()
	_, err := Open(t.Context(), Options{
		URI:            "mongodb://teamaccess:s3cret@127.0.0.1:1/?directConnection=true",
		ConnectTimeout: 300 * time.Millisecond,
		Logger:         quiet(),
	})
	require.ErrorIs(t, err, ErrUnreachable)
	require.ErrorContains(t, err, "cannot reach MongoDB at 127.0.0.1:1")
	require.NotContains(t, err.Error(), "s3cret")
}

func TestValidateURI(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		uri string
		ok  bool
	}{
		{"mongodb://localhost:27017", true},
		{"mongodb+srv://cluster0.example.net", true},
		{"", false},
		{"postgres://localhost", false},
		{"mongodb://u:s3cret@localhost:27017/?connectTimeoutMS=soon", false},
		{"mongodb://u:s3cret@localhost:99999", false},
		{"mongodb+srv://cluster0.example.net:27017", false},
	} {
		err := ValidateURI(tc.uri)
		if tc.ok {
			require.NoError(t, err, tc.uri)
			continue
		}
		require.Error(t, err, tc.uri)
		require.NotContains(t, err.Error(), "s3cret")
	}
}

func TestMigrationsRunOnceInOrderAndRefuseANewerDatabase(t *testing.T) {
	t.Parallel()
	s := openTemp(t, t.TempDir())
	defer s.Close(context.Background())
	ctx := t.Context()
	coll := s.collection("migration_test")
	var ran []int
	list := append([]migration(nil), migrations...)
	next := SchemaVersion() + 1
	for _, v := range []int{next, next + 1} {
		list = append(list, migration{version: v, name: "test", up: func(ctx context.Context, db *mongo.Database) error {
			ran = append(ran, v)
			_, err := coll.InsertOne(ctx, bson.D{{Key: "v", Value: v}})
			return err
		}})
	}
	require.NoError(t, migrate(ctx, s.db, list, quiet()))
	require.NoError(t, migrate(ctx, s.db, list, quiet()), "a second run changes nothing")
	require.Equal(t, []int{next, next + 1}, ran)
	n, err := coll.CountDocuments(ctx, bson.D{})
	require.NoError(t, err)
	require.EqualValues(t, 2, n)

	err = migrate(ctx, s.db, migrations, quiet())
	require.True(t, errors.Is(err, ErrSchemaTooNew), "got %v", err)
	require.ErrorContains(t, err, fmt.Sprintf("schema version %d", next+1))
}

func TestEnsureIndexesIsIdempotentAndEnforcesUniqueness(t *testing.T) {
	t.Parallel()
	s := openTemp(t, t.TempDir())
	defer s.Close(context.Background())
	ctx := t.Context()
	specs := map[string][]mongo.IndexModel{"things": {{
		Keys:    bson.D{{Key: "org", Value: 1}, {Key: "name", Value: 1}},
		Options: options.Index().SetName("org_name").SetUnique(true),
	}}}
	require.NoError(t, ensureIndexes(ctx, s.db, specs))
	require.NoError(t, ensureIndexes(ctx, s.db, specs))
	things := s.collection("things")
	_, err := things.InsertOne(ctx, bson.D{{Key: "org", Value: "a"}, {Key: "name", Value: "x"}})
	require.NoError(t, err)
	_, err = things.InsertOne(ctx, bson.D{{Key: "org", Value: "a"}, {Key: "name", Value: "x"}})
	require.True(t, mongo.IsDuplicateKeyError(err), "got %v", err)
	_, err = things.InsertOne(ctx, bson.D{{Key: "org", Value: "b"}, {Key: "name", Value: "x"}})
	require.NoError(t, err)
}

// Reopening a store whose indexed collections hold documents must work: FerretDB 1.24 once
// dropped the connection here when indexes were created several at a time.
func TestReopenWithDataInIndexedCollections(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openTemp(t, dir)
	org := s.Org("org_1")
	require.NoError(t, org.AppendAudit(t.Context(), AuditEntry{At: time.Now(), Action: "test"}))
	require.NoError(t, org.InsertAPIKey(t.Context(), APIKey{ID: "key_1", Name: "k", Role: "ADMIN", CreatedAt: time.Now()}))
	require.NoError(t, s.Close(context.Background()))
	s = openTemp(t, dir)
	defer s.Close(context.Background())
	entries, err := s.Org("org_1").AuditLog(t.Context(), 10, "")
	require.NoError(t, err)
	require.Len(t, entries, 1)
}

func TestLeaseGoesToOneOwnerUntilItLapses(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, err := Open(ctx, Options{DataDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	defer s.Close(context.Background())
	now := time.Now().UTC()
	// Concurrent first claims by one owner all succeed; another owner's fail.
	var wg sync.WaitGroup
	results := make([]bool, 8)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := s.ClaimLease(ctx, "job", "a", now, now.Add(time.Minute))
			require.NoError(t, err)
			results[i] = ok
		}()
	}
	wg.Wait()
	require.Equal(t, []bool{true, true, true, true, true, true, true, true}, results)
	ok, err := s.ClaimLease(ctx, "job", "b", now.Add(30*time.Second), now.Add(2*time.Minute))
	require.NoError(t, err)
	require.False(t, ok, "held by a")
	ok, err = s.ClaimLease(ctx, "job", "b", now.Add(61*time.Second), now.Add(2*time.Minute))
	require.NoError(t, err)
	require.True(t, ok, "a's lapsed")
	require.NoError(t, s.ReleaseLease(ctx, "job", "a"), "not a's any more: nothing happens")
	ok, _ = s.ClaimLease(ctx, "job", "a", now.Add(62*time.Second), now.Add(3*time.Minute))
	require.False(t, ok)
	require.NoError(t, s.ReleaseLease(ctx, "job", "b"))
	ok, _ = s.ClaimLease(ctx, "job", "a", now.Add(62*time.Second), now.Add(3*time.Minute))
	require.True(t, ok, "released by b")

	// Eight owners, on two clients as two processes, find it lapsed at once: one gets it.
	other, err := Open(ctx, Options{URI: s.EmbeddedURI(), Logger: quiet()})
	require.NoError(t, err)
	defer other.Close(context.Background())
	later := now.Add(10 * time.Minute)
	var won atomic.Int32
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := s
			if i%2 == 1 {
				st = other
			}
			ok, err := st.ClaimLease(ctx, "job", fmt.Sprintf("owner%d", i), later, later.Add(time.Minute))
			require.NoError(t, err)
			if ok {
				won.Add(1)
			}
		}()
	}
	wg.Wait()
	require.EqualValues(t, 1, won.Load(), "exactly one claimer holds a lapsed lease")
}

func TestChangeNumbersAreDenseAndUniqueAcrossWriters(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := openTemp(t, t.TempDir())
	defer s.Close(context.Background())
	// Two clients, as two processes: eight writers of three changes each.
	other, err := Open(ctx, Options{URI: s.EmbeddedURI(), Logger: quiet()})
	require.NoError(t, err)
	defer other.Close(context.Background())
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := []*Store{s, other}[i%2]
			require.NoError(t, w.Org("o").AppendChanges(ctx, []Change{{Type: "CREATED"}, {Type: "UPDATED"}, {Type: "DELETED"}}))
		}()
	}
	wg.Wait()
	cs, err := s.Org("o").ChangesAfter(ctx, 0, 100)
	require.NoError(t, err)
	require.Len(t, cs, 24)
	for i, c := range cs {
		require.EqualValues(t, i+1, c.Seq, "1 to 24, each once")
	}
}

func TestFinishedNotificationsMoveToTheLogAndArePruned(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := openTemp(t, t.TempDir())
	defer s.Close(context.Background())
	now := time.Now().UTC().Truncate(time.Millisecond)
	es := make([]InboxEntry, 5)
	for i := range es {
		es[i] = InboxEntry{ID: bson.NewObjectID(), OrgID: "o", MailboxID: "m", Scope: "mail:inbox", NotBefore: now, ItemID: fmt.Sprint(i)}
	}
	require.NoError(t, s.InsertInbox(ctx, es))
	require.NoError(t, s.InsertInbox(ctx, es[:2]), "a write repeated after a lost answer is no error")
	due, err := s.DueInbox(ctx, now, 3, nil)
	require.NoError(t, err)
	require.Len(t, due, 3)
	old := now.Add(-2 * time.Hour)
	for i := range due {
		due[i].DoneAt, due[i].Outcome = &old, OutcomeDone
	}
	retry := InboxEntry{ID: bson.NewObjectID(), OrgID: "o", NotBefore: now.Add(time.Minute), Attempts: 1}
	require.NoError(t, s.FinishInbox(ctx, due, []InboxEntry{retry}))
	pending, finished, err := s.InboxEntries(ctx)
	require.NoError(t, err)
	require.Len(t, pending, 3, "two left and the retry")
	require.Len(t, finished, 3)
	due, err = s.DueInbox(ctx, now, 10, nil)
	require.NoError(t, err)
	require.Len(t, due, 2, "the retry is not due yet")
	n, err := s.PruneInbox(ctx, now.Add(-time.Hour))
	require.NoError(t, err)
	require.EqualValues(t, 3, n)
	require.NoError(t, s.Org("o").DeleteCapturedData(ctx))
	pending, finished, _ = s.InboxEntries(ctx)
	require.Empty(t, pending, "purged")
	require.Empty(t, finished)
}

func TestExplainReportsAPlanForEveryQueryShape(t *testing.T) {
	t.Parallel()
	s := openTemp(t, t.TempDir())
	defer s.Close(context.Background())
	plans, err := s.ExplainQueries(t.Context())
	require.NoError(t, err)
	require.Len(t, plans, 18)
	for _, p := range plans {
		require.NotEmpty(t, p.Summary, p.Query)
		t.Logf("%-60s %s", p.Query, p.Summary)
	}
	// FerretDB 1.24 on SQLite pushes only _id equality down to its backend; everything else is
	// filtered and sorted in memory after a scan (see DEPENDENCIES.md and the README).
	require.Contains(t, plans[13].Summary, "filterPushdown=true", "by _id alone")
	require.Contains(t, plans[2].Summary, "filterPushdown=false", "activities by mailbox and time")
}

func TestFerretDBHasNoChangeStreamsAndSaysSo(t *testing.T) {
	t.Parallel()
	s := openTemp(t, t.TempDir())
	err := s.WatchChanges(context.Background(), func() { t.Error("a change stream opened") }, func(string) {})
	t.Logf("%v", err)
	require.ErrorIs(t, err, ErrNoChangeStreams, "the hub must know to poll, not retry")
}

// Writers in several processes of one FerretDB (the second reaches it by URI, as a process of
// its own would) number their changes without ever reading the whole log (a sorted query, which
// FerretDB answers by decoding all of it): from the head, and after a collision from the
// numbers the other writer took, looked up by _id.
func TestWritersOnFerretDBNeverReadTheWholeChangeLog(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	var mu sync.Mutex
	sorted := 0
	mon := &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		if e.CommandName != "find" {
			return
		}
		if coll, _ := e.Command.Lookup("find").StringValueOK(); coll == changeCollection {
			if _, err := e.Command.LookupErr("sort"); err == nil {
				mu.Lock()
				sorted++
				mu.Unlock()
			}
		}
	}}
	s := openTemp(t, t.TempDir())
	defer s.Close(context.Background())
	ws := otherProcesses(t, s, mon, 2)
	other, third := ws[0], ws[1]
	require.NoError(t, s.Org("o").AppendChanges(ctx, []Change{{Type: "CREATED"}})) // the log and its head exist
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Go(func() {
			w := []*Store{other, third}[i%2]
			for range 3 {
				require.NoError(t, w.Org("o").AppendChanges(ctx, []Change{{Type: "CREATED"}, {Type: "UPDATED"}, {Type: "DELETED"}}))
			}
		})
	}
	wg.Wait()
	cs, err := s.Org("o").ChangesAfter(ctx, 0, 1000)
	require.NoError(t, err)
	require.Len(t, cs, 109)
	for i, c := range cs {
		require.EqualValues(t, i+1, c.Seq, "1 to 109, each once")
	}
	mu.Lock()
	defer mu.Unlock()
	require.Zero(t, sorted, "sorted reads of the change log by the writers")
}

// Two processes writing one organisation's log in turn (the second reaches the embedded
// FerretDB by URI, as a process of its own would): each meets the other's numbers once, and
// from then on numbers after the head, so that its inserts are not refused and repeated.
func TestWritersTakingTurnsCollideOnceEach(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	var mu sync.Mutex
	inserts := 0
	mon := &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		if coll, _ := e.Command.Lookup("insert").StringValueOK(); e.CommandName == "insert" && coll == changeCollection {
			mu.Lock()
			inserts++
			mu.Unlock()
		}
	}}
	s := openTemp(t, t.TempDir())
	defer s.Close(context.Background())
	ws := otherProcesses(t, s, mon, 2)
	const turns = 20
	for i := range turns {
		require.NoError(t, ws[i%2].Org("o").AppendChanges(ctx, []Change{{Type: "CREATED"}, {Type: "UPDATED"}}))
	}
	cs, err := s.Org("o").ChangesAfter(ctx, 0, 1000)
	require.NoError(t, err)
	require.Len(t, cs, 2*turns)
	for i, c := range cs {
		require.EqualValues(t, i+1, c.Seq, "each number once, in order")
	}
	mu.Lock()
	defer mu.Unlock()
	require.LessOrEqual(t, inserts, turns+2, "inserts for %d appends: one refused at most per process", turns)
}

// otherProcesses opens n more stores on s's embedded FerretDB by its URI, as processes of their
// own would, each seen by mon; they are closed when the test ends.
func otherProcesses(t *testing.T, s *Store, mon *event.CommandMonitor, n int) []*Store {
	ws := make([]*Store, n)
	for i := range ws {
		w, err := Open(t.Context(), Options{URI: s.EmbeddedURI(), Logger: quiet(), Monitor: mon})
		require.NoError(t, err)
		t.Cleanup(func() { _ = w.Close(context.Background()) })
		ws[i] = w
	}
	return ws
}

// Appends of one process to an organisation's log that come while another is being written are
// written together, one insert, each caller's changes in a row and in the order they came;
// every caller hears its own outcome and its changes' numbers. (Each was an insert of its own, one after another.)
func TestAppendsThatComeTogetherAreWrittenInOneInsert(t *testing.T) {
	t.Parallel()
	var inserts atomic.Int64
	mon := &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		if coll, _ := e.Command.Lookup(e.CommandName).StringValueOK(); e.CommandName == "insert" && coll == changeCollection {
			inserts.Add(1)
		}
	}}
	s, err := Open(t.Context(), Options{DataDir: t.TempDir(), Logger: quiet(), Monitor: mon})
	require.NoError(t, err)
	defer s.Close(context.Background())
	o := s.Org("o")
	s.changeMu.Lock() // an append in progress: the callers below wait for it
	var wg sync.WaitGroup
	errs := make([]error, 16)
	for i := range 16 {
		wg.Go(func() {
			cs := make([]Change, 5)
			for k := range cs {
				cs[k] = Change{Type: "CREATED", ActivityID: fmt.Sprintf("a%02d-%d", i, k)}
			}
			errs[i] = o.AppendChanges(t.Context(), cs)
			for k := range cs {
				if cs[k].Seq != cs[0].Seq+int64(k) || cs[k].Seq == 0 {
					errs[i] = fmt.Errorf("the caller's changes numbered %d, %d", cs[0].Seq, cs[k].Seq)
				}
			}
		})
	}
	require.Eventually(t, func() bool {
		s.changeQMu.Lock()
		defer s.changeQMu.Unlock()
		return len(s.changeQ["o"]) == 16
	}, 10*time.Second, time.Millisecond)
	s.changeMu.Unlock()
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	require.EqualValues(t, 1, inserts.Load(), "one insert for the 16 appends")
	cs, err := o.ChangesAfter(t.Context(), 0, 200)
	require.NoError(t, err)
	require.Len(t, cs, 80)
	for i, c := range cs {
		require.EqualValues(t, i+1, c.Seq)
		require.Equal(t, cs[i-i%5].ActivityID[:3], c.ActivityID[:3], "a caller's changes in a row")
		require.Equal(t, fmt.Sprintf("-%d", i%5), c.ActivityID[3:], "in its order")
	}
}
