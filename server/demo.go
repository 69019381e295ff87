package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/teamaccess/teamaccess/graphsim"
)

// demoWorld keeps demo mode's simulated tenant in the data directory, so that a demo that was
// consented stays connected across restarts: the same tenant id, mailboxes, items and delta
// positions (graphsim's snapshot), and its subscriptions. Without it every start made a new
// tenant, and a consented demo broke while the admin page still said active.
type demoWorld struct {
	dir string
	log *slog.Logger
}

const (
	demoWorldFile = "graphsim.json" // graphsim's snapshot
	demoInfoFile  = "demo.json"     // the demo's story: which users are which
	// demoSaveEvery bounds what a crash loses of the demo's world (the generator adds an item
	// every 10 s at first, demoPace); a clean stop saves it all.
	demoSaveEvery = 30 * time.Second
	// demoBrisk is how many items a run of the demo generates 10 s apart (its first half hour)
	// before it slows to one every demoSlow.
	demoBrisk = 180
	demoSlow  = 5 * time.Minute
)

// demoPace is the wait before the demo generator's nth item: 10 s for the first half hour of a
// run, for a visitor to watch live updates arrive, then demoSlow. On the embedded store every
// query of a collection decodes all of it (an activities page took 1.16 s at 5,000 activities:
// BenchmarkActivitiesPage), and at one item every 10 s (8,640 a day) a demo left running
// overnight answered slowly by morning; now a week adds about 2,200.
func demoPace(n int) time.Duration {
	if n < demoBrisk {
		return 10 * time.Second
	}
	return demoSlow
}

// open loads the world saved in the data directory into sim, or seeds a new demo tenant there.
func (d demoWorld) open(sim *graphsim.Sim, appID string) (graphsim.Demo, bool, error) {
	var demo graphsim.Demo
	info, err := os.ReadFile(filepath.Join(d.dir, demoInfoFile))
	if err == nil {
		world, err := os.Open(filepath.Join(d.dir, demoWorldFile))
		if err != nil {
			return demo, false, err
		}
		defer world.Close()
		if err := json.Unmarshal(info, &demo); err != nil {
			return demo, false, fmt.Errorf("%s: %w", demoInfoFile, err)
		}
		if err := sim.Load(world); err != nil {
			return demo, false, err
		}
		return demo, true, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return demo, false, err
	}
	if demo, err = sim.SeedDemo(appID); err != nil {
		return demo, false, err
	}
	if err := os.MkdirAll(d.dir, 0o700); err != nil {
		return demo, false, err
	}
	if err := d.save(sim); err != nil { // the world first: info without a world is not a demo
		return demo, false, err
	}
	b, _ := json.Marshal(demo)
	return demo, false, writeFileAtomic(filepath.Join(d.dir, demoInfoFile), b)
}

// save writes the world, replacing the last save only once the new one is complete.
func (d demoWorld) save(sim *graphsim.Sim) error {
	f, err := os.CreateTemp(d.dir, demoWorldFile+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := sim.Save(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), filepath.Join(d.dir, demoWorldFile))
}

// keep saves the world every demoSaveEvery until ctx ends.
func (d demoWorld) keep(ctx context.Context, sim *graphsim.Sim) {
	t := time.NewTicker(demoSaveEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := d.save(sim); err != nil {
				d.log.Warn("saving the demo tenant", "err", err)
			}
		}
	}
}

func writeFileAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
