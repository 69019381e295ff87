package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
)

// DefaultDatabase is the database name used when none is configured.
const DefaultDatabase = "teamaccess"

// Options says which database to use and how long to wait for it.
type Options struct {
	// URI of a MongoDB deployment. Empty means: start the embedded FerretDB in DataDir.
	URI string
	// Database name within the deployment; DefaultDatabase if empty.
	Database string
	// DataDir holds the embedded database's files. Only used when URI is empty.
	DataDir string
	// PostgreSQLURL, with URI empty, runs the embedded FerretDB on this PostgreSQL database
	// instead of SQLite files: FerretDB filters there, where SQLite scans.
	PostgreSQLURL string
	// ConnectTimeout bounds connecting and the first ping; 10 s if zero.
	ConnectTimeout time.Duration
	// Logger receives the store's own events; slog.Default() if nil.
	Logger *slog.Logger
	// Monitor, if set, sees every command the driver sends (for metrics and tests).
	Monitor *event.CommandMonitor
}

// Store is an open connection to teamaccess's database. It is safe for concurrent use.
type Store struct {
	client   *mongo.Client
	db       *mongo.Database
	embedded *embedded // nil when connected to an external server
	// ferret: the server is FerretDB (embedded, or another process's reached by URI), which
	// decodes a whole collection for a sorted query: the change log is then read by its head.
	ferret bool
	// eqOnly: the embedded FerretDB over PostgreSQL, which hands PostgreSQL (and its indexes)
	// equality filters only: a lookup of a few values is then a few equality queries, not one
	// `$in` that FerretDB answers by reading the whole collection (findEach).
	eqOnly    bool
	log       *slog.Logger
	hosts     string
	changeMu  sync.Mutex       // one change-log writer at a time in this process
	changeSeq map[string]int64 // org -> the last change number this process wrote
	changeQMu sync.Mutex
	changeQ   map[string][]*appendReq // org -> appends waiting for changeMu (AppendChanges)
	// changeShared: another process has written change numbers this one meant to take (a
	// collision), so the log is shared and a write takes its numbers past the head's
	// reservation first (changes_shared.go).
	changeShared bool
	// changeWait bounds a writer's wait for the numbers before its own (changes_shared.go).
	changeWait time.Duration
	headMu     sync.Mutex
	queried    map[string]time.Time // org -> when its change log was last read by a query (changes_head.go)
	// tailed: the store runs the embedded FerretDB over SQLite, and keeps the newest part of
	// each organisation's change log in memory (changes_tail.go).
	tailed  bool
	tailMu  sync.Mutex
	tails   map[string]*changeTail
	tailGen uint64 // raised by every change of the log other than this process's appends
	// tailShared: another client has been seen writing change logs here.
	tailShared bool
	wrote      map[string]int64 // org -> the newest change number this process wrote
	snapMu     sync.Mutex
	snaps      map[string]mailboxSnapshot // org -> its live mailboxes as last read (snapshot.go)
	orgGens    genList[orgGen]            // every organisation's mailbox generation as last listed (snapshot.go)
	conns      genList[TeamAccess]        // every connection as last read (connections.go)
}

// ErrUnreachable reports that the database server could not be reached.
var ErrUnreachable = errors.New("database unreachable")

// ErrInUse reports that the embedded database's directory is held by another process.
var ErrInUse = errors.New("data directory in use")

// ValidateURI checks a MongoDB connection string without connecting. Its error never repeats
// the URI, which may hold a password.
func ValidateURI(uri string) error {
	if uri == "" {
		return errors.New("empty")
	}
	if strings.HasPrefix(uri, "mongodb+srv://") {
		// Parsing a +srv URI resolves its DNS records; checking configuration must not
		// touch the network, so check its shape here and leave the rest to connecting.
		u, err := url.Parse(uri)
		if err != nil || u.Hostname() == "" || u.Port() != "" {
			return errors.New("a mongodb+srv URI needs one host name and no port")
		}
		return nil
	}
	opts := options.Client().ApplyURI(uri)
	if err := opts.Validate(); err != nil {
		return redact(err, uri)
	}
	return nil
}

// Open connects to the database (starting the embedded one if no URI is given), then brings
// the schema up to date: migrations, then indexes. The caller must Close the store.
func Open(ctx context.Context, o Options) (*Store, error) {
	if o.Database == "" {
		o.Database = DefaultDatabase
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	s := &Store{log: o.Logger, changeSeq: map[string]int64{}, changeWait: defaultChangeWait, changeQ: map[string][]*appendReq{}, queried: map[string]time.Time{}, snaps: map[string]mailboxSnapshot{}}
	uri := o.URI
	if uri == "" {
		e, err := startEmbedded(ctx, o.DataDir, o.PostgreSQLURL, o.Logger)
		if err != nil {
			return nil, err
		}
		s.embedded = e
		uri = e.uri
	}
	if err := s.connect(ctx, uri, o); err != nil {
		s.stopEmbedded()
		return nil, err
	}
	if err := s.prepare(ctx); err != nil {
		_ = s.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	s.ferret = s.embedded != nil
	s.eqOnly = s.embedded != nil && !s.embedded.sqlite
	s.tailed, s.tails, s.wrote = s.embedded != nil && s.embedded.sqlite, map[string]*changeTail{}, map[string]int64{}
	if bi, err := s.buildInfo(ctx); err == nil {
		_, s.ferret = bi["ferretdbVersion"]
	}
	return s, nil
}

func (s *Store) connect(ctx context.Context, uri string, o Options) error {
	opts := options.Client().ApplyURI(uri).
		SetServerSelectionTimeout(o.ConnectTimeout).
		SetConnectTimeout(o.ConnectTimeout).
		SetAppName("teamaccess")
	if o.Monitor != nil {
		opts.SetMonitor(o.Monitor)
	}
	if s.embedded != nil && !s.embedded.sqlite {
		opts.SetMaxPoolSize(embeddedConns(s.embedded.postgresURL)) // bulk.go
	}
	if err := opts.Validate(); err != nil {
		return fmt.Errorf("MongoDB URI: %w", redact(err, uri))
	}
	s.hosts = strings.Join(opts.Hosts, ",")
	client, err := mongo.Connect(opts)
	if err != nil {
		return fmt.Errorf("connect to MongoDB at %s: %w", s.hosts, redact(err, uri))
	}
	pingCtx, cancel := context.WithTimeout(ctx, o.ConnectTimeout)
	defer cancel()
	if err := client.Ping(pingCtx, readpref.Primary()); err != nil {
		_ = client.Disconnect(context.WithoutCancel(ctx))
		return fmt.Errorf("cannot reach MongoDB at %s: %w: %w", s.hosts, ErrUnreachable, redact(err, uri))
	}
	s.client = client
	s.db = client.Database(o.Database)
	return nil
}

// prepare runs the migrations and creates the indexes; both are idempotent.
func (s *Store) prepare(ctx context.Context) error {
	if err := migrate(ctx, s.db, migrations, s.log); err != nil {
		return err
	}
	if err := ensureIndexes(ctx, s.db, indexes()); err != nil {
		return err
	}
	if s.embedded != nil {
		if err := s.embedded.pushdownIndexes(ctx, s.db, s.log); err != nil {
			return err
		}
		s.embedded.schemaReady(ctx)
	}
	return s.recordStart(ctx)
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.client.Ping(ctx, readpref.Primary()); err != nil {
		return fmt.Errorf("ping MongoDB at %s: %w: %w", s.hosts, ErrUnreachable, err)
	}
	return nil
}

// Embedded reports whether the store runs the embedded FerretDB.
func (s *Store) Embedded() bool { return s.embedded != nil }

// Hosts names the database server(s) connected to, without credentials.
func (s *Store) Hosts() string { return s.hosts }

// Close disconnects and, for the embedded database, stops it after it has flushed.
func (s *Store) Close(ctx context.Context) error {
	var err error
	if s.client != nil {
		err = s.client.Disconnect(ctx)
	}
	s.stopEmbedded()
	return err
}

func (s *Store) stopEmbedded() {
	if s.embedded != nil {
		s.embedded.stop()
	}
}

// collection returns a collection of teamaccess's database.
func (s *Store) collection(name string) coll { return s.coll(s.db.Collection(name)) }

// coll wraps a collection of the store's database.
func (s *Store) coll(c *mongo.Collection) coll {
	if s.embedded != nil {
		return coll{c, commandStatements}
	}
	return coll{c, 0}
}

// buildInfo asks the server what it is.
func (s *Store) buildInfo(ctx context.Context) (bson.M, error) {
	var info bson.M
	err := s.db.RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Decode(&info)
	if err != nil {
		return nil, fmt.Errorf("buildInfo: %w", err)
	}
	return info, nil
}

// redact removes the URI (and so any password in it) from a driver error.
func redact(err error, uri string) error {
	if err == nil || uri == "" || !strings.Contains(err.Error(), uri) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), uri, "<uri>"))
}

// EmbeddedURI is the embedded server's address, "" when connected to an external one: how a
// second client (another process in tests and tools) reaches the same database.
func (s *Store) EmbeddedURI() string {
	if s.embedded == nil {
		return ""
	}
	return s.embedded.uri
}
