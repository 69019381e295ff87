package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// metaCollection holds documents about the database itself: its schema version and the
// installation's identity.
const metaCollection = "meta"

// schemaDocID is the _id of the document that records the schema version.
const schemaDocID = "schema"

// A migration moves the data from version-1 to version. It must be idempotent: a process may
// die after the migration ran and before the version was recorded.
type migration struct {
	version int
	name    string
	up      func(ctx context.Context, db *mongo.Database) error
}

// migrations is the history of the data layout, oldest first. Append only; never edit or
// renumber a migration that has been released.
var migrations = []migration{
	{version: 1, name: "record the installation", up: createInstallation},
	{version: 2, name: "number the change log", up: renumberChanges},
	{version: 3, name: "give leases terms", up: dropUntermedLeases},
	{version: 4, name: "give mailboxes and inbox entries their partition", up: partitionMailboxes},
	{version: 5, name: "give organisations their mailbox generation", up: generateMailboxes},
}

// renumberChanges drops the change log written before its entries were numbered per
// organisation: those entries have no number to resume from, and a subscriber holding one of
// their cursors is told to query afresh. The log only serves resumption, for 7 days.
func renumberChanges(ctx context.Context, db *mongo.Database) error {
	return db.Collection(changeCollection).Drop(ctx)
}

// SchemaVersion is the data layout this build writes.
func SchemaVersion() int { return migrations[len(migrations)-1].version }

// ErrSchemaTooNew reports a database migrated by a newer teamaccess than this one.
var ErrSchemaTooNew = errors.New("database schema is newer than this build")

// migrate runs, in order, every migration newer than the database's recorded version.
func migrate(ctx context.Context, db *mongo.Database, list []migration, log *slog.Logger) error {
	current, err := schemaVersion(ctx, db)
	if err != nil {
		return err
	}
	latest := list[len(list)-1].version
	if current > latest {
		return fmt.Errorf("%w: the database is at schema version %d, this teamaccess knows up to %d; run a newer release", ErrSchemaTooNew, current, latest)
	}
	for _, m := range list {
		if m.version <= current {
			continue
		}
		if err := m.up(ctx, db); err != nil {
			return fmt.Errorf("migration %d (%s): %w", m.version, m.name, err)
		}
		if err := setSchemaVersion(ctx, db, current, m.version); err != nil {
			return fmt.Errorf("migration %d (%s): %w", m.version, m.name, err)
		}
		log.Info("database migrated", "schema_version", m.version, "migration", m.name)
		current = m.version
	}
	return nil
}

// schemaVersion reads the recorded version; 0 for a new database.
func schemaVersion(ctx context.Context, db *mongo.Database) (int, error) {
	var doc struct {
		Version int `bson:"version"`
	}
	err := db.Collection(metaCollection).FindOne(ctx, bson.D{{Key: "_id", Value: schemaDocID}}).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return doc.Version, nil
}

// setSchemaVersion moves the recorded version from one value to the next. If another process
// moved it first, the upsert collides on _id and the start fails rather than skipping ahead.
func setSchemaVersion(ctx context.Context, db *mongo.Database, from, to int) error {
	filter := bson.D{{Key: "_id", Value: schemaDocID}, {Key: "version", Value: from}}
	update := bson.D{{Key: "$set", Value: bson.D{
		{Key: "version", Value: to},
		{Key: "updatedAt", Value: time.Now().UTC()},
	}}}
	_, err := db.Collection(metaCollection).UpdateOne(ctx, filter, update, options.UpdateOne().SetUpsert(true))
	if mongo.IsDuplicateKeyError(err) {
		return fmt.Errorf("schema version changed while migrating (another teamaccess process started at the same time?); start again: %w", err)
	}
	if err != nil {
		return fmt.Errorf("record schema version %d: %w", to, err)
	}
	return nil
}
