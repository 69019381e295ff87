package server

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"runtime"
	"time"

	"github.com/teamaccess/teamaccess/access"
	"github.com/teamaccess/teamaccess/activities"
	"github.com/teamaccess/teamaccess/attention"
	"github.com/teamaccess/teamaccess/auth"
	"github.com/teamaccess/teamaccess/deltasync"
	"github.com/teamaccess/teamaccess/feed"
	"github.com/teamaccess/teamaccess/lifecycle"
	"github.com/teamaccess/teamaccess/mailboxes"
	"github.com/teamaccess/teamaccess/outbound"
	"github.com/teamaccess/teamaccess/partition"
	"github.com/teamaccess/teamaccess/privacy"
	"github.com/teamaccess/teamaccess/resolvers"
	"github.com/teamaccess/teamaccess/store"
	"github.com/teamaccess/teamaccess/subscriptions"
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

var serveCommand = command{name: "serve", summary: "Run the teamaccess service.", opts: serveOptions}

// bootstrap gives a new installation its first organisation and admin key and shows the key on
// stdout, once ever: never in the log, which may be collected elsewhere.
func bootstrap(ctx context.Context, dir *auth.Directory, log *slog.Logger, stdout io.Writer) error {
	b, err := dir.Bootstrap(ctx)
	if err != nil {
		return fmt.Errorf("first start: %w", err)
	}
	if b == nil {
		return nil
	}
	log.Info("first start: created the default organization and its first admin key",
		"organization", b.Org.ID, "api_key", b.Key.Prefix())
	fmt.Fprintf(stdout, `
First start: created the organization %q (%s) and its first admin API key.
The key is shown this once; teamaccess keeps only its hash. Store it now:

    %s

Send it as "Authorization: Bearer <key>". Create more on the admin page (API keys) or with the
createApiKey mutation (GraphiQL at /graphiql), signed in with this key; "teamaccess apikey
create" works only while the service is stopped, or when it uses an external MongoDB.

`, b.Org.Name, b.Org.ID, b.Secret)
	return nil
}

// runServe is the serve command: check the configuration, open the store, build the service,
// schedule its jobs and answer HTTP until ctx ends, then drain and close, in that order: the
// background work is joined before Microsoft's client and the store close.
func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	started := time.Now()
	cfg, err := parseConfig(serveCommand, flag.NewFlagSet("", flag.ContinueOnError), args, getenv, stderr, isTerminal(stderr))
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.logFormat, cfg.logLevel)
	cfg.owner = processOwner()
	// Bind first: a port in use fails before anything is written to the data directory.
	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.listen, err)
	}
	defer ln.Close()
	if cfg.publicURL == nil {
		cfg.publicURL = defaultPublicURL(ln.Addr().String())
	}
	st, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer closeStore(ctx, st, log)
	dir := auth.NewDirectory(st)
	if err := bootstrap(ctx, dir, log, stdout); err != nil {
		return err
	}
	ms, err := connectMicrosoft(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer ms.stop()
	background, stopBackground := context.WithCancel(ctx)
	group := lifecycle.NewGroup(background)
	defer group.Wait() // after stopBackground: deferred calls run last first
	defer stopBackground()
	svc := build(cfg, st, dir, ms, group, log)
	stopJobs, err := schedule(ctx, cfg, svc)
	if err != nil {
		return err
	}
	defer stopJobs()
	return serve(ctx, cfg, ln, svc.deps, started)
}

func openStore(ctx context.Context, cfg *config, log *slog.Logger) (*store.Store, error) {
	st, err := store.Open(ctx, store.Options{
		URI:            cfg.mongoURI,
		Database:       cfg.mongoDatabase,
		DataDir:        cfg.dataDir,
		PostgreSQLURL:  cfg.embeddedPGURL,
		ConnectTimeout: cfg.mongoTimeout,
		Logger:         log.With("component", "store"),
	})
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	return st, nil
}

func closeStore(ctx context.Context, st *store.Store, log *slog.Logger) {
	if err := st.Close(context.WithoutCancel(ctx)); err != nil {
		log.Warn("closing the store", "err", err)
	}
	log.Info("store closed")
}

// parts are the service's parts, as build wires them.
type parts struct {
	deps   *deps
	group  *lifecycle.Group
	hub    *activities.Hub
	syncer *deltasync.Syncer
	subs   *subscriptions.Service
	mbx    *mailboxes.Service
	// privacy is the capture policies, erasure and retention.
	privacy *privacy.Service
	// hooks delivers partners' webhooks.
	hooks *outbound.Service
}

// build wires the domain packages to each other (through the lifecycle), to Microsoft and to
// the store, and starts the loops that run for as long as the service does, in group.
func build(cfg *config, st *store.Store, dir *auth.Directory, ms *microsoft, group *lifecycle.Group, log *slog.Logger) *parts {
	lc := lifecycle.New(group, st, deltasync.PurgeSettle, log.With("component", "lifecycle"))
	changes := feed.New[access.TeamAccess](8)
	mailboxChanges := feed.New[mailboxes.Mailbox](64)
	hub := activities.NewHub(st, activities.HubOptions{Log: log.With("component", "activities")})
	metrics := newMetrics()
	pol := privacy.New(st, privacy.Options{Log: log.With("component", "privacy"), Audit: dir, Go: group.Go,
		Excluded: func(rule string, n int) { metrics.excluded.WithLabelValues(rule).Add(float64(n)) }})
	// The Graph work is shared by the live processes, by partition (package partition).
	table := partition.New(st, partition.Options{Owner: cfg.owner, Log: log.With("component", "partitions"), Dead: stoppedOwner,
		Changed: func(held []int) { metrics.partitions.Set(float64(len(held))) }})
	first, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	if err := table.Pass(first); err != nil { // before the jobs start, so that the first runs find their share
		log.Warn("taking partitions", "err", err)
	}
	cancel()
	cfg.partitions.Store(table)
	group.Go(table.Run)
	var subs *subscriptions.Service // made below, with the syncer
	syncer := deltasync.New(st, ms.client, deltasync.Options{Partitions: table,
		Log: log.With("component", "deltasync"), MailFolders: cfg.mailFolders, Backfill: cfg.backfill,
		CaptureBodies: cfg.captureBodies, Interval: cfg.syncInterval, Concurrency: cfg.syncConcurrency, Rounds: cfg.syncConcurrency, Go: group.Go, Refused: lc.Refused,
		Publish: func(string, deltasync.Change) { hub.Poke() }, Policy: pol,
		Covered: func(ctx context.Context, orgID string) (map[string]bool, error) { return subs.Covered(ctx, orgID) },
	})
	base, noWebhooks := webhookBase(cfg)
	if noWebhooks != "" {
		log.Warn(noWebhooks)
	}
	subs = subscriptions.New(st, ms.client, syncer, subscriptions.Options{Partitions: table,
		Log: log.With("component", "subscriptions"), BaseURL: base, Disabled: noWebhooks,
		Counted: func(result string, n int) { metrics.webhooks.WithLabelValues(result).Add(float64(n)) },
	})
	metrics.watch(st, hub)
	var issues *issueWatch // a mailbox's change may be an issue's: set below, before anything runs
	mbx := mailboxes.New(st, ms.client, dir, mailboxes.Options{Partitions: table, Concurrency: probesInFlight(cfg),
		Log: log.With("component", "mailboxes"), OnCapture: lc.CaptureChanged,
		Publish: publishMailbox(mailboxChanges, st, hub, log, cfg.owner, func(org string) { issues.Poke(org) }),
	})
	svc := access.New(st, ms.client, dir, access.Options{Tenant: table.Tenant,
		Log: log.With("component", "access"),
		Publish: func(ctx context.Context, org string, ta access.TeamAccess) {
			changes.Publish(org, ta)
			logChange(ctx, st, hub, log, org, store.Change{Type: store.ChangeTeamAccess, Origin: cfg.owner})
		},
		OnConnect: lc.Connected, OnDelete: []access.DisconnectHook{lc.Disconnecting},
	})
	lc.Attach(lifecycle.Parts{Discovery: mbx, Sync: syncer, Notifications: subs})
	group.Go(hub.Run)
	group.Go(subs.Run)
	d := &deps{
		log: log, store: st, directory: dir, access: svc, metrics: metrics, subs: subs, streams: newStreams(),
		limits: newRateLimiter(cfg.rateLimit, cfg.rateBurst),
		costs:  newCostLimiter(cfg.costRestore, cfg.costBucket),
	}
	res := &resolvers.Resolver{
		Version: buildVersion(), GoVersion: runtime.Version(), StartedAt: time.Now().UTC(), DB: storageDescriber{st}, DemoMode: ms.sim != nil,
		Directory: dir, Access: svc, TeamAccessFeed: changes, Mailboxes: mbx, MailboxFeed: mailboxChanges,
		Activities: activities.New(st), ActivityFeed: hub, Sync: syncer, Notifications: subs, Audit: dir, Privacy: pol,
	}
	// Partners' webhooks run their subscription documents through the same resolvers.
	hooks := outbound.New(st, newWebhookExec(res, hub, log, metrics), outbound.Options{
		Guard: outbound.NewGuard(webhookAllowHosts(cfg)), Audit: dir, Log: log.With("component", "webhooks"), Owner: cfg.owner,
		Observe: metrics.observeWebhookAttempt,
	})
	res.Webhooks = hooks
	metrics.watchWebhooks(hooks.TotalBacklog)
	group.Go(hooks.Run)
	att := attention.New(st, nil)
	res.Attention = att
	issues = newIssueWatch(att, svc.Status, changes, log)
	group.Go(issues.Run)
	group.Go((&relay{owner: cfg.owner, hub: hub, mailboxes: mailboxChanges, teamAccess: changes, mailbox: mbx.Get, status: svc.Status,
		changed: issues.Poke, log: log.With("component", "relay")}).Run)
	d.graphql = newGraphQLHandler(res, d)
	return &parts{deps: d, group: group, hub: hub, syncer: syncer, subs: subs, mbx: mbx, privacy: pol, hooks: hooks}
}

// schedule starts the scheduled jobs; stop ends them, hands the leader lease over and records
// the last API key use.
func schedule(ctx context.Context, cfg *config, svc *parts) (stop func(), err error) {
	d := svc.deps
	log, st, dir := d.log, d.store, d.directory
	lead := &leader{lease: store.NewLease(st, leaderLease, cfg.owner, leaderFor), now: time.Now, log: log.With("component", "scheduler")}
	sched, err := startScheduler(log, lead, []job{
		{name: "record API key use", every: 30 * time.Second, run: dir.FlushUsage, local: true},
		{name: "lead the scheduled jobs", every: leaderEvery, local: true, run: func(ctx context.Context) error {
			if err := lead.claim(ctx); !errors.Is(err, errNotLeader) {
				return err
			}
			return nil // another process leads: nothing to report
		}},
		// The Graph work runs in every process, each on the mailboxes and tenants of its
		// partitions; often, so that a partition just taken over is worked on soon.
		{name: "re-verify team access", every: cfg.reverifyEvery, run: d.access.ReverifyAll, local: true},
		// Twice a second: a consent another process took is discovered within half a second
		// by the holder of its tenant's partition (one read of the connections'
		// generation a pass while none changed: store/connections.go).
		{name: "discover users", every: 500 * time.Millisecond, run: svc.mbx.DiscoverAll, local: true},
		// Twice a second: the mailboxes another process discovered are probed here, where
		// their partitions are held, within half a second (one read of the mailboxes'
		// generation a pass while none changed, however many organisations: store/snapshot.go).
		// Four times a second cost 4-5 ms of CPU a process a second more than once (idle, 15 s).
		{name: "probe mailbox access", every: 500 * time.Millisecond, run: svc.mbx.ProbeAllDue, local: true},
		{name: "delta sync", every: 15 * time.Second, run: svc.syncer.SyncDue, local: true},
		{name: "keep change-notification subscriptions", every: time.Minute, run: svc.subs.Maintain, local: true},
		{name: "prune the change log", every: time.Hour, run: svc.hub.Prune},
		{name: "prune the notification inbox", every: time.Hour, run: svc.subs.Prune},
		{name: "prune the webhook delivery log", every: time.Hour, run: svc.hooks.Prune},
		{name: "enforce retention", every: 10 * time.Minute, run: func(ctx context.Context) error {
			n, err := svc.privacy.EnforceRetention(ctx)
			if n > 0 {
				log.Info("retention enforced", "removed", n)
			}
			return err
		}},
		{name: "prune consent links", every: time.Hour, run: func(ctx context.Context) error {
			_, err := d.access.PruneConsentStates(ctx)
			return err
		}},
		{name: "prune audit log", every: time.Hour, run: func(ctx context.Context) error {
			n, err := dir.PruneAudit(ctx, cfg.auditRetention)
			if n > 0 {
				log.Info("audit log pruned", "deleted", n, "retention", cfg.auditRetention.String())
			}
			return err
		}},
	})
	if err != nil {
		return nil, err
	}
	return func() {
		if err := sched.Shutdown(); err != nil {
			log.Warn("stopping the scheduler", "err", err)
		}
		final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = lead.lease.Release(final) // another process takes the jobs over at once
		if err := dir.FlushUsage(final); err != nil {
			log.Warn("recording API key use at shutdown", "err", err)
		}
	}, nil
}

// serve answers HTTP on ln until ctx ends, then drains.
func serve(ctx context.Context, cfg *config, ln net.Listener, d *deps, started time.Time) error {
	log := d.log
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
		"admin_page", url+"/",
		"graphiql", url+"/graphiql",
		"public_url", cfg.publicURL.String(),
		"storage", describeStorage(d.store, cfg),
		"startup_ms", time.Since(started).Milliseconds(),
		"version", buildVersion(),
	)
	if d.store.Embedded() && cfg.embeddedPGURL == "" {
		log.Warn("the embedded database scans whole collections on every query: fine for demos, tests and trials; set MONGODB_URI for real tenants")
	}

	select {
	case err := <-served:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	err := shutdown(context.WithoutCancel(ctx), srv, d, cfg.shutdownTimeout)
	<-served // Serve has returned ErrServerClosed: its goroutine is done
	return err
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
	if st.Embedded() && cfg.embeddedPGURL != "" {
		return "embedded FerretDB on PostgreSQL"
	}
	if st.Embedded() {
		dir, _ := filepath.Abs(filepath.Join(cfg.dataDir, "db"))
		return "embedded FerretDB (SQLite) in " + dir
	}
	return "MongoDB at " + st.Hosts()
}

// webhookAllowHosts are the hosts that may receive webhooks though not public: the operator's,
// and in demo mode, with none given, this machine's (for a receiver run beside the demo).
func webhookAllowHosts(cfg *config) []string {
	if len(cfg.webhookAllowHosts) == 0 && cfg.m365.demo() {
		return []string{"127.0.0.1", "::1", "localhost"}
	}
	return cfg.webhookAllowHosts
}
