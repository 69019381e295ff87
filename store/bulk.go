package store

import (
	"context"
	"errors"
	"net/url"
	"strconv"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// commandStatements bounds the writes of one bulk write command to the embedded FerretDB, and
// embeddedConns the commands in flight to it on PostgreSQL (the client's connections: FerretDB
// answers a connection's commands one at a time).
//
// FerretDB 1.24 answers an update command statement by statement, and each statement's query
// holds a connection of its PostgreSQL pool (50 unless --embedded-postgresql-url sets
// pool_max_conns) until the whole command ends (the closer deferred inside the loop of
// handler.updateDocument, msg_update.go), while the statement's write takes another in a
// transaction. A command of 50 updates or replacements or more therefore waited forever for a
// connection it held itself, and every other request of the process waited behind it: the
// three-process backfill bench, with probes 16 at a time (a chunk of 64 mailboxes recorded in
// one bulk write of updates by _id), hung there for its 15 minutes with all 50 connections held
// and 9 requests waiting for one. The same command came from a page of 50 items a mailbox had
// already (a replay or a resync: upsertAll), a directory page of 50 changed users, or a capture
// policy applied to 50 mailboxes. Many commands at once do the same: 50 single updates, each
// holding its query's connection and waiting for its write's (the driver opens up to 100
// connections). So a command holds at most 3 of FerretDB's connections (2 writes: their 2
// queries and a write; a find's open cursor, or a findAndModify, 2), and at most 16 are in
// flight: 48 of the 50 (a third of pool_max_conns where the URL sets it).
const commandStatements = 2

// embeddedConns is how many commands may be in flight to the embedded FerretDB on the
// PostgreSQL database at postgresURL: a third of its pool's connections.
func embeddedConns(postgresURL string) uint64 {
	pool := 50 // FerretDB's default (pool/uri.go)
	if u, err := url.Parse(postgresURL); err == nil {
		if n, err := strconv.Atoi(u.Query().Get("pool_max_conns")); err == nil && n > 0 {
			pool = n
		}
	}
	return uint64(max(1, pool/3))
}

// bulkInCommands is BulkWrite in commands of at most c.statements writes, each admitted by the
// shares in turn, answered as the driver answers one: the counts summed, and the write errors
// (with their indexes in models) of every command, or, ordered, up to the first that failed.
func (c coll) bulkInCommands(ctx context.Context, models []mongo.WriteModel, opts ...options.Lister[options.BulkWriteOptions]) (*mongo.BulkWriteResult, error) {
	var args options.BulkWriteOptions
	for _, o := range opts {
		for _, set := range o.List() {
			if err := set(&args); err != nil {
				return nil, err
			}
		}
	}
	ordered := args.Ordered == nil || *args.Ordered
	total := &mongo.BulkWriteResult{UpsertedIDs: map[int64]any{}, Acknowledged: true}
	var failed *mongo.BulkWriteException
	for from := 0; from < len(models); from += c.statements {
		part := models[from:min(from+c.statements, len(models))]
		res, err := gated(ctx, func() (*mongo.BulkWriteResult, error) { return c.Collection.BulkWrite(ctx, part, opts...) })
		if res != nil {
			total.InsertedCount += res.InsertedCount
			total.MatchedCount += res.MatchedCount
			total.ModifiedCount += res.ModifiedCount
			total.DeletedCount += res.DeletedCount
			total.UpsertedCount += res.UpsertedCount
			for i, id := range res.UpsertedIDs {
				total.UpsertedIDs[i+int64(from)] = id
			}
			total.Acknowledged = total.Acknowledged && res.Acknowledged
		}
		var bwe mongo.BulkWriteException
		switch {
		case errors.As(err, &bwe):
			if failed == nil {
				failed = &mongo.BulkWriteException{}
			}
			for _, we := range bwe.WriteErrors {
				we.Index += from
				failed.WriteErrors = append(failed.WriteErrors, we)
			}
			if bwe.WriteConcernError != nil {
				failed.WriteConcernError = bwe.WriteConcernError
			}
			failed.Labels = append(failed.Labels, bwe.Labels...)
			if ordered {
				return total, *failed
			}
		case err != nil:
			return total, err
		}
	}
	if failed != nil {
		return total, *failed
	}
	return total, nil
}
