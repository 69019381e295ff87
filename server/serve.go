package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"runtime"
	"time"

	"github.com/teamaccess/teamaccess/resolvers"
	"github.com/teamaccess/teamaccess/store"
)

// Timeouts of the HTTP server. Websockets and event streams are exempt from the read and write
// timeouts (see streams.track).
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 60 * time.Second
	idleTimeout       = 120 * time.Second
	maxHeaderBytes    = 64 << 10
)

// runServe is the serve command: check the configuration, open the store, answer HTTP until
// ctx ends, then drain and close.
func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	started := time.Now()
	cfg, err := parseConfig("serve", args, getenv, stderr, isTerminal(stderr))
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.logFormat, cfg.logLevel)

	// Bind first: a port in use fails before anything is written to the data directory.
	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.listen, err)
	}
	defer ln.Close()
	if cfg.publicURL == nil {
		cfg.publicURL = defaultPublicURL(ln.Addr().String())
	}

	st, err := store.Open(ctx, store.Options{
		URI:            cfg.mongoURI,
		Database:       cfg.mongoDatabase,
		DataDir:        cfg.dataDir,
		ConnectTimeout: cfg.mongoTimeout,
		Logger:         log.With("component", "store"),
	})
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer func() {
		if err := st.Close(context.WithoutCancel(ctx)); err != nil {
			log.Warn("closing the store", "err", err)
		}
		log.Info("store closed")
	}()

	d := &deps{log: log, store: st, metrics: newMetrics(), streams: newStreams()}
	d.graphql = newGraphQLHandler(&resolvers.Resolver{
		Version:   buildVersion(),
		GoVersion: runtime.Version(),
		StartedAt: started.UTC(),
		DB:        storageDescriber{st},
	}, log, d.metrics)
	srv := &http.Server{
		Handler:           newHandler(d),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	url := "http://" + ln.Addr().String()
	log.Info("teamaccess is ready",
		"listen", url,
		"graphql", url+"/graphql",
		"graphiql", url+"/graphiql",
		"public_url", cfg.publicURL.String(),
		"storage", describeStorage(st, cfg),
		"startup_ms", time.Since(started).Milliseconds(),
		"version", buildVersion(),
	)
	if st.Embedded() {
		log.Warn("the embedded database scans whole collections on every query: fine for demos, tests and trials; set MONGODB_URI for real tenants")
	}

	select {
	case err := <-served:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	return shutdown(context.WithoutCancel(ctx), srv, d, cfg.shutdownTimeout)
}

// shutdown stops accepting connections, lets requests in flight finish, closes websockets and
// event streams, all within timeout.
func shutdown(ctx context.Context, srv *http.Server, d *deps, timeout time.Duration) error {
	d.log.Info("shutting down", "timeout", timeout.String())
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	streamsClosed := make(chan error, 1)
	go func() { streamsClosed <- d.streams.closeAll(ctx) }()
	err := srv.Shutdown(ctx)
	if serr := <-streamsClosed; err == nil {
		err = serr
	}
	if errors.Is(err, context.DeadlineExceeded) {
		d.log.Warn("shutdown timed out; closing the remaining connections")
		_ = srv.Close()
		return nil
	}
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	d.log.Info("http server stopped")
	return nil
}

// describeStorage says in a few words where the data goes, without credentials.
func describeStorage(st *store.Store, cfg *config) string {
	if st.Embedded() {
		dir, _ := filepath.Abs(filepath.Join(cfg.dataDir, "db"))
		return "embedded FerretDB (SQLite) in " + dir
	}
	return "MongoDB at " + st.Hosts()
}
