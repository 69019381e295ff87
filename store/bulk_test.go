package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Bulk writes of 50 updates or more end on the embedded FerretDB over PostgreSQL: a probe
// chunk's access recorded on 64 mailboxes by _id, and a page of 60 activities the mailbox had
// already (written again as replacements). FerretDB holds a pool connection for each update
// of one command until the command ends, and has 50 (bulk.go): in one command these waited
// forever.
func TestBulkWritesOfManyUpdatesEnd(t *testing.T) {
	t.Parallel()
	onEveryStore(t, "bulk", func(t *testing.T, s *Store) {
		ctx, o, now, ids := withMailboxes(t, s, findEachMax)
		require.NoError(t, o.SaveMailboxAccess(ctx, ids, "ACCESSIBLE", "", "", now, now.Add(time.Hour), true, "UNKNOWN"))
		got, err := o.MailboxesByUserID(ctx, ids)
		require.NoError(t, err)
		require.Len(t, got, len(ids))
		for _, m := range got {
			require.Equal(t, "ACCESSIBLE", m.Access, m.UserID)
		}

		var as []Activity
		for i := range 60 {
			as = append(as, Activity{ID: fmt.Sprintf("a|u000|mail:inbox|m%02d", i), MailboxID: "u000", Scope: "mail:inbox",
				GraphID: fmt.Sprintf("m%02d", i), Kind: "EMAIL", Subject: "first", OccurredAt: now.Add(-time.Duration(i) * time.Minute)})
		}
		_, err = o.WriteActivities(ctx, as)
		require.NoError(t, err)
		for i := range as {
			as[i].Subject = "again"
		}
		existed, err := o.WriteActivities(ctx, as)
		require.NoError(t, err)
		require.Len(t, existed, len(as))
		live, err := o.LiveActivities(ctx, "u000")
		require.NoError(t, err)
		require.Len(t, live, len(as))
		for _, a := range live {
			require.Equal(t, "again", a.Subject, a.ID)
		}
	})
}

// A bulk write sent in several commands answers as one: the counts summed and each write
// error at its index among all the writes; unordered, every command runs; ordered, none after
// the first that failed.
func TestABulkWriteInCommandsAnswersAsOne(t *testing.T) {
	t.Parallel()
	s, err := Open(t.Context(), Options{DataDir: t.TempDir(), Logger: quiet()})
	require.NoError(t, err)
	defer s.Close(t.Context())
	c := s.collection(activityCollection)
	require.Equal(t, commandStatements, c.statements)
	_, err = c.InsertMany(t.Context(), []any{bson.D{{Key: "_id", Value: "d03"}}, bson.D{{Key: "_id", Value: "d17"}}})
	require.NoError(t, err)
	models := func() []mongo.WriteModel {
		var ms []mongo.WriteModel
		for i := range 20 {
			ms = append(ms, mongo.NewInsertOneModel().SetDocument(bson.D{{Key: "_id", Value: fmt.Sprintf("d%02d", i)}}))
		}
		return ms
	}
	res, err := c.BulkWrite(t.Context(), models(), options.BulkWrite().SetOrdered(false))
	var bwe mongo.BulkWriteException
	require.ErrorAs(t, err, &bwe)
	require.Len(t, bwe.WriteErrors, 2)
	require.Equal(t, 3, bwe.WriteErrors[0].Index)
	require.Equal(t, 17, bwe.WriteErrors[1].Index)
	require.EqualValues(t, 18, res.InsertedCount)

	_, err = c.DeleteMany(t.Context(), bson.D{{Key: "_id", Value: bson.D{{Key: "$nin", Value: bson.A{"d03", "d17"}}}}})
	require.NoError(t, err)
	res, err = c.BulkWrite(t.Context(), models())
	require.ErrorAs(t, err, &bwe)
	require.Len(t, bwe.WriteErrors, 1)
	require.Equal(t, 3, bwe.WriteErrors[0].Index)
	require.EqualValues(t, 3, res.InsertedCount)
	n, err := c.CountDocuments(t.Context(), bson.D{})
	require.NoError(t, err)
	require.EqualValues(t, 5, n, "ordered: d00-d02 and the two there before, nothing after d03")
}

// Many updates at once end on the embedded FerretDB over PostgreSQL: 100 mailboxes' access
// recorded by 100 callers together. Each update holds one of FerretDB's 50 connections for its
// query while it waits for another for its write (bulk.go): with the driver's 100 connections,
// 50 of them waited for each other forever.
func TestManyUpdatesAtOnceEnd(t *testing.T) {
	t.Parallel()
	onEveryStore(t, "updates", func(t *testing.T, s *Store) {
		ctx, o, now, ids := withMailboxes(t, s, 100)
		start := make(chan struct{})
		errs := make(chan error, len(ids))
		for _, u := range ids {
			go func() {
				<-start
				errs <- o.SaveMailboxAccess(ctx, []string{u}, "ACCESSIBLE", "", "", now, now.Add(time.Hour), true, "UNKNOWN")
			}()
		}
		close(start)
		for range ids {
			require.NoError(t, <-errs)
		}
	})
}

// withMailboxes gives organisation "a" n mailboxes (users u000, u001, ...), for a test that
// has 30 s to write them.
func withMailboxes(t *testing.T, s *Store, n int) (context.Context, OrgScope, time.Time, []string) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	o := s.Org("a")
	now := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	var users []Mailbox
	var ids []string
	for i := range n {
		u := fmt.Sprintf("u%03d", i)
		users, ids = append(users, Mailbox{UserID: u, DisplayName: u}), append(ids, u)
	}
	require.NoError(t, o.UpsertDirectoryUsers(ctx, "t-a", users, now))
	return ctx, o, now, ids
}

// The commands in flight to the embedded FerretDB on PostgreSQL are a third of its pool: the
// default 50, or pool_max_conns where the URL sets it (README: "?pool_max_conns=20").
func TestCommandsInFlightAreAThirdOfFerretDBsPool(t *testing.T) {
	for url, want := range map[string]uint64{
		"postgres://u@127.0.0.1:5432/ferretdb":                     16,
		"postgres://u@127.0.0.1:5432/ferretdb?pool_max_conns=20":   6,
		"postgres://u@127.0.0.1:5432/ferretdb?pool_max_conns=2":    1,
		"postgres://u@127.0.0.1:5432/ferretdb?pool_max_conns=many": 16,
	} {
		require.Equal(t, want, embeddedConns(url), url)
	}
}
