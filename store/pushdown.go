//go:build !noembedded

package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// lockSchema connects to the PostgreSQL the embedded FerretDB is to run on and waits for the
// lock that lets one process at a time prepare the schema, held until schemaReady. FerretDB
// 1.24 reads a database's collections from PostgreSQL once, when it first needs them, and then
// trusts its copy: two processes creating the same collection at once fail ("relation already
// exists"; on a fresh database FerretDB then drops the whole schema it was making), and one
// that loaded its copy before another created a collection fails on its first write to it. So
// the lock is taken before FerretDB starts and released only when every collection exists
// (pushdownIndexes creates the missing ones): after it, no process creates a collection.
func (e *embedded) lockSchema(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, e.postgresURL)
	if err != nil {
		return fmt.Errorf("embedded database: connect to PostgreSQL: %w", err)
	}
	// Tried, not waited for in a statement: a session waiting in pg_advisory_lock is a running
	// transaction, which the holder's CREATE INDEX CONCURRENTLY would wait for in turn.
	for {
		var got bool
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtext('teamaccess schema'))`).Scan(&got); err != nil {
			_ = conn.Close(context.WithoutCancel(ctx))
			return fmt.Errorf("embedded database: take the schema lock: %w", err)
		}
		if got {
			e.pg = conn
			return nil
		}
		select {
		case <-ctx.Done():
			_ = conn.Close(context.WithoutCancel(ctx))
			return fmt.Errorf("embedded database: another process holds the schema lock: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// schemaReady releases the schema lock (closing its session releases it).
func (e *embedded) schemaReady(ctx context.Context) {
	if e.pg != nil {
		_ = e.pg.Close(context.WithoutCancel(ctx))
		e.pg = nil
	}
}

// pushdownIndexes creates every collection that does not exist yet, then makes FerretDB's
// indexes usable on PostgreSQL. FerretDB 1.24 hands a top-level equality filter to PostgreSQL
// as `_jsonb->'field' @> value`, but its own indexes (the unique one on `_id` included) are
// btree indexes on `_jsonb->'field'`, which cannot answer `@>`: every query, a lookup by `_id`
// too, reads its whole table. A GIN index (jsonb_path_ops) on the same expression answers
// `@>`; this creates one on `_id` of every collection and on the fields pushdownFields names,
// in the PostgreSQL schema FerretDB keeps the database in, on the tables its metadata table
// names. Measured on 20,000 activities: a lookup by `_id` from 10 ms (a sequential scan) to
// 0.02-0.06 ms (a bitmap index scan).
//
// It runs under the schema lock; `IF NOT EXISTS` makes it idempotent, and the indexes are built
// CONCURRENTLY, so that processes already running keep writing meanwhile.
func (e *embedded) pushdownIndexes(ctx context.Context, db *mongo.Database, log *slog.Logger) error {
	if e.pg == nil {
		return nil
	}
	have, err := db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		return fmt.Errorf("list collections: %w", err)
	}
	for _, c := range slices.Sorted(maps.Keys(pushdownFields)) {
		if !slices.Contains(have, c) {
			if err := db.CreateCollection(ctx, c); err != nil {
				return fmt.Errorf("create collection %s: %w", c, err)
			}
		}
	}
	schema := db.Name()
	rows, err := e.pg.Query(ctx, fmt.Sprintf(`SELECT _jsonb->>'_id', _jsonb->>'table' FROM %s`,
		pgx.Identifier{schema, "_ferretdb_database_metadata"}.Sanitize()))
	if err != nil {
		return fmt.Errorf("read FerretDB's collections: %w", err)
	}
	tables := map[string]string{}
	for rows.Next() {
		var coll, table string
		if err := rows.Scan(&coll, &table); err != nil {
			rows.Close()
			return fmt.Errorf("read FerretDB's collections: %w", err)
		}
		tables[coll] = table
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read FerretDB's collections: %w", err)
	}
	start, built := time.Now(), 0
	for _, coll := range slices.Sorted(maps.Keys(tables)) {
		for _, field := range append([]string{"_id"}, pushdownFields[coll]...) {
			name := pushdownIndexName(tables[coll], field)
			// A build that failed (a process killed while it ran) leaves an invalid index that
			// IF NOT EXISTS would keep: drop it first.
			var valid, direct bool
			err := e.pg.QueryRow(ctx, `SELECT i.indisvalid, coalesce('fastupdate=off' = ANY(c.reloptions), false)
				FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
				JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2`, schema, name).Scan(&valid, &direct)
			switch {
			case err == nil && valid && direct:
				continue
			case err == nil && valid: // built by an earlier version, with a pending list
				if err := e.directIndex(ctx, schema, name); err != nil {
					return err
				}
				continue
			case err == nil:
				if _, err := e.pg.Exec(ctx, `DROP INDEX CONCURRENTLY IF EXISTS `+pgx.Identifier{schema, name}.Sanitize()); err != nil {
					return fmt.Errorf("drop the invalid index %s: %w", name, err)
				}
			case !errors.Is(err, pgx.ErrNoRows):
				return fmt.Errorf("look up the index %s: %w", name, err)
			}
			q := fmt.Sprintf(`CREATE INDEX CONCURRENTLY IF NOT EXISTS %s ON %s USING gin ((_jsonb->'%s') jsonb_path_ops) WITH (fastupdate = off)`,
				pgx.Identifier{name}.Sanitize(), pgx.Identifier{schema, tables[coll]}.Sanitize(), strings.ReplaceAll(field, "'", "''"))
			if _, err := e.pg.Exec(ctx, q); err != nil {
				return fmt.Errorf("create the index on %s.%s: %w", coll, field, err)
			}
			built++
		}
	}
	if built > 0 {
		log.Info("built the PostgreSQL indexes for FerretDB's equality filters", "indexes", built, "took", time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// directIndex turns an index's pending list off (fastupdate, on by default) and moves what is
// in it into the index. With the list on, PostgreSQL adds a new row's entries to an unsorted
// list that every search of the index reads whole, until autovacuum or the list's 4 MB limit
// moves it ("a large list of pending entries will slow searches significantly", PostgreSQL's
// "GIN Fast Update Technique"): the change log, whose rows come faster than autovacuum's
// minute, is looked up by _id in it after every collision between processes, and each lookup
// read the thousands of entries appended since. Measured: a lookup among 5,000 changes just
// appended 1.07 ms with the list, 0.73 ms without (BenchmarkLookupAfterAppends); in the
// three-process backfill, PostgreSQL's time in those lookups 2.8 ms -> 0.67 ms a lookup and in
// the activities' inserts 2.3 s -> 1.5 s (pg_stat_statements).
func (e *embedded) directIndex(ctx context.Context, schema, name string) error {
	ident := pgx.Identifier{schema, name}.Sanitize()
	if _, err := e.pg.Exec(ctx, `ALTER INDEX `+ident+` SET (fastupdate = off)`); err != nil {
		return fmt.Errorf("turn the pending list of %s off: %w", name, err)
	}
	if _, err := e.pg.Exec(ctx, `SELECT gin_clean_pending_list($1::regclass)`, ident); err != nil {
		return fmt.Errorf("empty the pending list of %s: %w", name, err)
	}
	return nil
}

// pushdownIndexName names the index on one field of one table: a prefix of FerretDB's own
// names never starts with, and a hash, as PostgreSQL cuts names at 63 bytes.
func pushdownIndexName(table, field string) string {
	sum := sha256.Sum256([]byte(table + "\x00" + field))
	return "teamaccess_eq_" + hex.EncodeToString(sum[:12])
}
