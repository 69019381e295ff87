// Package resolvers implements the GraphQL schema. Resolvers are thin: they read arguments,
// call a domain package through the small interfaces declared here, and map the result. The
// Resolver struct is where server.Run injects those dependencies.
package resolvers

import (
	"context"
	"time"

	"github.com/teamaccess/teamaccess/graph"
)

// Resolver is the root resolver.
type Resolver struct {
	// Version and GoVersion describe this build; StartedAt is when the process started.
	Version   string
	GoVersion string
	StartedAt time.Time
	// Storage describes the database.
	DB StorageDescriber
}

// StorageDescriber tells what database the server uses and which installation it holds.
type StorageDescriber interface {
	Storage(ctx context.Context) (*graph.Storage, error)
	Installation(ctx context.Context) (*graph.Installation, error)
}
