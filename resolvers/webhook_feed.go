package resolvers

import (
	"context"

	"github.com/teamaccess/teamaccess/activities"
)

// webhookFeed is how an outbound webhook runs activityChanged: from its endpoint's cursor, and
// told each event's cursor (which the document need not select) before the event is answered.
type webhookFeed struct {
	after string
	seen  func(cursor string)
}

type webhookFeedKey struct{}

// WithWebhookFeed makes activityChanged on ctx resume after the cursor, whatever the document
// says, and call seen with each event's cursor, in order, before the event goes out.
func WithWebhookFeed(ctx context.Context, after string, seen func(cursor string)) context.Context {
	return context.WithValue(ctx, webhookFeedKey{}, webhookFeed{after: after, seen: seen})
}

// forWebhook passes a feed's events on, telling the webhook each one's cursor first.
func forWebhook(ctx context.Context, evs <-chan *activities.Event, seen func(string)) <-chan *activities.Event {
	out := make(chan *activities.Event)
	go func() {
		defer close(out)
		for ev := range evs {
			seen(ev.Cursor)
			select {
			case out <- ev:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}
