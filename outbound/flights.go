package outbound

import (
	"context"

	"github.com/teamaccess/teamaccess/store"
)

// flights are an endpoint's deliveries in the air: up to max at once, never two of one mailbox
// (an event waits for the one before it of its mailbox to land), landed in the order of the
// change log, so that the endpoint's place only moves past what was delivered. A failure is
// retried where it lands, as one event at a time, before anything after it lands; an event
// with no mailbox, a retry and the once-a-second reading of the endpoint go alone.
type flights struct {
	ctx    context.Context // the stream's
	cancel context.CancelFunc
	p      *progress
	max    int
	air    []*flight // in change-log order
}

type flight struct {
	ev      Event
	done    chan struct{}
	attempt store.WebhookDelivery
}

func newFlights(ctx context.Context, p *progress, max int) *flights {
	fctx, cancel := context.WithCancel(ctx)
	return &flights{ctx: fctx, cancel: cancel, p: p, max: max}
}

// take delivers ev, side by side with those in the air when it can; false when the endpoint
// stops.
func (w *flights) take(ev Event) bool {
	p := w.p
	alone := w.max <= 1 || ev.Key == "" || p.e.Attempts > 0 || p.e.NextAttemptAt != nil ||
		p.s.o.Now().Sub(p.read) >= rereadEvery
	if alone {
		return w.landAll() && p.deliver(w.ctx, ev, nil)
	}
	for len(w.air) >= w.max || w.holds(ev.Key) {
		if !w.landOldest() {
			return false
		}
	}
	f := &flight{ev: ev, done: make(chan struct{})}
	e := *p.e // the endpoint as it is now: its URL and secrets
	go func() {
		defer close(f.done)
		f.attempt = p.s.post(w.ctx, &e, eventID(e.ID, ev.Cursor), ev)
	}()
	w.air = append(w.air, f)
	return true
}

func (w *flights) holds(key string) bool {
	for _, f := range w.air {
		if f.ev.Key == key {
			return true
		}
	}
	return false
}

// landOldest waits for the oldest flight and records it: delivered, or retried until it is,
// and then the others in the air (which failed too, most likely) before anything new goes.
func (w *flights) landOldest() bool {
	f := w.air[0]
	select {
	case <-f.done:
	case <-w.ctx.Done():
		return false // abandon records it, if it was delivered
	}
	if w.ctx.Err() != nil {
		return false
	}
	w.air = w.air[1:]
	if f.attempt.Status >= 200 && f.attempt.Status < 300 {
		return w.p.succeeded(w.ctx, f.ev, f.attempt)
	}
	return w.p.deliver(w.ctx, f.ev, &f.attempt) && w.landAll()
}

// landAll lands every flight, in order.
func (w *flights) landAll() bool {
	for len(w.air) > 0 {
		if !w.landOldest() {
			return false
		}
	}
	return true
}

// abandon stops what is still in the air and waits for it: what was delivered before the
// first that was not is recorded; the rest is delivered again by the next run, with the same
// webhook-ids.
func (w *flights) abandon() {
	w.cancel()
	recording := true
	for _, f := range w.air {
		<-f.done
		if recording = recording && f.attempt.Status >= 200 && f.attempt.Status < 300; recording {
			recording = w.p.succeeded(context.WithoutCancel(w.ctx), f.ev, f.attempt)
		}
	}
	w.air = nil
}
