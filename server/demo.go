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
	// every 10 s); a clean stop saves it all.
	demoSaveEvery = 30 * time.Second
)

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
