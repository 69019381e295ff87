package server

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"

	"github.com/teamaccess/teamaccess/access"
	"github.com/teamaccess/teamaccess/graphsim"
	"github.com/teamaccess/teamaccess/m365"
)

// demoApp is the app registration demo mode signs in as, in the simulated tenant.
const (
	demoModeAppID  = "7a1c5e0b-3f2d-4b8a-9e6f-1d2c3b4a5f60"
	demoModeSecret = "demo-mode-secret"
)

// microsoft is what the service uses of Microsoft: the real one, or graphsim in demo mode.
type microsoft struct {
	client *m365.Client
	sim    *graphsim.Sim // demo mode only
	stop   func()
}

// connectMicrosoft builds the m365 client. Without a client id it starts graphsim with the demo
// tenant and points the client at it, so that the whole consent flow can be walked on a laptop.
func connectMicrosoft(ctx context.Context, cfg *config, log *slog.Logger) (*microsoft, error) {
	redirect := cfg.m365.redirectURI
	if redirect == "" {
		redirect = cfg.publicURL.String() + "/consent/callback"
	}
	if !cfg.m365.demo() {
		cl, err := cfg.m365.cloud()
		if err != nil {
			return nil, usagef("invalid --m365-cloud: %v", err)
		}
		c, err := m365.New(m365.Config{ClientID: cfg.m365.clientID, ClientSecret: cfg.m365.clientSecret,
			Certificates: cfg.m365.certs, PrivateKey: cfg.m365.key, Cloud: cl, RootCAs: cfg.m365.roots, RedirectURI: redirect,
			ConcurrencyScope: cfg.m365.concurrencyScope, Product: product(cfg), Share: cfg.processes})
		if err != nil {
			return nil, err
		}
		return &microsoft{client: c, stop: func() {}}, nil
	}
	sim, err := graphsim.Start(graphsim.Options{
		Apps: []graphsim.App{{ID: demoModeAppID, Secret: demoModeSecret, Name: "teamaccess (demo)",
			RedirectURIs: []string{redirect}, Permissions: access.RequiredPermissions}},
		Logger: log.With("component", "graphsim"),
	})
	if err != nil {
		return nil, fmt.Errorf("demo mode: %w", err)
	}
	world := demoWorld{dir: filepath.Join(cfg.dataDir, "demo"), log: log.With("component", "graphsim")}
	demo, restored, err := world.open(sim, demoModeAppID)
	if err != nil {
		sim.Close()
		return nil, fmt.Errorf("demo mode: the demo tenant in %s: %w", world.dir, err)
	}
	genCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var bg sync.WaitGroup
	bg.Go(func() { sim.RunDemoGenerator(genCtx, demo, demoPace) })
	bg.Go(func() { world.keep(genCtx, sim) })
	stop := func() {
		cancel()
		bg.Wait()
		if err := world.save(sim); err != nil {
			log.Warn("saving the demo tenant", "err", err)
		}
		sim.Close()
	}
	cl, _ := m365.CustomCloud(sim.AuthorityURL(), sim.GraphURL())
	c, err := m365.New(m365.Config{ClientID: demoModeAppID, ClientSecret: demoModeSecret, Cloud: cl, RootCAs: sim.CertPool(), RedirectURI: redirect,
		ConcurrencyScope: cfg.m365.concurrencyScope, Product: product(cfg), Share: cfg.processes})
	if err != nil {
		stop()
		return nil, err
	}
	log.Warn("DEMO MODE: no Microsoft app is configured (--m365-client-id), so teamaccess talks to graphsim, a simulated Microsoft 365 tenant; nothing reaches Microsoft",
		"tenant", "Contoso ("+demo.TenantID+")", "restored", restored, "kept_in", world.dir, "graphsim_control", sim.ControlURL())
	return &microsoft{client: c, sim: sim, stop: stop}, nil
}

// product is teamaccess's User-Agent token on Graph requests: the release and this process's
// random part (no host name or pid goes to Microsoft).
func product(cfg *config) string {
	tag := cfg.owner[strings.LastIndex(cfg.owner, "/")+1:]
	return "teamaccess/" + buildVersion() + " (process " + tag + ")"
}

// processes is how many processes share the Graph work (and Microsoft's budgets) as this one
// last saw: 1 until its partitions are made.
func (c *config) processes() int {
	if t := c.partitions.Load(); t != nil {
		return t.Members()
	}
	return 1
}
