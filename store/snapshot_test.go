package store

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/event"
)

// The polls of the mailboxes (probes due, rounds due, subscriptions to keep) see every mailbox
// write another process makes, at their next poll, and in between read no mailbox: one read of
// the organisation's generation. On FerretDB, over SQLite and over PostgreSQL (where such a
// poll decoded every mailbox: 50-70 ms of CPU for 300).
func TestMailboxPollsSeeAnotherProcesssWritesAndReadNoMailboxMeanwhile(t *testing.T) {
	t.Parallel()
	for _, pg := range []bool{false, true} {
		t.Run(fmt.Sprintf("postgresql=%v", pg), func(t *testing.T) {
			t.Parallel()
			var reads, lists atomic.Int64 // the poller's queries of the mailboxes, its lists of every organisation's generation
			mailboxes := readsOf(mailboxCollection, &reads)
			poller, writer := pollerAndWriter(t, pg, "snapshot", &event.CommandMonitor{Started: func(ctx context.Context, e *event.CommandStartedEvent) {
				mailboxes.Started(ctx, e)
				if coll, _ := e.Command.Lookup(e.CommandName).StringValueOK(); coll == mailboxGenCollection && e.CommandName == "find" {
					if f, ok := e.Command.Lookup("filter").DocumentOK(); ok && len(f) <= 5 { // {}
						lists.Add(1)
					}
				}
			}})
			var err error

			now := time.Now().UTC().Truncate(time.Millisecond)
			var users []Mailbox
			var ids []string
			for i := range 10 {
				u := fmt.Sprintf("u%02d", i)
				users, ids = append(users, Mailbox{UserID: u, DisplayName: "User " + u}), append(ids, u)
			}
			w, p := writer.Org("org_snap"), poller.Org("org_snap")
			dueNow := func() []string {
				t.Helper()
				orgs, err := poller.OrgsWithMailboxesDue(t.Context(), now, nil)
				require.NoError(t, err)
				due, err := p.MailboxesDue(t.Context(), now, 500, nil)
				require.NoError(t, err)
				var got []string
				for _, m := range due {
					got = append(got, m.UserID)
				}
				if len(got) > 0 {
					require.Equal(t, []string{"org_snap"}, orgs, "the organisation is listed while it has mailboxes due")
				} else {
					require.Empty(t, orgs)
				}
				return got
			}
			captured := func() []string {
				t.Helper()
				live, err := p.LiveMailboxes(t.Context())
				require.NoError(t, err)
				var got []string
				for _, m := range live {
					if m.Captured() {
						got = append(got, m.UserID)
					}
				}
				return got
			}

			require.Empty(t, dueNow(), "no mailboxes yet")
			require.NoError(t, w.UpsertDirectoryUsers(t.Context(), "t", users, now))
			require.Equal(t, ids, dueNow(), "new users are due a probe at once")

			before, listed := reads.Load(), lists.Load()
			for range 3 {
				require.Equal(t, ids, dueNow())
				require.Empty(t, captured())
			}
			require.Equal(t, before, reads.Load(), "polls with no mailbox written meanwhile read no mailbox")
			require.Equal(t, listed, lists.Load(), "nor any organisation's generation")

			later := now.Add(time.Hour)
			require.NoError(t, w.SaveMailboxAccess(t.Context(), ids[:7], "ACCESSIBLE", "", "", now, later, true, "UNKNOWN"))
			require.Equal(t, ids[7:], dueNow(), "probed mailboxes are due no more")
			require.Equal(t, ids[:7], captured(), "and the readable ones are captured")

			require.NoError(t, w.SetMailboxNextCheck(t.Context(), ids[:1], now))
			require.Equal(t, append([]string{ids[0]}, ids[7:]...), dueNow(), "a probe asked for now is due")

			_, err = w.SetMailboxCapture(t.Context(), ids[1], false, now)
			require.NoError(t, err)
			require.NoError(t, w.SetMailboxesCapture(t.Context(), ids[2:4], false, now))
			require.Equal(t, []string{ids[0], ids[4], ids[5], ids[6]}, captured(), "capture turned off is seen")

			require.NoError(t, w.MarkMailboxesDeleted(t.Context(), ids[4:5], now))
			require.Equal(t, []string{ids[0], ids[5], ids[6]}, captured(), "a deleted user is no longer captured")

			require.NoError(t, w.DeleteMailboxes(t.Context()))
			require.Empty(t, dueNow(), "a purged organisation has nothing due")
			require.Empty(t, captured())
			require.Greater(t, reads.Load(), before, "the writes were read")
		})
	}
}

// readsOf counts the queries of a collection into n.
func readsOf(coll string, n *atomic.Int64) *event.CommandMonitor {
	return &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		if c, _ := e.Command.Lookup(e.CommandName).StringValueOK(); c == coll &&
			(e.CommandName == "find" || e.CommandName == "distinct" || e.CommandName == "aggregate") {
			n.Add(1)
		}
	}}
}

// pollerAndWriter opens a store watched by mon and another process's store on the same
// database: on SQLite a client of the poller's FerretDB, on PostgreSQL (pg) a FerretDB of its
// own on the same database.
func pollerAndWriter(t *testing.T, pg bool, prefix string, mon *event.CommandMonitor) (poller, writer *Store) {
	t.Helper()
	o := Options{DataDir: t.TempDir(), Logger: quiet(), Monitor: mon}
	if pg {
		o.PostgreSQLURL, o.Database = postgresURL(t), fmt.Sprintf("%s_%d", prefix, time.Now().UnixNano())
	}
	poller, err := Open(t.Context(), o)
	require.NoError(t, err)
	t.Cleanup(func() { _ = poller.Close(context.Background()) })
	wo := Options{URI: poller.EmbeddedURI(), Logger: quiet()}
	if pg {
		wo = Options{DataDir: t.TempDir(), Logger: quiet(), PostgreSQLURL: o.PostgreSQLURL, Database: o.Database}
	}
	writer, err = Open(t.Context(), wo)
	require.NoError(t, err)
	t.Cleanup(func() { _ = writer.Close(context.Background()) })
	return poller, writer
}

// An organisation whose mailboxes were written before generations existed gets one from the
// migration, and its due mailboxes are found.
func TestMailboxesFromBeforeGenerationsAreFoundDue(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := Open(t.Context(), Options{DataDir: dir, Logger: quiet()})
	require.NoError(t, err)
	now := time.Now().UTC()
	require.NoError(t, s.Org("org_old").UpsertDirectoryUsers(t.Context(), "t", []Mailbox{{UserID: "u1", DisplayName: "U1"}}, now))
	// As a release before generations left it: no generation, schema version 4.
	_, err = s.db.Collection(mailboxGenCollection).DeleteMany(t.Context(), map[string]any{})
	require.NoError(t, err)
	require.NoError(t, setSchemaVersion(t.Context(), s.db, SchemaVersion(), 4))
	require.NoError(t, s.Close(t.Context()))

	s, err = Open(t.Context(), Options{DataDir: dir, Logger: quiet()})
	require.NoError(t, err)
	defer s.Close(context.Background())
	orgs, err := s.OrgsWithMailboxesDue(t.Context(), now, nil)
	require.NoError(t, err)
	require.Equal(t, []string{"org_old"}, orgs)
}
