package outbound

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/teamaccess/teamaccess/store"
)

// flushEvery bounds how long a delivered event's progress waits to be written: a burst writes
// its place and its attempts once per flushEvery (three writes per event made a burst 110
// deliveries a second on the embedded store), and a crash repeats at most that much, with the
// same webhook-ids.
const flushEvery = 250 * time.Millisecond

// flushAt is how many delivered events are written at most at once: their attempts are one
// document of the delivery log (store.InsertWebhookDeliveries).
const flushAt = 1000

// rereadEvery is how often a delivering process reads its endpoint again while deliveries
// succeed, to see an admin's disable, replay or new secret.
const rereadEvery = time.Second

// progress is an endpoint's delivery state in this process: what was delivered since it was last
// written.
type progress struct {
	s       *Service
	e       *store.WebhookEndpoint
	cursor  string // delivered, not yet written
	logs    []store.WebhookDelivery
	read    time.Time
	flushed time.Time
	// behind is closed when the flush written in the background ends (nil when none runs);
	// movedOn says it found the endpoint moved on without this process.
	behind  chan struct{}
	movedOn bool
}

// flush writes the delivered place and attempts; false when the endpoint moved on without this
// process (replayed, deleted).
func (p *progress) flush(ctx context.Context) bool {
	if !p.settle() {
		return false
	}
	if p.cursor == "" {
		return true
	}
	updated, ok, err := p.write(ctx, *p.e, p.cursor, p.logs)
	p.cursor, p.logs, p.flushed = "", nil, p.s.o.Now()
	if ok && err == nil {
		*p.e = updated
	}
	return ok
}

// flushBehind writes the delivered place and attempts in the background while deliveries go
// on (a write of 100 attempts, a document each, took as long as 30 deliveries); false when the
// last one found the endpoint moved on.
func (p *progress) flushBehind(ctx context.Context) bool {
	if !p.settle() {
		return false
	}
	e, cursor, logs := *p.e, p.cursor, p.logs
	p.cursor, p.logs, p.flushed = "", nil, p.s.o.Now()
	done := make(chan struct{})
	p.behind = done
	go func() {
		defer close(done)
		if _, ok, _ := p.write(ctx, e, cursor, logs); !ok {
			p.movedOn = true // read after done closes
		}
	}()
	return true
}

// settle waits for the flush in the background, if one runs; false when it found the endpoint
// moved on.
func (p *progress) settle() bool {
	if p.behind != nil {
		<-p.behind
		p.behind = nil
	}
	return !p.movedOn
}

// write records attempts and the place they reached; false when the endpoint moved on (replayed
// or deleted meanwhile: the next run starts from its new place).
func (p *progress) write(ctx context.Context, e store.WebhookEndpoint, cursor string, logs []store.WebhookDelivery) (store.WebhookEndpoint, bool, error) {
	ctx = context.WithoutCancel(ctx)
	org := p.s.st.Org(e.OrgID)
	if err := org.InsertWebhookDeliveries(ctx, logs); err != nil {
		p.s.o.Log.Warn("webhooks: cannot record deliveries", "endpoint", e.ID, "err", err)
	}
	updated, err := org.AdvanceWebhookEndpoint(ctx, e.ID, e.Generation, bson.D{{Key: "cursor", Value: cursor},
		{Key: "attempts", Value: 0}, {Key: "failingSince", Value: nil}, {Key: "nextAttempt", Value: nil}, {Key: "lastSuccess", Value: p.s.o.Now().UTC()}})
	return updated, !errors.Is(err, store.ErrNotFound), err
}

// eventID is an event's webhook-id: the same for every attempt and across restarts, so that
// partners can deduplicate on it.
func eventID(endpoint, cursor string) string {
	h := sha256.Sum256([]byte(endpoint + "\x00" + cursor))
	return "msg_" + hex.EncodeToString(h[:12])
}

// deliver attempts one event until it is delivered (true) or the endpoint stops (false);
// made is an attempt at it made already, if any.
func (p *progress) deliver(ctx context.Context, ev Event, made *store.WebhookDelivery) bool {
	id := eventID(p.e.ID, ev.Cursor)
	for ctx.Err() == nil {
		var attempt store.WebhookDelivery
		if made != nil {
			attempt, made = *made, nil
		} else {
			var ok bool
			if attempt, ok = p.attempt(ctx, ev, id); !ok {
				return false
			}
			if attempt.At.IsZero() {
				continue // the endpoint could not be read: try again
			}
		}
		if attempt.Status >= 200 && attempt.Status < 300 {
			return p.succeeded(ctx, ev, attempt)
		}
		if !p.failed(ctx, attempt) {
			return false
		}
	}
	return false
}

// succeeded records a delivered event (written with the next flush).
func (p *progress) succeeded(ctx context.Context, ev Event, attempt store.WebhookDelivery) bool {
	attempt.ID = bson.NewObjectID() // numbered as recorded: the log's batches never overlap
	p.cursor, p.logs = ev.Cursor, append(p.logs, attempt)
	p.e.Cursor = ev.Cursor
	if p.e.Attempts > 0 { // after a retry: written at once, as the endpoint is no longer failing
		return p.flush(ctx)
	}
	if p.s.o.Now().Sub(p.flushed) >= flushEvery || len(p.logs) >= flushAt {
		return p.flushBehind(ctx)
	}
	return true
}

// attempt reads the endpoint again when it is due (an attempt with a zero id then, or false
// when the endpoint stopped), waits for the next attempt's time and makes it.
func (p *progress) attempt(ctx context.Context, ev Event, id string) (store.WebhookDelivery, bool) {
	s, e := p.s, p.e
	if e.Attempts > 0 || s.o.Now().Sub(p.read) >= rereadEvery {
		cur, err := s.st.Org(e.OrgID).WebhookEndpoint(ctx, e.ID) // the admin may have disabled it or rotated its secret
		if errors.Is(err, store.ErrNotFound) {
			return store.WebhookDelivery{}, false
		}
		if err != nil {
			return store.WebhookDelivery{}, s.o.Sleep(ctx, 5*time.Second)
		}
		if cur.Generation != e.Generation || cur.Status != Active {
			p.cursor = "" // its place is the admin's now
			return store.WebhookDelivery{}, false
		}
		if cur.Query != e.Query || !reflect.DeepEqual(cur.Variables, e.Variables) {
			p.flush(ctx)
			return store.WebhookDelivery{}, false // a new document: the next run uses it, from this place
		}
		cur.Cursor = e.Cursor
		*e, p.read = cur, s.o.Now()
	}
	if e.NextAttemptAt != nil && !s.o.Sleep(ctx, e.NextAttemptAt.Sub(s.o.Now())) {
		return store.WebhookDelivery{}, false
	}
	attempt := s.post(ctx, e, id, ev)
	return attempt, ctx.Err() == nil
}

// failed records a failed attempt and when the next is due; false when the endpoint stops.
func (p *progress) failed(ctx context.Context, attempt store.WebhookDelivery) bool {
	s, e := p.s, p.e
	// A failure: what was delivered before it is written first, then the failure.
	if !p.flush(ctx) {
		return false
	}
	attempt.ID = bson.NewObjectID() // after those just written
	_ = s.st.Org(e.OrgID).InsertWebhookDelivery(context.WithoutCancel(ctx), attempt)
	now := s.o.Now().UTC()
	if attempt.Status == http.StatusGone {
		_ = s.disable(ctx, e, "the endpoint answered 410 Gone")
		return false
	}
	since := now
	if e.FailingSince != nil {
		since = *e.FailingSince
	}
	if now.Sub(since) >= s.o.DisableAfter {
		_ = s.disable(ctx, e, fmt.Sprintf("deliveries failed for %s; the last: %s", s.o.DisableAfter, describe(attempt)))
		return false
	}
	next := now.Add(s.retry(e.Attempts + 1))
	updated, err := s.st.Org(e.OrgID).AdvanceWebhookEndpoint(context.WithoutCancel(ctx), e.ID, e.Generation,
		bson.D{{Key: "attempts", Value: e.Attempts + 1}, {Key: "failingSince", Value: since}, {Key: "nextAttempt", Value: next}})
	if errors.Is(err, store.ErrNotFound) {
		return false
	}
	if err == nil {
		*e = updated
	} else {
		e.Attempts, e.FailingSince, e.NextAttemptAt = e.Attempts+1, &since, &next
	}
	return true
}
