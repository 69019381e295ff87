//go:build noembedded

package store

import (
	"context"
	"errors"
	"log/slog"

	"go.mongodb.org/mongo-driver/v2/mongo"
)

// EmbeddedAvailable reports whether this build can start the embedded database. This build
// (tag `noembedded`) cannot: it needs a MongoDB URI.
const EmbeddedAvailable = false

type embedded struct {
	uri         string
	sqlite      bool
	postgresURL string
}

func startEmbedded(context.Context, string, string, *slog.Logger) (*embedded, error) {
	return nil, errors.New("this build has no embedded database (built with -tags noembedded): set MONGODB_URI")
}

func (*embedded) stop() {}

func (*embedded) pushdownIndexes(context.Context, *mongo.Database, *slog.Logger) error { return nil }

func (*embedded) schemaReady(context.Context) {}
