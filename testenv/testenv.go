// Package testenv gives tests the real parts they run against, made and torn down in one call
// each: the embedded store in a temporary directory, and graphsim. It is imported by tests only.
package testenv

import (
	"context"
	"log/slog"
	"testing"

	"github.com/teamaccess/teamaccess/graphsim"
	"github.com/teamaccess/teamaccess/store"
)

// Store opens the embedded store (FerretDB over SQLite) in a temporary directory of the test;
// it is closed when the test ends.
func Store(t testing.TB) *store.Store {
	t.Helper()
	return StoreWith(t, store.Options{DataDir: t.TempDir()})
}

// StoreWith opens a store with the test's options (a data directory, a PostgreSQL URL, a
// MongoDB URI); a quiet logger unless one is given. It is closed when the test ends.
func StoreWith(t testing.TB, o store.Options) *store.Store {
	t.Helper()
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	st, err := store.Open(context.Background(), o)
	if err != nil {
		t.Fatalf("open the store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close(context.Background()) })
	return st
}

// Sim starts graphsim with the options given; it is closed when the test ends.
func Sim(t testing.TB, o graphsim.Options) *graphsim.Sim {
	t.Helper()
	sim, err := graphsim.Start(o)
	if err != nil {
		t.Fatalf("start graphsim: %v", err)
	}
	t.Cleanup(sim.Close)
	return sim
}
