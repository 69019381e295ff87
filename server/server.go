package server

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"github.com/teamaccess/teamaccess/access"
	"github.com/teamaccess/teamaccess/auth"
	"github.com/teamaccess/teamaccess/graph"
	"github.com/teamaccess/teamaccess/resolvers"
	"github.com/teamaccess/teamaccess/store"
	"github.com/teamaccess/teamaccess/subscriptions"
)

// deps is what the routes need. server.Run builds it once.
type deps struct {
	log       *slog.Logger
	store     *store.Store
	directory *auth.Directory
	access    *access.Service
	metrics   *metrics
	streams   *streams
	limits    *rateLimiter
	// costs limits each key by the cost of its operations; nil for none.
	costs   *costLimiter
	graphql http.Handler
	// subs takes Graph's change notifications in; nil in tests without webhooks.
	subs *subscriptions.Service
	// loaderWait is how long dataloaders gather keys (2 ms if zero; tests lengthen it so
	// that batching does not depend on the scheduler).
	loaderWait time.Duration
	// keepAlive is how often quiet websockets and event streams are pinged; 15 s if zero.
	keepAlive time.Duration
	// budget is a query's or mutation's time budget; requestBudget if zero.
	budget time.Duration
	// orgRunning is how many queries and mutations of one organization run at once;
	// orgRunning() if zero.
	orgRunning int
	// websocket replaces the websocket transport; the fan-out benchmark's baseline runs
	// gqlgen's own there.
	websocket graphql.Transport
}

// newHandler builds the HTTP handler of the whole service.
func newHandler(d *deps) http.Handler {
	mux := http.NewServeMux()
	addRoutes(mux, d)
	return mux
}

// storageDescriber shows the store to the resolvers in GraphQL's terms.
type storageDescriber struct{ s *store.Store }

var _ resolvers.StorageDescriber = storageDescriber{}

// Storage implements resolvers.StorageDescriber.
func (d storageDescriber) Storage(ctx context.Context) (*graph.Storage, error) {
	info, err := d.s.Info(ctx)
	if err != nil {
		return nil, err
	}
	return &graph.Storage{
		Engine:        graph.StorageEngine(info.Engine),
		ServerVersion: info.ServerVersion,
		Embedded:      info.Embedded,
		Database:      info.Database,
		SchemaVersion: info.SchemaVersion,
	}, nil
}

// Installation implements resolvers.StorageDescriber.
func (d storageDescriber) Installation(ctx context.Context) (*graph.Installation, error) {
	in, err := d.s.Installation(ctx)
	if err != nil {
		return nil, err
	}
	return &graph.Installation{ID: in.ID, CreatedAt: in.CreatedAt, Starts: in.Starts}, nil
}
