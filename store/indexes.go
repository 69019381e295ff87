package store

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"go.mongodb.org/mongo-driver/v2/mongo"
)

// indexes lists, per collection, the indexes the store's queries rely on. Each index is named
// explicitly, so that a changed definition fails loudly at start-up (MongoDB refuses a
// different index under an existing name) instead of silently piling up a second index. Keep
// to unique and compound indexes: FerretDB ignores `sparse` and rejects partial and TTL ones.
var indexes = map[string][]mongo.IndexModel{}

// ensureIndexes creates any missing index. Creating an index that already exists with the same
// definition is a no-op, so this runs on every start.
func ensureIndexes(ctx context.Context, db *mongo.Database, specs map[string][]mongo.IndexModel) error {
	for _, coll := range slices.Sorted(maps.Keys(specs)) {
		models := specs[coll]
		if len(models) == 0 {
			continue
		}
		if _, err := db.Collection(coll).Indexes().CreateMany(ctx, models); err != nil {
			return fmt.Errorf("create indexes on %s: %w", coll, err)
		}
	}
	return nil
}
