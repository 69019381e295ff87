package server

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/teamaccess/teamaccess/auth"
	"github.com/teamaccess/teamaccess/errkind"
	"github.com/teamaccess/teamaccess/store"
)

// runAdmin opens the store as `serve` would and hands a directory to an administrative
// subcommand. With the embedded database, the service must be stopped first: only one process
// may use a data directory.
func runAdmin(ctx context.Context, cmd command, fs *flag.FlagSet, args []string, getenv func(string) string, stderr io.Writer,
	act func(ctx context.Context, dir *auth.Directory) error) error {
	cfg, err := parseConfig(cmd, fs, args, getenv, stderr, isTerminal(stderr))
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.logFormat, max(cfg.logLevel, slog.LevelWarn))
	st, err := store.Open(ctx, store.Options{
		URI: cfg.mongoURI, Database: cfg.mongoDatabase, DataDir: cfg.dataDir, PostgreSQLURL: cfg.embeddedPGURL,
		ConnectTimeout: cfg.mongoTimeout, Logger: log,
	})
	if err != nil {
		if errors.Is(err, store.ErrInUse) {
			return fmt.Errorf("open store: %w\nThe service is running on this data directory's embedded database, which only one process may open. "+
				"While it runs, manage API keys on the admin page (API keys) or through the API: the createApiKey and revokeApiKey mutations and the apiKeys query "+
				"(GraphiQL at /graphiql, signed in with an admin key); or stop the service first", err)
		}
		return fmt.Errorf("open store: %w", err)
	}
	defer st.Close(context.WithoutCancel(ctx))
	return act(ctx, auth.NewDirectory(st))
}

// pickOrg returns the organisation named by --org, or the only one there is.
func pickOrg(ctx context.Context, dir *auth.Directory, flagged string) (auth.Organization, error) {
	if flagged != "" {
		org, err := dir.Organization(ctx, flagged)
		if err != nil {
			return auth.Organization{}, usagef("--org %s: no such organization", flagged)
		}
		return org, nil
	}
	orgs, err := dir.Organizations(ctx)
	if err != nil {
		return auth.Organization{}, err
	}
	switch len(orgs) {
	case 0:
		return auth.Organization{}, usagef("there is no organization yet: start `teamaccess serve` once, or run `teamaccess org create NAME`")
	case 1:
		return orgs[0], nil
	}
	ids := make([]string, len(orgs))
	for i, o := range orgs {
		ids[i] = fmt.Sprintf("%s (%s)", o.ID, o.Name)
	}
	return auth.Organization{}, usagef("there are %d organizations; name one with --org: %s", len(orgs), strings.Join(ids, ", "))
}

func runAPIKey(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return usagef("apikey needs a subcommand: create, list or revoke")
	}
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	org := fs.String("org", "", "organization `id` (default: the only organization)")
	switch args[0] {
	case "create":
		name := fs.String("name", "", "the key's `name`, e.g. who or what uses it (required)")
		role := fs.String("role", "READER", "`role`: ADMIN or READER")
		expiresIn := fs.Duration("expires-in", 0, "expire the key after this `duration`, e.g. 720h (default: never)")
		origins := fs.String("allowed-origins", "", "limit the key to these web `origins`, comma-separated, e.g. https://app.example.com (for a key a browser holds)")
		cmd := command{name: "apikey create", summary: "Create an API key and print its secret, once.", opts: storeOptions}
		return runAdmin(ctx, cmd, fs, args[1:], getenv, stderr, func(ctx context.Context, dir *auth.Directory) error {
			r, err := auth.ParseRole(*role)
			if err != nil {
				return usagef("--role: %v", err)
			}
			o, err := pickOrg(ctx, dir, *org)
			if err != nil {
				return err
			}
			var exp *time.Time
			if *expiresIn < 0 {
				return usagef("--expires-in must be positive")
			}
			if *expiresIn > 0 {
				t := time.Now().Add(*expiresIn)
				exp = &t
			}
			var allowed []string
			for o := range strings.SplitSeq(*origins, ",") {
				if o = strings.TrimSpace(o); o != "" {
					allowed = append(allowed, o)
				}
			}
			k, secret, err := dir.CreateKey(ctx, auth.CommandLine(o.ID), auth.NewKey{Name: *name, Role: r, ExpiresAt: exp, AllowedOrigins: allowed})
			if err != nil {
				return usagef("%v", cause(err))
			}
			fmt.Fprintf(stderr, "Created %s key %q (%s) in %s. The secret is shown this once:\n", k.Role, k.Name, k.ID, o.Name)
			fmt.Fprintln(stdout, secret)
			return nil
		})
	case "list":
		cmd := command{name: "apikey list", summary: "List an organization's API keys.", opts: storeOptions}
		return runAdmin(ctx, cmd, fs, args[1:], getenv, stderr, func(ctx context.Context, dir *auth.Directory) error {
			o, err := pickOrg(ctx, dir, *org)
			if err != nil {
				return err
			}
			keys, err := dir.Keys(ctx, o.ID)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tPREFIX\tNAME\tROLE\tSTATUS\tCREATED\tEXPIRES\tLAST USED")
			now := time.Now()
			for _, k := range keys {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Prefix(), k.Name, k.Role, k.Status(now),
					k.CreatedAt.Format(time.RFC3339), timeOrDash(k.ExpiresAt), timeOrDash(k.LastUsedAt))
			}
			return tw.Flush()
		})
	case "revoke":
		cmd := command{name: "apikey revoke", args: "KEY_ID", summary: "Revoke an API key (its ID, prefix, or the whole secret).", opts: storeOptions}
		return runAdmin(ctx, cmd, fs, args[1:], getenv, stderr, func(ctx context.Context, dir *auth.Directory) error {
			if fs.NArg() != 1 {
				return usagef("apikey revoke needs exactly one key ID")
			}
			o, err := pickOrg(ctx, dir, *org)
			if err != nil {
				return err
			}
			k, err := dir.RevokeKey(ctx, auth.CommandLine(o.ID), fs.Arg(0))
			if err != nil {
				return usagef("%s: no such key in %s", fs.Arg(0), o.Name)
			}
			fmt.Fprintf(stdout, "Revoked %s key %q (%s) at %s.\n", k.Role, k.Name, k.ID, k.RevokedAt.Format(time.RFC3339))
			fmt.Fprintln(stderr, "A running service refuses it within "+auth.DefaultCacheTTL.String()+".")
			return nil
		})
	}
	return usagef("unknown apikey subcommand %q: use create, list or revoke", args[0])
}

func runOrg(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return usagef("org needs a subcommand: create or list")
	}
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	switch args[0] {
	case "create":
		cmd := command{name: "org create", args: "NAME", summary: "Create an organization; then give it keys with `teamaccess apikey create --org ID`.", opts: storeOptions}
		return runAdmin(ctx, cmd, fs, args[1:], getenv, stderr, func(ctx context.Context, dir *auth.Directory) error {
			if fs.NArg() != 1 {
				return usagef("org create needs exactly one name (quote it if it has spaces)")
			}
			o, err := dir.CreateOrganization(ctx, fs.Arg(0))
			if err != nil {
				return usagef("%v", cause(err))
			}
			fmt.Fprintln(stdout, o.ID)
			return nil
		})
	case "list":
		cmd := command{name: "org list", summary: "List the organizations.", opts: storeOptions}
		return runAdmin(ctx, cmd, fs, args[1:], getenv, stderr, func(ctx context.Context, dir *auth.Directory) error {
			orgs, err := dir.Organizations(ctx)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tCREATED")
			for _, o := range orgs {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", o.ID, o.Name, o.CreatedAt.Format(time.RFC3339))
			}
			return tw.Flush()
		})
	}
	return usagef("unknown org subcommand %q: use create or list", args[0])
}

func timeOrDash(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Format(time.RFC3339)
}

// runExplain is `teamaccess explain`: how the database runs each query the API and the workers
// make, for a query plan review against the production database.
func runExplain(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := command{name: "explain", summary: "Show how the database runs each query the API and the workers make (a query plan review).", opts: storeOptions}
	cfg, err := parseConfig(cmd, flag.NewFlagSet("", flag.ContinueOnError), args, getenv, stderr, isTerminal(stderr))
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, store.Options{
		URI: cfg.mongoURI, Database: cfg.mongoDatabase, DataDir: cfg.dataDir, PostgreSQLURL: cfg.embeddedPGURL,
		ConnectTimeout: cfg.mongoTimeout, Logger: newLogger(stderr, cfg.logFormat, max(cfg.logLevel, slog.LevelWarn)),
	})
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer st.Close(context.WithoutCancel(ctx))
	plans, err := st.ExplainQueries(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "QUERY\tCOLLECTION\tINDEX\tPLAN")
	for _, p := range plans {
		idx := p.Index
		if idx == "" {
			idx = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Query, p.Collection, idx, p.Summary)
	}
	return tw.Flush()
}

// cause is what to tell the user of a command that failed: the message of an error of theirs
// (errkind), or the error.
func cause(err error) string {
	if m := errkind.Message(err); m != "" {
		return m
	}
	return err.Error()
}
