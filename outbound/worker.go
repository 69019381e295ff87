package outbound

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/teamaccess/teamaccess/auth"
	"github.com/teamaccess/teamaccess/backoff"
	"github.com/teamaccess/teamaccess/errkind"
	"github.com/teamaccess/teamaccess/store"
)

// leaseTerm is how long a process holds an endpoint without renewing: a dead process's
// endpoints are taken over within it.
const leaseTerm = 30 * time.Second

// responseSnippet is how much of an answer is read and kept.
const responseSnippet = 1024

// Run delivers to every active endpoint whose lease this process holds, until ctx ends; each
// endpoint is delivered by one process at a time.
func (s *Service) Run(ctx context.Context) {
	t := time.NewTicker(s.o.Poll)
	defer t.Stop()
	for {
		s.claim(ctx)
		select {
		case <-ctx.Done():
			s.wg.Wait()
			return
		case <-t.C:
		}
	}
}

// claim starts delivering the active endpoints it can lease and stops those no longer active.
func (s *Service) claim(ctx context.Context) {
	eps, err := s.st.ActiveWebhookEndpoints(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.o.Log.Warn("webhooks: cannot list endpoints", "err", err)
		}
		return
	}
	active := map[string]int{} // endpoint: generation
	for _, e := range eps {
		active[e.ID] = e.Generation
		s.mu.Lock()
		_, running := s.runs[e.ID]
		s.mu.Unlock()
		if running {
			continue
		}
		lease := store.NewLease(s.st, "webhook/"+e.ID, s.o.Owner, leaseTerm)
		if ok, err := lease.Claim(ctx, s.o.Now()); err != nil || !ok {
			continue
		}
		rctx, cancel := context.WithCancel(ctx)
		s.mu.Lock()
		s.runs[e.ID] = run{cancel: cancel, generation: e.Generation}
		s.mu.Unlock()
		s.wg.Go(func() {
			defer func() {
				cancel()
				s.mu.Lock()
				delete(s.runs, e.ID)
				s.mu.Unlock()
				_ = lease.Release(context.WithoutCancel(ctx))
			}()
			// The listing may predate the last write of a run that just ended here (its place,
			// flushed as it stopped): start from the endpoint as it is now, or a restart would
			// deliver that run's last events again.
			cur, err := s.st.Org(e.OrgID).WebhookEndpoint(rctx, e.ID)
			if err != nil || cur.Status != Active || cur.Generation != e.Generation {
				return
			}
			go s.keep(rctx, cancel, lease)
			s.deliver(rctx, cur)
		})
	}
	s.mu.Lock()
	for id, r := range s.runs {
		if gen, ok := active[id]; !ok || gen != r.generation {
			r.cancel() // disabled, deleted or replayed: a replayed one starts again at the next poll
		}
	}
	s.mu.Unlock()
}

// run is an endpoint this process delivers.
type run struct {
	cancel     context.CancelFunc
	generation int
}

// keep renews an endpoint's lease; losing it ends the delivery.
func (s *Service) keep(ctx context.Context, cancel context.CancelFunc, lease *store.Lease) {
	t := time.NewTicker(leaseTerm / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if ok, err := lease.Claim(ctx, s.o.Now()); err == nil && !ok {
				cancel()
				return
			}
		}
	}
}

// deliver streams an endpoint's events and delivers each, in order, until ctx ends or the
// endpoint is disabled; a broken stream is started again after the last delivered event.
func (s *Service) deliver(ctx context.Context, e store.WebhookEndpoint) {
	attempt := 0
	for ctx.Err() == nil {
		started := s.o.Now()
		done, err := s.stream(ctx, &e)
		if done || ctx.Err() != nil {
			return
		}
		if s.o.Now().Sub(started) > time.Minute {
			attempt = 0 // it ran a while: a break now is not one of a series
		}
		s.o.Log.Warn("webhooks: the endpoint's subscription ended; starting it again", "endpoint", e.ID, "err", err)
		if !s.o.Sleep(ctx, backoff.Delay(time.Second, time.Minute, attempt)) {
			return
		}
		attempt++
	}
}

// stream runs the endpoint's subscription from its cursor; done when the endpoint is
// disabled (or its document can no longer run).
func (s *Service) stream(ctx context.Context, e *store.WebhookEndpoint) (done bool, err error) {
	evs, streamErr, err := s.exec.Run(ctx, e.OrgID, e.Query, e.Variables, e.Cursor)
	if errors.Is(err, errkind.ErrInvalid) { // the cursor left the change log, or the schema changed under the document
		return true, s.disable(ctx, e, "its subscription cannot run: "+errkind.Message(err))
	}
	if err != nil {
		return false, err
	}
	p := &progress{s: s, e: e, read: s.o.Now(), flushed: s.o.Now()}
	defer p.flush(ctx)
	w := newFlights(ctx, p, s.o.InFlight)
	defer w.abandon()
	idle := time.NewTicker(flushEvery)
	defer idle.Stop()
	for {
		select {
		case ev, ok := <-evs:
			if !ok {
				if !w.landAll() || !p.flush(ctx) {
					return true, nil
				}
				err = streamErr()
				if errors.Is(err, errkind.ErrInvalid) {
					return true, s.disable(ctx, e, "its subscription cannot run: "+errkind.Message(err))
				}
				return false, err
			}
			if !w.take(ev) {
				return true, nil
			}
		case <-idle.C:
			if !w.landAll() || !p.flush(ctx) {
				return true, nil
			}
		}
	}
}

func (s *Service) retry(n int) time.Duration {
	if s.o.Retry != nil {
		return s.o.Retry(n)
	}
	return backoff.Delay(5*time.Second, time.Hour, n-1)
}

// post makes one attempt.
func (s *Service) post(ctx context.Context, e *store.WebhookEndpoint, id string, ev Event) store.WebhookDelivery {
	start := s.o.Now()
	d := store.WebhookDelivery{ID: bson.NewObjectID(), EndpointID: e.ID, EventID: id, Cursor: ev.Cursor, Attempt: e.Attempts + 1, At: start.UTC()}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.URL, bytes.NewReader(ev.Body))
	if err != nil {
		d.Error = err.Error()
		return d
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "teamaccess-webhooks/1")
	var secrets []string
	for _, sec := range liveSecrets(e.Secrets, start) {
		secrets = append(secrets, sec.Secret)
	}
	if err := sign(req.Header, id, start, ev.Body, secrets); err != nil {
		d.Error = err.Error()
		return d
	}
	resp, err := s.o.Client.Do(req)
	d.Latency = s.o.Now().Sub(start)
	if s.o.Observe != nil {
		defer func() { s.o.Observe(d.Status, d.Latency) }()
	}
	if err != nil {
		d.Error = err.Error()
		return d
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, responseSnippet))
	d.Status, d.Response = resp.StatusCode, string(snippet)
	return d
}

func describe(d store.WebhookDelivery) string {
	if d.Status == 0 {
		return d.Error
	}
	return fmt.Sprintf("HTTP %d", d.Status)
}

// disable stops an endpoint on the service's own decision and tells the admin (its status and
// reason, the audit log).
func (s *Service) disable(ctx context.Context, e *store.WebhookEndpoint, reason string) error {
	ctx = context.WithoutCancel(ctx)
	if _, err := s.st.Org(e.OrgID).UpdateWebhookEndpoint(ctx, e.ID, bson.D{{Key: "status", Value: Disabled}, {Key: "disabledReason", Value: reason}}); err != nil {
		return err
	}
	s.o.Log.Warn("webhooks: endpoint disabled", "endpoint", e.ID, "org", e.OrgID, "reason", reason)
	return s.audit(ctx, auth.Actor{OrgID: e.OrgID, Name: "teamaccess"}, "webhookEndpoint.disable", e.ID, "disabled webhook endpoint "+e.URL+": "+reason)
}

// sleep waits d, or less when ctx ends (false then).
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
