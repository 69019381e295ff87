package server

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/teamaccess/teamaccess/graphsim"
)

// Defaults of the standalone simulator's sandbox application registration.
const (
	demoAppID     = "3f6f2c8e-7d1a-4a3b-9c55-2b1e0d9a7c41"
	demoAppSecret = "graphsim-demo-secret"
)

// demoPermissions are the application permissions teamaccess asks for.
var demoPermissions = []string{"Calendars.Read", "User.Read.All", "Mail.Read", "Contacts.Read"}

var simulateOptions = []option{
	{"data-dir", "TEAMACCESS_DATA_DIR", "./data", "`directory` where the simulator writes its CA certificate", applyDataDir},
	{"log-level", "TEAMACCESS_LOG_LEVEL", "info", "log `level`: debug, info, warn or error", applyLogLevel},
	{"log-format", "TEAMACCESS_LOG_FORMAT", "auto", "log `format`: text, json, or auto", applyLogFormat},
}

// runSimulate is `teamaccess simulate`: graphsim on its own, with the demo tenant and a
// generator of new mail and meetings, for trying teamaccess (or anything else) against a
// Microsoft 365 tenant that does not exist.
func runSimulate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	identity := fs.String("identity-listen", "127.0.0.1:9443", "`host:port` of the identity platform (HTTPS)")
	graph := fs.String("graph-listen", "127.0.0.1:9444", "`host:port` of Microsoft Graph (HTTPS)")
	control := fs.String("control-listen", "127.0.0.1:9445", "`host:port` of the control API (HTTP)")
	appID := fs.String("app-id", demoAppID, "application (client) `id` of the sandbox app registration")
	secret := fs.String("app-secret", demoAppSecret, "client `secret` of the sandbox app registration")
	redirect := fs.String("redirect-uri", "http://127.0.0.1:8080/consent/callback", "the app's registered admin-consent redirect `URI`")
	every := fs.Duration("generate-every", 5*time.Second, "add a message or meeting this often (`duration`; 0 turns it off)")
	cmd := command{name: "simulate", summary: "Run graphsim, the Microsoft identity platform and Graph simulator, with a demo tenant.", opts: simulateOptions}
	cfg, err := parseConfig(cmd, fs, args, getenv, stderr, isTerminal(stderr))
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.logFormat, cfg.logLevel)
	sim, err := graphsim.Start(graphsim.Options{
		Apps:         []graphsim.App{{ID: *appID, Secret: *secret, Name: "teamaccess (sandbox)", RedirectURIs: []string{*redirect}, Permissions: demoPermissions}},
		IdentityAddr: *identity, GraphAddr: *graph, ControlAddr: *control, Logger: log.With("component", "graphsim"),
	})
	if err != nil {
		return err
	}
	defer sim.Close()
	demo, err := sim.SeedDemo(*appID)
	if err != nil {
		return fmt.Errorf("seed demo tenant: %w", err)
	}
	if err := os.MkdirAll(cfg.dataDir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	caPath, _ := filepath.Abs(filepath.Join(cfg.dataDir, "graphsim-ca.pem"))
	if err := os.WriteFile(caPath, sim.CACertPEM(), 0o600); err != nil {
		return fmt.Errorf("write CA certificate: %w", err)
	}
	fmt.Fprintf(stdout, `graphsim is running: a simulated Microsoft 365 tenant, %q (%s).

  identity platform  %s   (authority host; tenants are path segments)
  Microsoft Graph    %s
  control API        %s   (seed, change, fault, clock; GET /endpoints)
  CA certificate     %s   (trust it to reach the HTTPS endpoints)

  application id     %s
  client secret      %s
  admin consent      %s/organizations/v2.0/adminconsent?client_id=%s&scope=https://graph.microsoft.com/.default&redirect_uri=%s&state=demo

%d users: %d in the app's access policy group, %d outside it, one without a mailbox, a guest
and a disabled account. Consent is not granted yet: open the admin-consent link and Accept.
`, "Contoso", demo.TenantID, sim.AuthorityURL(), sim.GraphURL(), sim.ControlURL(), caPath, *appID, *secret,
		sim.AuthorityURL(), *appID, *redirect, len(demo.Sales)+len(demo.Blocked)+3, len(demo.Sales), len(demo.Blocked))
	if *every > 0 {
		go sim.RunDemoGenerator(ctx, demo, func(int) time.Duration { return *every })
	}
	<-ctx.Done()
	log.Info("graphsim stopped")
	return nil
}
