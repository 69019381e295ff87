package server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/go-co-op/gocron/v2"

	"github.com/teamaccess/teamaccess/store"
)

// leaderLease is held by the process that runs the housekeeping of shared data (pruning the
// change log, the inbox, consent links and the audit log; retention), once for all processes.
// It sends nothing to Graph: the Graph work is shared by partition (package partition).
const leaderLease = "scheduler"

// leaderFor is how long a claim lasts, and leaderEvery how often every process claims (the
// leader renews): a leader that dies is replaced within a minute.
const (
	leaderFor   = time.Minute
	leaderEvery = 20 * time.Second
)

// leader is gocron's distributed job locker, backed by a lease in the database: a job may run
// when this process holds (or takes, or renews) the leader lease. The lease is sticky, so the
// same process keeps the jobs, and their in-memory schedules, while it lives.
type leader struct {
	lease   *store.Lease
	now     func() time.Time
	log     *slog.Logger
	leading atomic.Bool
	renewed atomic.Int64 // when this process last took or renewed the lease (Unix ns)
}

var _ gocron.Locker = (*leader)(nil)

// errNotLeader skips a job in a process that does not lead.
var errNotLeader = errors.New("another process runs the scheduled jobs")

// Lock implements gocron.Locker.
func (l *leader) Lock(ctx context.Context, _ string) (gocron.Lock, error) {
	// Renewed within half its term (claim runs every leaderEvery): no need to write it again.
	if l.leading.Load() && l.now().Sub(time.Unix(0, l.renewed.Load())) < leaderFor/2 {
		return noUnlock{}, nil
	}
	if err := l.claim(ctx); err != nil {
		return nil, err
	}
	return noUnlock{}, nil
}

// claim takes or renews the lease; errNotLeader while another process holds it. It is also a
// job of its own, every leaderEvery in every process, so that the lease is renewed however
// seldom the other jobs run, and taken over soon after its holder dies.
func (l *leader) claim(ctx context.Context) error {
	now := l.now()
	ok, err := l.lease.Claim(ctx, now)
	switch {
	case err != nil:
		return err
	case !ok:
		if l.leading.Swap(false) {
			l.log.Info("another process runs the scheduled jobs now")
		}
		return errNotLeader
	}
	l.renewed.Store(now.UnixNano())
	if !l.leading.Swap(true) {
		l.log.Info("this process runs the scheduled jobs", "owner", l.lease.Owner)
	}
	return nil
}

// processOwner names this process in leases: host, pid and a random part (pids repeat across
// containers).
func processOwner() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s/%d/%x", host, os.Getpid(), b)
}

// noUnlock keeps the lease after a run: it lapses only if this process stops running jobs.
type noUnlock struct{}

func (noUnlock) Unlock(context.Context) error { return nil }
