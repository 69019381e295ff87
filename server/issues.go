package server

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/teamaccess/teamaccess/access"
	"github.com/teamaccess/teamaccess/attention"
	"github.com/teamaccess/teamaccess/feed"
)

// issuesEvery is how often each process checks whether an organisation's issues changed, to
// tell its teamAccessChanged subscribers; issuesSettle is how long it waits after a mailbox's
// change before it checks that mailbox's organisation (a probe pass changes many at once).
const (
	issuesEvery  = 30 * time.Second
	issuesSettle = 500 * time.Millisecond
)

// issueWatch publishes an organisation's Team Access to this process's live subscribers when
// its issues change (a sync starts failing, a mailbox is newly blocked), which nothing else
// publishes. Only organisations someone here follows are looked at: every issuesEvery, and soon
// after a mailbox of theirs changed here, so that a mailbox an access policy newly leaves out is
// on the admin's page as soon as the API lists it.
type issueWatch struct {
	// changed checks organisations' issues and returns those whose issues changed
	// (attention.Service.Changed).
	changed func(context.Context, []string) ([]string, error)
	status  func(context.Context, string) (access.TeamAccess, error)
	changes *feed.Hub[access.TeamAccess]
	log     *slog.Logger

	mu   sync.Mutex
	due  map[string]bool // organisations with a mailbox changed since the last check
	wake chan struct{}
}

func newIssueWatch(att *attention.Service, status func(context.Context, string) (access.TeamAccess, error), changes *feed.Hub[access.TeamAccess], log *slog.Logger) *issueWatch {
	return &issueWatch{changed: att.Changed, status: status, changes: changes, log: log, due: map[string]bool{}, wake: make(chan struct{}, 1)}
}

// Poke says a mailbox of the organisation changed: its issues are checked after issuesSettle.
func (w *issueWatch) Poke(org string) {
	w.mu.Lock()
	w.due[org] = true
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run checks until ctx ends. However many pokes come, a check after a poke waits issuesSettle,
// or as long as the last check took if that was longer: while mailboxes churn (a probe pass of
// thousands on the embedded store, where a check reads every mailbox) checks take at most half
// of the time.
func (w *issueWatch) Run(ctx context.Context) {
	t := time.NewTicker(issuesEvery)
	defer t.Stop()
	var took time.Duration // by the last check
	for {
		var orgs []string
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			orgs = w.changes.Topics()
		case <-w.wake:
			select {
			case <-ctx.Done():
				return
			case <-time.After(max(issuesSettle, took)):
			}
			orgs = w.poked()
		}
		start := time.Now()
		changed, err := w.changed(ctx, orgs)
		took = time.Since(start)
		if err != nil && ctx.Err() == nil {
			w.log.Warn("checking the organizations' issues", "err", err)
		}
		for _, org := range changed {
			if ta, err := w.status(ctx, org); err == nil {
				w.changes.Publish(org, ta)
			}
		}
	}
}

// poked takes the organisations poked since the last check that someone here follows.
func (w *issueWatch) poked() []string {
	w.mu.Lock()
	due := w.due
	w.due = map[string]bool{}
	w.mu.Unlock()
	var out []string
	for _, org := range w.changes.Topics() {
		if due[org] {
			out = append(out, org)
		}
	}
	return out
}
