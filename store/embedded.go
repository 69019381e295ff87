//go:build !noembedded

package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
	"github.com/jackc/pgx/v5"
)

// EmbeddedAvailable reports whether this build can start the embedded database. Builds with
// the `noembedded` tag leave FerretDB (and its many dependencies) out.
const EmbeddedAvailable = true

// embedded is a FerretDB with the SQLite backend, running in this process on a loopback port
// it picked, with its files in the data directory.
type embedded struct {
	uri    string
	sqlite bool // on SQLite files, which only this process opens (not PostgreSQL)
	// postgresURL is the PostgreSQL database FerretDB runs on ("" on SQLite); pg holds the
	// schema lock on it while the store prepares the schema (lockSchema).
	postgresURL string
	pg          *pgx.Conn
	cancel      context.CancelFunc
	done        chan struct{}
	lock        *os.File
}

// startEmbedded locks the data directory (two processes must not share its SQLite files),
// then starts FerretDB in it: on SQLite files there, or on the PostgreSQL database postgresURL
// names.
// ferretStart serialises the start of embedded databases in one process (tests open several).
var ferretStart sync.Mutex

func startEmbedded(ctx context.Context, dataDir, postgresURL string, log *slog.Logger) (*embedded, error) {
	if dataDir == "" {
		return nil, errors.New("embedded database: no data directory")
	}
	dbDir := filepath.Join(dataDir, "db")
	if err := os.MkdirAll(dbDir, 0o700); err != nil {
		return nil, fmt.Errorf("embedded database: %w", err)
	}
	lock, err := lockDir(dataDir)
	if err != nil {
		return nil, err
	}
	absDir, err := filepath.Abs(dbDir)
	if err != nil {
		_ = lock.Close()
		return nil, fmt.Errorf("embedded database: %w", err)
	}
	cfg := &ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: "127.0.0.1:0"},
		Handler:   "sqlite",
		SQLiteURL: "file:" + absDir + "/",
		// FerretDB logs every error reply as a wire dump at WARN; keep only its errors.
		Logger: slog.New(minLevel{log.Handler(), slog.LevelError}).With("component", "ferretdb"),
	}
	if postgresURL != "" {
		cfg.Handler, cfg.SQLiteURL, cfg.PostgreSQLURL = "postgresql", "", postgresURL
	}
	e := &embedded{done: make(chan struct{}), lock: lock, sqlite: postgresURL == "", postgresURL: postgresURL}
	if postgresURL != "" {
		if err := e.lockSchema(ctx); err != nil {
			_ = lock.Close()
			return nil, err
		}
	}
	ferretStart.Lock() // ferretdb.New writes a package variable of FerretDB's
	f, err := ferretdb.New(cfg)
	ferretStart.Unlock()
	if err != nil {
		e.schemaReady(ctx)
		_ = lock.Close()
		return nil, fmt.Errorf("embedded database: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	e.cancel = cancel
	go func() {
		defer close(e.done)
		_ = f.Run(runCtx)
	}()
	e.uri = f.MongoDBURI()
	return e, nil
}

// stop shuts FerretDB down, waits until it has closed its SQLite files, and unlocks the
// directory.
func (e *embedded) stop() {
	e.schemaReady(context.Background())
	e.cancel()
	<-e.done
	_ = e.lock.Close()
}

// lockDir takes an exclusive advisory lock on DIR/teamaccess.lock. The kernel releases it
// when the process exits, however it exits.
func lockDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, "teamaccess.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock data directory: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("data directory %s is in use by another teamaccess process: %w", dir, ErrInUse)
		}
		return nil, fmt.Errorf("lock data directory: %w", err)
	}
	return f, nil
}
