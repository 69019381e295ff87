package server

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/teamaccess/teamaccess/access"
	"github.com/teamaccess/teamaccess/activities"
	"github.com/teamaccess/teamaccess/mailboxes"
)

// relayEvery is how often the relay looks at which organisations this process's live
// subscribers follow.
const relayEvery = time.Second

// relay tells this process's live mailboxChanged and teamAccessChanged subscribers of the
// changes other processes made (each process does the Graph work of its partitions, and a
// consent or a mutation is answered by whichever process the request reached): it follows the
// change log's mailbox and Team Access entries of the organisations someone here follows and
// publishes, once for all their subscribers, the mailbox or Team Access an entry names, unless
// this process wrote it (then its subscribers had it at once, from the feed).
type relay struct {
	owner     string
	hub       *activities.Hub
	mailboxes interface {
		Topics() []string
		Publish(org string, m mailboxes.Mailbox) int
	}
	teamAccess interface {
		Topics() []string
		Publish(org string, ta access.TeamAccess) int
	}
	mailbox func(ctx context.Context, org, id string) (mailboxes.Mailbox, error)
	status  func(ctx context.Context, org string) (access.TeamAccess, error)
	changed func(org string) // a mailbox of the organisation changed (its issues may have)
	log     *slog.Logger
}

// Run follows the organisations followed here until ctx ends, and returns once it has stopped
// following them.
func (r *relay) Run(ctx context.Context) {
	type key struct{ kind, org string }
	following := map[key]context.CancelFunc{}
	var wg sync.WaitGroup
	defer func() {
		for _, stop := range following {
			stop()
		}
		wg.Wait()
	}()
	t := time.NewTicker(relayEvery)
	defer t.Stop()
	for {
		want := map[key]bool{}
		for _, org := range r.mailboxes.Topics() {
			want[key{activities.KindMailbox, org}] = true
		}
		for _, org := range r.teamAccess.Topics() {
			want[key{activities.KindTeamAccess, org}] = true
		}
		for k, stop := range following {
			if !want[k] {
				stop()
				delete(following, k)
			}
		}
		for k := range want {
			if following[k] == nil {
				fctx, stop := context.WithCancel(ctx)
				following[k] = stop
				wg.Go(func() { r.follow(fctx, k.kind, k.org) })
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// follow relays one kind of the organisation's entries from the log's head on, and again from
// the last one it saw when its feed is cut off (a slow reader's), until ctx ends.
func (r *relay) follow(ctx context.Context, kind, org string) {
	after := ""
	for ctx.Err() == nil {
		evs, err := r.hub.Follow(ctx, org, kind, after)
		if err != nil {
			r.log.Warn("relaying other processes' changes", "org", org, "kind", kind, "err", err)
			after = "" // the place left the log's window: from its head
		} else {
			for ev := range evs {
				if ev.Err != nil {
					break
				}
				after = ev.Cursor
				if ev.Origin != r.owner {
					r.tell(ctx, org, ev)
				}
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(relayEvery):
		}
	}
}

func (r *relay) tell(ctx context.Context, org string, ev *activities.Event) {
	if ev.Kind == activities.KindTeamAccess {
		if ta, err := r.status(ctx, org); err == nil {
			r.teamAccess.Publish(org, ta)
		}
		return
	}
	if m, err := r.mailbox(ctx, org, ev.Target); err == nil { // not found: erased or purged since
		r.mailboxes.Publish(org, m)
		r.changed(org)
	}
}
