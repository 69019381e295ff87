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

// publishMailbox tells a mailbox's change to this process's live subscribers and appends it to
// the change log, written by origin (this process), for the webhooks and the other processes'
// subscribers (relay); poke hears of the organisation (its issues may have changed).
func publishMailbox(live *feed.Hub[mailboxes.Mailbox], st *store.Store, hub *activities.Hub, log *slog.Logger, origin string, poke func(org string)) func(context.Context, string, mailboxes.Mailbox) {
	return func(ctx context.Context, org string, m mailboxes.Mailbox) {
		live.Publish(org, m)
		poke(org)
		logChange(ctx, st, hub, log, org, store.Change{Type: store.ChangeMailbox, Target: m.ID, Origin: origin})
	}
}

// logChange appends a mailbox's or the Team Access's change to the change log, from which
// partners' webhooks on mailboxChanged and teamAccessChanged deliver it, and the other
// processes tell their live subscribers (the live subscriptions of this process have it
// already, from the feed).
func logChange(ctx context.Context, st *store.Store, hub *activities.Hub, log *slog.Logger, org string, c store.Change) {
	c.At = time.Now().UTC()
	if err := st.Org(org).AppendChanges(context.WithoutCancel(ctx), []store.Change{c}); err != nil {
		log.Warn("log a change for the webhooks", "org", org, "type", c.Type, "err", err)
		return
	}
	hub.Poke()
}
