package resolvers

import (
	"context"

	"github.com/teamaccess/teamaccess/activities"
)

// webhookOf is the webhook feed on ctx, if its subscription runs for a webhook.
func webhookOf(ctx context.Context) (webhookFeed, bool) {
	hook, ok := ctx.Value(webhookFeedKey{}).(webhookFeed)
	return hook, ok
}

// followForWebhook is mailboxChanged's or teamAccessChanged's feed for a webhook: the change
// log's entries of the kind after the endpoint's cursor, each read as it is now (load; false
// passes an entry over: its mailbox gone, or not one the document's filter selects), told to the
// webhook by cursor first. An entry that cannot be read, or a cut, ends the feed: the webhook
// starts it again from its last delivery.
func followForWebhook[T any](ctx context.Context, r *Resolver, org, kind string, hook webhookFeed,
	load func(ctx context.Context, ev *activities.Event) (*T, bool, error)) (<-chan *T, error) {
	evs, err := r.ActivityFeed.Follow(ctx, org, kind, hook.after)
	if err != nil {
		return nil, userError(ctx, err)
	}
	out := make(chan *T)
	go func() {
		defer close(out)
		for ev := range evs {
			if ev.Err != nil {
				return
			}
			v, ok, err := load(ctx, ev)
			if err != nil {
				return
			}
			if !ok {
				continue
			}
			hook.seen(ev.Cursor, ev.Target)
			select {
			case out <- v:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

// webhookFeed is how an outbound webhook runs its subscription (activityChanged,
// mailboxChanged or teamAccessChanged): from its endpoint's cursor in the change log, and told
// each event's cursor (which the document need not select) before the event is answered.
type webhookFeed struct {
	after string
	seen  func(cursor, mailbox string)
}

type webhookFeedKey struct{}

// WithWebhookFeed makes the subscription on ctx resume after the cursor, whatever the document
// says, and call seen with each event's cursor and mailbox ("" for none: the Team Access's, or
// an activity's deletion whose activity is gone), in order, before the event goes out.
func WithWebhookFeed(ctx context.Context, after string, seen func(cursor, mailbox string)) context.Context {
	return context.WithValue(ctx, webhookFeedKey{}, webhookFeed{after: after, seen: seen})
}

// forWebhook passes a feed's events on, telling the webhook each one's cursor first.
func forWebhook(ctx context.Context, evs <-chan *activities.Event, seen func(cursor, mailbox string)) <-chan *activities.Event {
	out := make(chan *activities.Event)
	go func() {
		defer close(out)
		for ev := range evs {
			seen(ev.Cursor, ev.MailboxID())
			select {
			case out <- ev:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}
