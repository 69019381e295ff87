package server

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/go-co-op/gocron/v2"
)

// job is recurring work of the service.
type job struct {
	name  string
	every time.Duration
	run   func(ctx context.Context) error
	// local jobs run in every process (they work on the process's own state, or on the
	// mailboxes and tenants of its partitions); the others only in the process that leads
	// (see leader): housekeeping of shared data, no Graph work.
	local bool
}

// startScheduler runs each job on its interval with gocron. A job never overlaps itself: a run
// that is still going when the next is due makes the next wait for the following slot. Jobs
// that are not local run only while this process leads.
func startScheduler(log *slog.Logger, lead *leader, jobs []job) (gocron.Scheduler, error) {
	s, err := gocron.NewScheduler(gocron.WithLogger(schedulerLog{log}))
	if err != nil {
		return nil, fmt.Errorf("scheduler: %w", err)
	}
	for _, j := range jobs {
		opts := []gocron.JobOption{gocron.WithName(j.name), gocron.WithSingletonMode(gocron.LimitModeReschedule)}
		if !j.local {
			opts = append(opts, gocron.WithDistributedJobLocker(lead))
		}
		_, err := s.NewJob(gocron.DurationJob(j.every),
			gocron.NewTask(func(ctx context.Context) {
				if err := j.run(ctx); err != nil && ctx.Err() == nil {
					log.Warn("scheduled job failed", "job", j.name, "err", err)
				}
			}),
			opts...,
		)
		if err != nil {
			return nil, fmt.Errorf("schedule %s: %w", j.name, err)
		}
	}
	s.Start()
	return s, nil
}

// schedulerLog passes gocron's own messages to slog at debug level, errors at warn.
type schedulerLog struct{ l *slog.Logger }

func (s schedulerLog) Debug(msg string, args ...any) {
	s.l.Debug(msg, append(args, "component", "gocron")...)
}
func (s schedulerLog) Info(msg string, args ...any) {
	s.l.Debug(msg, append(args, "component", "gocron")...)
}
func (s schedulerLog) Warn(msg string, args ...any) {
	s.l.Warn(msg, append(args, "component", "gocron")...)
}
func (s schedulerLog) Error(msg string, args ...any) {
	s.l.Warn(msg, append(args, "component", "gocron")...)
}
