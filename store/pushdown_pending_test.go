//go:build !noembedded

package store

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// pgIndex is the PostgreSQL schema and name of the store's index on a collection's field.
func pgIndex(t testing.TB, conn *pgx.Conn, database, coll, field string) pgx.Identifier {
	t.Helper()
	var table string
	require.NoError(t, conn.QueryRow(t.Context(), fmt.Sprintf(`SELECT _jsonb->>'table' FROM %s WHERE _jsonb->>'_id' = $1`,
		pgx.Identifier{database, "_ferretdb_database_metadata"}.Sanitize()), coll).Scan(&table))
	return pgx.Identifier{database, pushdownIndexName(table, field)}
}

// fastUpdate says whether an index keeps a pending list (PostgreSQL's default for GIN).
func fastUpdate(t testing.TB, conn *pgx.Conn, idx pgx.Identifier) bool {
	t.Helper()
	var off bool
	require.NoError(t, conn.QueryRow(t.Context(), `SELECT coalesce('fastupdate=off' = ANY(reloptions), false) FROM pg_class
		WHERE oid = $1::regclass`, idx.Sanitize()).Scan(&off))
	return !off
}

// The store's indexes on PostgreSQL keep no pending list, which every search would read whole:
// those it builds, and those an earlier version built with one, once the store opens again.
func TestTheIndexesKeepNoPendingList(t *testing.T) {
	t.Parallel()
	url := postgresURL(t)
	db := fmt.Sprintf("pending_%d", time.Now().UnixNano())
	open := func() *Store {
		s, err := Open(t.Context(), Options{DataDir: t.TempDir(), PostgreSQLURL: url, Database: db, Logger: quiet()})
		require.NoError(t, err)
		return s
	}
	s := open()
	conn, err := pgx.Connect(t.Context(), url)
	require.NoError(t, err)
	defer conn.Close(t.Context())
	ids := pgIndex(t, conn, db, changeCollection, "_id")
	byMailbox := pgIndex(t, conn, db, activityCollection, "mailboxId")
	require.False(t, fastUpdate(t, conn, ids), "a new index")
	require.NoError(t, s.Close(t.Context()))

	// As an earlier version left them.
	for _, idx := range []pgx.Identifier{ids, byMailbox} {
		_, err = conn.Exec(t.Context(), `ALTER INDEX `+idx.Sanitize()+` SET (fastupdate = on)`)
		require.NoError(t, err)
	}
	require.True(t, fastUpdate(t, conn, ids))
	s = open()
	defer s.Close(t.Context())
	require.False(t, fastUpdate(t, conn, ids), "an index an earlier version built")
	require.False(t, fastUpdate(t, conn, byMailbox), "an index an earlier version built")
	require.NoError(t, s.Org("o").AppendChanges(t.Context(), []Change{mailChange("m1", "s")}))
	taken, err := s.Org("o").changeTaken(t.Context(), 1)
	require.NoError(t, err)
	require.True(t, taken)
}

// BenchmarkLookupAfterAppends: a change looked up by its number (what a writer does after a
// collision with another process) in an organisation's log of 5,000 changes just appended, on
// FerretDB over PostgreSQL (scripts/bench/with-postgres.sh): with the index's pending list on,
// as PostgreSQL makes GIN indexes by default (the baseline), and off, as the store makes them.
func BenchmarkLookupAfterAppends(b *testing.B) {
	url := os.Getenv("TEAMACCESS_BENCH_POSTGRESQL_URL")
	if url == "" {
		b.Skip("run under scripts/bench/with-postgres.sh: needs PostgreSQL")
	}
	conn, err := pgx.Connect(b.Context(), url)
	require.NoError(b, err)
	defer conn.Close(b.Context())
	for _, c := range []struct {
		name    string
		pending bool
	}{{"pending-list", true}, {"direct", false}} {
		b.Run(c.name, func(b *testing.B) {
			db := fmt.Sprintf("lookup_%d", time.Now().UnixNano())
			s, err := Open(b.Context(), Options{DataDir: b.TempDir(), PostgreSQLURL: url, Database: db, Logger: quiet()})
			require.NoError(b, err)
			defer s.Close(b.Context())
			if c.pending {
				_, err = conn.Exec(b.Context(), `ALTER INDEX `+pgIndex(b, conn, db, changeCollection, "_id").Sanitize()+` SET (fastupdate = on)`)
				require.NoError(b, err)
			}
			o := s.Org("o")
			for i := range 50 {
				cs := make([]Change, 100)
				for k := range cs {
					cs[k] = mailChange(fmt.Sprintf("m%d_%d", i, k), "a subject of some length, as mail has")
				}
				require.NoError(b, o.AppendChanges(b.Context(), cs))
			}
			seq := int64(1)
			for b.Loop() {
				taken, err := o.changeTaken(b.Context(), seq)
				if err != nil || !taken {
					b.Fatalf("change %d: %v %v", seq, taken, err)
				}
				seq = seq%5000 + 1
			}
		})
	}
}
