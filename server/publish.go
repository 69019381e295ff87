package server

import (
	"context"
	"log/slog"
	"time"

	"github.com/teamaccess/teamaccess/activities"
	"github.com/teamaccess/teamaccess/feed"
	"github.com/teamaccess/teamaccess/mailboxes"
	"github.com/teamaccess/teamaccess/store"
)

// publishMailbox tells mailboxes' changes to this process's live subscribers and appends them
// to the change log in one append, written by origin (this process), for the webhooks and the
// other processes' subscribers (relay); poke hears of the organisation (its issues may have
// changed).
func publishMailbox(live *feed.Hub[mailboxes.Mailbox], st *store.Store, hub *activities.Hub, log *slog.Logger, origin string, poke func(org string)) func(context.Context, string, ...mailboxes.Mailbox) {
	return func(ctx context.Context, org string, ms ...mailboxes.Mailbox) {
		cs := make([]store.Change, len(ms))
		for i, m := range ms {
			live.Publish(org, m)
			cs[i] = store.Change{Type: store.ChangeMailbox, Target: m.ID, Origin: origin}
		}
		poke(org)
		logChange(ctx, st, hub, log, org, cs...)
	}
}

// logChange appends mailboxes' or the Team Access's changes to the change log, from which
// partners' webhooks on mailboxChanged and teamAccessChanged deliver them, and the other
// processes tell their live subscribers (the live subscriptions of this process have them
// already, from the feed).
func logChange(ctx context.Context, st *store.Store, hub *activities.Hub, log *slog.Logger, org string, cs ...store.Change) {
	if len(cs) == 0 {
		return
	}
	at := time.Now().UTC()
	for i := range cs {
		cs[i].At = at
	}
	if err := st.Org(org).AppendChanges(context.WithoutCancel(ctx), cs); err != nil {
		log.Warn("log changes for the webhooks", "org", org, "type", cs[0].Type, "changes", len(cs), "err", err)
		return
	}
	hub.Poke()
}
