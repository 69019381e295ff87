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

	"github.com/prometheus/client_golang/prometheus"

	"github.com/teamaccess/teamaccess/access"
	"github.com/teamaccess/teamaccess/activities"
	"github.com/teamaccess/teamaccess/auth"
	"github.com/teamaccess/teamaccess/deltasync"
	"github.com/teamaccess/teamaccess/feed"
	"github.com/teamaccess/teamaccess/mailboxes"
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

Send it as "Authorization: Bearer <key>". Create more with the createApiKey mutation or
"teamaccess apikey create".

`, b.Org.Name, b.Org.ID, b.Secret)
	return nil
}

// runServe is the serve command: check the configuration, open the store, answer HTTP until
// ctx ends, then drain and close.
func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	started := time.Now()
	cfg, err := parseConfig(serveCommand, flag.NewFlagSet("", flag.ContinueOnError), args, getenv, stderr, isTerminal(stderr))
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
		PostgreSQLURL:  cfg.embeddedPGURL,
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

	dir := auth.NewDirectory(st)
	if err := bootstrap(ctx, dir, log, stdout); err != nil {
		return err
	}
	ms, err := connectMicrosoft(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer ms.stop()
	changes := feed.New[access.TeamAccess](8)
	mailboxChanges := feed.New[mailboxes.Mailbox](64)
	hub := activities.NewHub(st, activities.HubOptions{Log: log.With("component", "activities")})
	go hub.Run(ctx)
	var mbx *mailboxes.Service
	syncer := deltasync.New(st, ms.client, deltasync.Options{
		Log: log.With("component", "deltasync"), MailFolders: cfg.mailFolders, Backfill: cfg.backfill,
		CaptureBodies: cfg.captureBodies, Interval: cfg.syncInterval,
		Publish: func(string, deltasync.Change) { hub.Poke() },
		Refused: func(ctx context.Context, org, tenant, user string) { mbx.Refused(ctx, org, tenant, user) },
	})
	base, noWebhooks := webhookBase(cfg)
	metrics := newMetrics()
	subs := subscriptions.New(st, ms.client, syncer, subscriptions.Options{
		Log: log.With("component", "subscriptions"), BaseURL: base, Disabled: noWebhooks,
		Counted: func(result string, n int) { metrics.webhooks.WithLabelValues(result).Add(float64(n)) },
	})
	go subs.Run(ctx)
	metrics.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "teamaccess_notification_inbox_pending",
		Help: "Change notifications acknowledged to Graph and not yet worked off (-1 when the store does not answer).",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		n, err := st.PendingInbox(ctx)
		if err != nil {
			return -1
		}
		return float64(n)
	}))
	metrics.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "teamaccess_activity_subscribers",
		Help: "activityChanged subscriptions this process is delivering to.",
	}, func() float64 { return float64(hub.Subscribers()) }))
	if noWebhooks != "" {
		log.Warn(noWebhooks)
	}
	var svc *access.Service
	mbx = mailboxes.New(st, ms.client, dir, mailboxes.Options{
		Log:     log.With("component", "mailboxes"),
		Publish: func(org string, m mailboxes.Mailbox) { mailboxChanges.Publish(org, m) },
		OnCapture: func(ctx context.Context, org string, m mailboxes.Mailbox, captured bool) {
			log.Info("mailbox capture changed", "organization", org, "mailbox", m.ID, "captured", captured)
			ta, err := svc.Status(ctx, org)
			if err != nil || ta.TenantID == nil {
				return
			}
			if captured {
				syncer.SyncSoon(context.WithoutCancel(ctx), org, *ta.TenantID, m.UserID)
			}
			subs.MailboxCaptured(context.WithoutCancel(ctx), org, *ta.TenantID, m.UserID, captured)
		},
	})
	svc = access.New(st, ms.client, dir, access.Options{
		Log:       log.With("component", "access"),
		Publish:   func(org string, ta access.TeamAccess) { changes.Publish(org, ta) },
		OnConnect: discoverSoon(ctx, mbx, log),
		OnDelete: []access.DisconnectHook{func(ctx context.Context, org, _ string, purge bool) error {
			if err := subs.Disconnected(ctx, org); err != nil {
				return err
			}
			if purge {
				return purgeOrganisation(ctx, st.Org(org), syncer, mbx, deltasync.PurgeSettle)
			}
			return mbx.Disconnected(ctx, org, false)
		}},
	})
	d := &deps{
		log: log, store: st, directory: dir, access: svc, metrics: metrics, subs: subs, streams: newStreams(),
		limits: newRateLimiter(cfg.rateLimit, cfg.rateBurst),
	}
	d.graphql = newGraphQLHandler(&resolvers.Resolver{
		Version:        buildVersion(),
		GoVersion:      runtime.Version(),
		StartedAt:      started.UTC(),
		DB:             storageDescriber{st},
		Directory:      dir,
		Access:         svc,
		TeamAccessFeed: changes,
		Mailboxes:      mbx,
		MailboxFeed:    mailboxChanges,
		Activities:     activities.New(st),
		ActivityFeed:   hub,
		Sync:           syncer,
		Notifications:  subs,
		Audit:          dir,
	}, d)
	lead := &leader{st: st, owner: processOwner(), now: time.Now, log: log.With("component", "scheduler")}
	defer func() { // another process takes the jobs over at once
		_ = st.ReleaseLease(context.WithoutCancel(ctx), leaderLease, lead.owner)
	}()
	sched, err := startScheduler(log, lead, []job{
		{name: "record API key use", every: 30 * time.Second, run: dir.FlushUsage, local: true},
		{name: "lead the scheduled jobs", every: leaderEvery, local: true, run: func(ctx context.Context) error {
			if err := lead.claim(ctx); !errors.Is(err, errNotLeader) {
				return err
			}
			return nil // another process leads: nothing to report
		}},
		{name: "re-verify team access", every: cfg.reverifyEvery, run: svc.ReverifyAll},
		{name: "discover users", every: 15 * time.Minute, run: mbx.DiscoverAll},
		{name: "probe mailbox access", every: time.Minute, run: mbx.ProbeAllDue},
		{name: "delta sync", every: time.Minute, run: syncer.SyncDue},
		{name: "prune the change log", every: time.Hour, run: hub.Prune},
		{name: "keep change-notification subscriptions", every: time.Minute, run: subs.Maintain},
		{name: "prune the notification inbox", every: time.Hour, run: subs.Prune},
		{name: "prune consent links", every: time.Hour, run: func(ctx context.Context) error {
			_, err := svc.PruneConsentStates(ctx)
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
		return err
	}
	defer func() {
		if err := sched.Shutdown(); err != nil {
			log.Warn("stopping the scheduler", "err", err)
		}
		flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := dir.FlushUsage(flushCtx); err != nil {
			log.Warn("recording API key use at shutdown", "err", err)
		}
	}()
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
		"storage", describeStorage(st, cfg),
		"startup_ms", time.Since(started).Milliseconds(),
		"version", buildVersion(),
	)
	if st.Embedded() && cfg.embeddedPGURL == "" {
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
	if st.Embedded() && cfg.embeddedPGURL != "" {
		return "embedded FerretDB on PostgreSQL"
	}
	if st.Embedded() {
		dir, _ := filepath.Abs(filepath.Join(cfg.dataDir, "db"))
		return "embedded FerretDB (SQLite) in " + dir
	}
	return "MongoDB at " + st.Hosts()
}
