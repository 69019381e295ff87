package server

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/teamaccess/teamaccess/partition"
	"github.com/teamaccess/teamaccess/store"
)

// config is everything `serve` needs to know, parsed and checked before anything is started or
// written.
type config struct {
	// owner names this process in leases (not a setting: processOwner, set by runServe);
	// partitions is its share of the work, once build has made it (m365 reads how many
	// processes share the app's budgets from it).
	owner           string
	partitions      atomic.Pointer[partition.Table]
	listen          string
	publicURL       *url.URL
	dataDir         string
	mongoURI        string
	embeddedPGURL   string
	mongoDatabase   string
	mongoTimeout    time.Duration
	logLevel        slog.Level
	logFormat       string // "text" or "json"
	shutdownTimeout time.Duration
	rateLimit       float64
	rateBurst       int
	costRestore     float64
	// webhookAllowHosts may receive partners' webhooks though not public, over plain HTTP too.
	webhookAllowHosts []string
	costBucket        int
	auditRetention    time.Duration
	m365              m365Settings
	reverifyEvery     time.Duration
	syncInterval      time.Duration
	syncConcurrency   int
	mailFolders       []string
	backfill          time.Duration
	captureBodies     bool
}

// option is one setting: a flag, the environment variable that sets it when the flag is absent,
// and how to apply a value. The table below is the single source of flags, environment
// variables, help text and defaults.
type option struct {
	flag, env, def, usage string
	apply                 func(c *config, v string) error
}

var serveOptions = append([]option{
	{"listen", "TEAMACCESS_LISTEN", "127.0.0.1:8080",
		"`host:port` to listen on for HTTP (port 0 picks a free port)", applyListen},
	{"public-url", "TEAMACCESS_PUBLIC_URL", "",
		"`URL` at which users, Microsoft and webhooks reach this server (default: http://<listen address>)", applyPublicURL},
	{"shutdown-timeout", "TEAMACCESS_SHUTDOWN_TIMEOUT", "15s",
		"how long to drain requests and subscriptions on SIGINT/SIGTERM (`duration`)", applyShutdownTimeout},
	{"rate-limit", "TEAMACCESS_RATE_LIMIT", "20",
		"sustained GraphQL requests a second allowed per API key (`number`)", applyRateLimit},
	{"rate-burst", "TEAMACCESS_RATE_BURST", "40",
		"requests an API key may send at once above the sustained rate (`number`)", applyRateBurst},
	{"cost-limit", "TEAMACCESS_COST_LIMIT", "1000",
		"query cost points a second restored to each API key's bucket (`number`; see the README's Limits)", applyCostLimit},
	{"cost-bucket", "TEAMACCESS_COST_BUCKET", "10000",
		"query cost points an API key's bucket holds, at least the 5000 one query may cost (`number`)", applyCostBucket},
	{"webhook-allow-hosts", "TEAMACCESS_WEBHOOK_ALLOW_HOSTS", "",
		"hosts partners' webhooks may be delivered to although not public, over http too (`list`, comma-separated, e.g. 127.0.0.1 for a local receiver)", applyWebhookAllowHosts},
	{"audit-retention", "TEAMACCESS_AUDIT_RETENTION", "8760h",
		"how long the audit log keeps an entry (`duration`; 8760h is a year)", applyAuditRetention},
	{"m365-client-id", "TEAMACCESS_M365_CLIENT_ID", "",
		"application (client) `id` of teamaccess's Microsoft Entra app registration; empty runs demo mode against a simulated tenant", applyClientID},
	{"m365-client-secret", "TEAMACCESS_M365_CLIENT_SECRET", "",
		"the app's client `secret` (prefer the environment variable: flags show in process lists)", applyClientSecret},
	{"m365-certificate", "TEAMACCESS_M365_CERTIFICATE", "",
		"`file` with the app's certificate and private key (PEM), instead of a secret", applyCertificate},
	{"m365-cloud", "TEAMACCESS_M365_CLOUD", "global",
		"Microsoft `cloud`: global, usgov, china, or custom (with the two URLs below)", applyCloud},
	{"m365-authority-url", "TEAMACCESS_M365_AUTHORITY_URL", "",
		"identity platform `URL` of a custom cloud", applyAuthorityURL},
	{"m365-graph-url", "TEAMACCESS_M365_GRAPH_URL", "",
		"Microsoft Graph `URL` of a custom cloud, with the version (…/v1.0)", applyGraphURL},
	{"m365-ca-file", "TEAMACCESS_M365_CA_FILE", "",
		"PEM `file` of the certificate authorities a custom cloud's endpoints use", applyCAFile},
	{"consent-redirect-uri", "TEAMACCESS_CONSENT_REDIRECT_URI", "",
		"`URI` registered on the app for the admin-consent answer (default: <public URL>/consent/callback)", applyRedirectURI},
	{"reverify-every", "TEAMACCESS_REVERIFY_EVERY", "1h",
		"how often to check that each tenant still grants access (`duration`)", applyReverify},
	{"sync-interval", "TEAMACCESS_SYNC_INTERVAL", "5m",
		"how often each captured mailbox is delta-synced (`duration`)", applySyncInterval},
	{"sync-concurrency", "TEAMACCESS_SYNC_CONCURRENCY", "8",
		"mailboxes this process syncs at once, whatever asked (the schedule, a capture, a notification); a mailbox's backfill gives its place up after its newest page until every mailbox waiting has had its own (`number`)", applySyncConcurrency},
	{"mail-folders", "TEAMACCESS_MAIL_FOLDERS", "inbox,sentitems",
		"mail folders synced, well-known names or ids (`list`, comma-separated)", applyMailFolders},
	{"graph-concurrency-scope", "TEAMACCESS_GRAPH_CONCURRENCY_SCOPE", "mailbox",
		"what Outlook's 4 concurrent Graph requests are counted over: mailbox (per app and mailbox, as Microsoft's throttling page says) or tenant (4 for the app in each tenant) (`scope`)", applyConcurrencyScope},
	{"backfill", "TEAMACCESS_BACKFILL", "2160h",
		"how far back the first sync reads mail (`duration`; 2160h is 90 days)", applyBackfill},
	{"capture-bodies", "TEAMACCESS_CAPTURE_BODIES", "false",
		"store emails' body previews (`bool`; off: bodies are personal data)", applyCaptureBodies},
}, storeOptions...)

// storeOptions are the settings of every command that opens the store.
var storeOptions = []option{
	{"data-dir", "TEAMACCESS_DATA_DIR", "./data",
		"`directory` for local state, including the embedded database", applyDataDir},
	{"mongodb-uri", "MONGODB_URI", "",
		"MongoDB connection string `URI`; empty starts the embedded FerretDB (SQLite) in the data directory", applyMongoURI},
	{"embedded-postgresql-url", "TEAMACCESS_EMBEDDED_POSTGRESQL_URL", "",
		"with no MongoDB URI, run the embedded FerretDB on this PostgreSQL database (`URL`) instead of SQLite files", applyEmbeddedPostgres},
	{"mongodb-database", "TEAMACCESS_MONGODB_DATABASE", store.DefaultDatabase,
		"MongoDB database `name`", applyMongoDatabase},
	{"mongodb-timeout", "TEAMACCESS_MONGODB_TIMEOUT", "10s",
		"how long to wait for MongoDB at start-up (`duration`)", applyMongoTimeout},
	{"log-level", "TEAMACCESS_LOG_LEVEL", "info",
		"log `level`: debug, info, warn or error", applyLogLevel},
	{"log-format", "TEAMACCESS_LOG_FORMAT", "auto",
		"log `format`: text, json, or auto (text on a terminal, JSON otherwise)", applyLogFormat},
}

// usageError is a mistake in the command line or environment: exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// command describes a subcommand for parseConfig: its settings, and its own flags and
// arguments, which the caller adds to fs and reads from fs after parsing.
type command struct {
	name, args, summary string
	opts                []option
}

// parseConfig reads flags, then environment variables for the flags not given, then defaults.
// It checks every value, and the data directory's usability, without writing anything.
func parseConfig(cmd command, fs *flag.FlagSet, args []string, getenv func(string) string, stderr io.Writer, isTerminal bool) (*config, error) {
	fs.Init(cmd.name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	values := make(map[string]*string, len(cmd.opts))
	for _, o := range cmd.opts {
		values[o.flag] = fs.String(o.flag, o.def, o.usage)
	}
	fs.Usage = func() { printUsage(stderr, cmd, fs) }
	if err := fs.Parse(args); err != nil {
		return nil, flagErr(err)
	}
	if cmd.args == "" && fs.NArg() > 0 {
		return nil, usagef("%s: unexpected argument %q", cmd.name, fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	c := &config{logFormat: "text"}
	sources := map[string]string{}
	for _, o := range cmd.opts {
		v, source := *values[o.flag], "--"+o.flag
		if !set[o.flag] {
			if ev := getenv(o.env); ev != "" {
				v, source = ev, o.env
			} else {
				source = "default of --" + o.flag
			}
		}
		sources[o.flag] = source
		if err := o.apply(c, v); err != nil {
			return nil, usagef("invalid %s: %v", source, err)
		}
	}
	if c.logFormat == "auto" {
		c.logFormat = map[bool]string{true: "text", false: "json"}[isTerminal]
	}
	if err := c.m365.check(); err != nil {
		return nil, usagef("%v", err)
	}
	if c.mongoURI == "" && !store.EmbeddedAvailable {
		return nil, usagef("MONGODB_URI is required: this build has no embedded database (built with -tags noembedded)")
	}
	if err := checkDataDir(c.dataDir); err != nil {
		return nil, usagef("invalid %s %s: %v", sources["data-dir"], c.dataDir, err)
	}
	return c, nil
}

func applyListen(c *config, v string) error {
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return fmt.Errorf("%q is not host:port", v)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q: port must be a number from 0 to 65535", v)
	}
	if host != "" && net.ParseIP(host) == nil && !validHostname(host) {
		return fmt.Errorf("%q: %q is not an IP address or host name", v, host)
	}
	c.listen = v
	return nil
}

func validHostname(h string) bool {
	if len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || strings.Trim(label, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") != "" {
			return false
		}
	}
	return true
}

func applyPublicURL(c *config, v string) error {
	if v == "" {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an absolute http(s) URL", v)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%q: a base URL has no query, fragment or user info", v)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	c.publicURL = u
	return nil
}

// defaultPublicURL is the listen address as a URL, with a wildcard host made concrete.
func defaultPublicURL(listen string) *url.URL {
	host, port, _ := net.SplitHostPort(listen)
	if host == "" || net.ParseIP(host) != nil && net.ParseIP(host).IsUnspecified() {
		host = "localhost"
	}
	return &url.URL{Scheme: "http", Host: net.JoinHostPort(host, port)}
}

func applyDataDir(c *config, v string) error {
	if strings.TrimSpace(v) == "" {
		return errors.New("empty")
	}
	c.dataDir = filepath.Clean(v)
	return nil
}

func applyMongoURI(c *config, v string) error {
	if v == "" {
		return nil
	}
	if err := store.ValidateURI(v); err != nil {
		return err
	}
	c.mongoURI = v
	return nil
}

func applyEmbeddedPostgres(c *config, v string) error {
	if v == "" {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		return errors.New("not a postgres:// URL")
	}
	c.embeddedPGURL = v
	return nil
}

func applyMongoDatabase(c *config, v string) error {
	// MongoDB's naming restrictions: https://www.mongodb.com/docs/manual/reference/limits/
	if v == "" || len(v) > 63 || strings.ContainsAny(v, `/\. "$*<>:|?`) {
		return fmt.Errorf("%q: a database name is 1 to 63 characters without /\\. \"$*<>:|?", v)
	}
	c.mongoDatabase = v
	return nil
}

func applyDuration(dst *time.Duration, v string) error {
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return fmt.Errorf("%q is not a positive duration such as 10s or 1m", v)
	}
	*dst = d
	return nil
}

func applyMongoTimeout(c *config, v string) error    { return applyDuration(&c.mongoTimeout, v) }
func applyShutdownTimeout(c *config, v string) error { return applyDuration(&c.shutdownTimeout, v) }

func applyAuditRetention(c *config, v string) error { return applyDuration(&c.auditRetention, v) }

func applyReverify(c *config, v string) error     { return applyDuration(&c.reverifyEvery, v) }
func applySyncInterval(c *config, v string) error { return applyDuration(&c.syncInterval, v) }
func applyBackfill(c *config, v string) error     { return applyDuration(&c.backfill, v) }

func applyCaptureBodies(c *config, v string) error {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return fmt.Errorf("%q is not true or false", v)
	}
	c.captureBodies = b
	return nil
}

func applyMailFolders(c *config, v string) error {
	c.mailFolders = nil
	for _, f := range strings.Split(v, ",") {
		if f = strings.TrimSpace(f); f != "" {
			if strings.ContainsAny(f, "/?#") {
				return fmt.Errorf("%q is not a folder name or id", f)
			}
			c.mailFolders = append(c.mailFolders, f)
		}
	}
	if len(c.mailFolders) == 0 {
		return errors.New("name at least one folder")
	}
	return nil
}

func applyLogLevel(c *config, v string) error {
	if err := c.logLevel.UnmarshalText([]byte(v)); err != nil {
		return fmt.Errorf("%q is not one of debug, info, warn, error", v)
	}
	return nil
}

func applyLogFormat(c *config, v string) error {
	switch v {
	case "text", "json", "auto":
		c.logFormat = v
		return nil
	}
	return fmt.Errorf("%q is not one of text, json, auto", v)
}

// checkDataDir finds out, without creating or writing anything, whether the data directory
// can be used: it exists and is a writable directory, or it can be created under the nearest
// existing ancestor.
func checkDataDir(dir string) error {
	p := dir
	for {
		fi, err := os.Stat(p)
		if err == nil {
			if !fi.IsDir() {
				if p == dir {
					return errors.New("it is not a directory")
				}
				return fmt.Errorf("%s is not a directory", p)
			}
			if err := writable(p); err != nil {
				return fmt.Errorf("%s is not writable: %w", p, err)
			}
			return nil
		}
		if !errors.Is(err, os.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
			return err
		}
		parent := filepath.Dir(p)
		if parent == p {
			return err
		}
		p = parent
	}
}
