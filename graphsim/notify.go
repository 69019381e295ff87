package graphsim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Notification is a change notification as Microsoft Graph sends it
// (api-reference/v1.0/resources/changenotification.md).
type Notification struct {
	SubscriptionID                 string         `json:"subscriptionId"`
	SubscriptionExpirationDateTime time.Time      `json:"subscriptionExpirationDateTime"`
	ChangeType                     string         `json:"changeType,omitempty"`
	Resource                       string         `json:"resource,omitempty"`
	ResourceData                   map[string]any `json:"resourceData,omitempty"`
	ClientState                    *string        `json:"clientState"`
	TenantID                       string         `json:"tenantId"`
	LifecycleEvent                 string         `json:"lifecycleEvent,omitempty"`
}

// pending is a batch of notifications waiting for an endpoint.
type pending struct {
	url      string
	items    []Notification
	attempts int
	due      time.Time
}

// DeliveryStats counts what happened to notifications sent to one endpoint.
type DeliveryStats struct {
	Delivered int `json:"delivered"` // notifications the endpoint acknowledged
	Failures  int `json:"failures"`  // attempts that failed (non-2xx, error, or slower than 3 s)
	Dropped   int `json:"dropped"`   // notifications given up on
	Pending   int `json:"pending"`
	// State is the endpoint's health: healthy, slow or drop.
	State string `json:"state"`

	windowStart time.Time
	responses   int
	bad         int
	dropUntil   time.Time
}

// Endpoint states (concepts/change-notifications-delivery-webhooks.md, "Throttling").
const (
	endpointHealthy = "healthy"
	endpointSlow    = "slow"
	endpointDrop    = "drop"
)

// record counts a response in the endpoint's window and updates its state.
func (st *DeliveryStats) record(o *Options, bad bool, now time.Time) {
	if now.Sub(st.windowStart) > o.DeliveryWindow {
		st.windowStart, st.responses, st.bad = now, 0, 0
	}
	st.responses++
	if bad {
		st.bad++
	}
	if st.responses < o.MinWindowResponses {
		return
	}
	switch ratio := float64(st.bad) / float64(st.responses); {
	case ratio > 0.15:
		st.State, st.dropUntil = endpointDrop, now.Add(o.DropPeriod)
	case ratio > 0.10:
		st.State = endpointSlow
	default:
		st.State = endpointHealthy
	}
}

// deliverer posts change and lifecycle notifications, one request at a time per endpoint,
// batching what queued up meanwhile, retrying failures with exponential backoff and dropping
// them after the last attempt (concepts/change-notifications-delivery-webhooks.md,
// "Throttling" and "Receive notifications").
type deliverer struct {
	s      *Sim
	client *http.Client
	mu     sync.Mutex
	queues map[string][]*pending // by endpoint
	busy   map[string]bool
	stats  map[string]*DeliveryStats
	wake   chan struct{}
	done   chan struct{}
	wg     sync.WaitGroup
}

// maxBatch is how many notifications one request carries at most.
const maxBatch = 100

func newDeliverer(s *Sim) *deliverer {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = nil
	d := &deliverer{
		s: s, client: &http.Client{Transport: t, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		queues: map[string][]*pending{}, busy: map[string]bool{}, stats: map[string]*DeliveryStats{},
		wake: make(chan struct{}, 1), done: make(chan struct{}),
	}
	d.wg.Add(1)
	go d.loop()
	return d
}

func (d *deliverer) stop() {
	select {
	case <-d.done:
	default:
		close(d.done)
	}
	d.wg.Wait()
}

func (d *deliverer) poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// expire is called when the clock jumps: nothing to do but look again.
func (d *deliverer) expire() { d.poke() }

// enqueue adds a notification for an endpoint, joining the last batch if it has not started.
func (d *deliverer) enqueue(url string, n Notification) {
	d.mu.Lock()
	if st := d.stat(url); d.dropping(st, time.Now()) {
		st.Dropped++
		d.mu.Unlock()
		go d.s.missed([]Notification{n})
		return
	}
	q := d.queues[url]
	if len(q) > 0 && q[len(q)-1].attempts == 0 && len(q[len(q)-1].items) < maxBatch {
		q[len(q)-1].items = append(q[len(q)-1].items, n)
	} else {
		d.queues[url] = append(q, &pending{url: url, items: []Notification{n}, due: time.Now()})
	}
	d.stat(url).Pending++
	d.mu.Unlock()
	d.poke()
}

func (d *deliverer) stat(url string) *DeliveryStats {
	st := d.stats[url]
	if st == nil {
		st = &DeliveryStats{State: endpointHealthy}
		d.stats[url] = st
	}
	return st
}

// dropping reports whether the endpoint is in its drop period, ending the period when it is
// over.
func (d *deliverer) dropping(st *DeliveryStats, now time.Time) bool {
	if st.State != endpointDrop {
		return false
	}
	if now.Before(st.dropUntil) {
		return true
	}
	st.State, st.windowStart, st.responses, st.bad = endpointHealthy, now, 0, 0
	return false
}

func (d *deliverer) loop() {
	defer d.wg.Done()
	timer := time.NewTimer(time.Hour)
	for {
		next := d.dispatch()
		if next > 0 {
			timer.Reset(next)
		}
		select {
		case <-d.done:
			return
		case <-d.wake:
		case <-timer.C:
		}
	}
}

// dispatch starts a delivery for every idle endpoint whose first batch is due, and says how
// long until the next retry is due.
func (d *deliverer) dispatch() time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := time.Now()
	next := time.Hour
	for url, q := range d.queues {
		if len(q) == 0 || d.busy[url] {
			continue
		}
		if st := d.stat(url); d.dropping(st, now) {
			var lost []Notification
			for _, p := range q {
				st.Dropped += len(p.items)
				st.Pending -= len(p.items)
				lost = append(lost, p.items...)
			}
			d.queues[url] = nil
			go d.s.missed(lost)
			continue
		}
		p := q[0]
		if wait := p.due.Sub(now); wait > 0 {
			next = min(next, wait)
			continue
		}
		d.busy[url] = true
		p.attempts++
		d.wg.Add(1)
		go d.post(p, d.stat(url).State == endpointSlow)
	}
	return next
}

// post sends one batch and settles it.
func (d *deliverer) post(p *pending, slow bool) {
	defer d.wg.Done()
	if slow { // a slow endpoint's notifications are delayed
		select {
		case <-time.After(d.s.opts.SlowDelay):
		case <-d.done:
		}
	}
	body, _ := json.Marshal(map[string]any{"value": p.items})
	ctx, cancel := context.WithTimeout(context.Background(), d.s.opts.NotificationTimeout)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	resp, err := d.client.Do(req)
	ok := err == nil && resp.StatusCode >= 200 && resp.StatusCode < 300
	if resp != nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
	}
	cancel()
	d.mu.Lock()
	st := d.stat(p.url)
	st.record(&d.s.opts, !ok, time.Now())
	switch {
	case ok:
		st.Delivered += len(p.items)
		st.Pending -= len(p.items)
		d.queues[p.url] = d.queues[p.url][1:]
	case p.attempts >= d.s.opts.MaxDeliveryAttempts:
		st.Failures++
		st.Dropped += len(p.items)
		st.Pending -= len(p.items)
		d.queues[p.url] = d.queues[p.url][1:]
		d.s.log.Warn("graphsim: notifications dropped", "url", p.url, "count", len(p.items))
		go d.s.missed(p.items)
	default:
		st.Failures++
		p.due = time.Now().Add(d.s.opts.RetryBase << (p.attempts - 1))
	}
	d.busy[p.url] = false
	d.mu.Unlock()
	if ok && d.s.opts.OnDelivered != nil {
		d.s.opts.OnDelivered(p.url, p.items)
	}
	d.poke()
}

// DeliveryStats reports deliveries to an endpoint URL.
func (s *Sim) DeliveryStats(url string) DeliveryStats {
	s.deliver.mu.Lock()
	defer s.deliver.mu.Unlock()
	return *s.deliver.stat(url)
}

// WaitDelivered waits until nothing is pending for any endpoint, or ctx ends.
func (s *Sim) WaitDelivered(ctx context.Context) error {
	for {
		s.deliver.mu.Lock()
		busy := 0
		for _, st := range s.deliver.stats {
			busy += st.Pending
		}
		s.deliver.mu.Unlock()
		if busy == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// notifyLocked queues change notifications for the subscriptions a change matches. s.mu is held.
func (s *Sim) notifyLocked(t *tenant, kind, userID, itemID, changeType string) {
	now := s.nowLocked()
	for _, sub := range s.subs {
		if sub.tenantID != t.id || sub.kind != kind || sub.userID != userID || !sub.ExpirationDateTime.After(now) {
			continue
		}
		if !strings.Contains(sub.ChangeType, changeType) {
			continue
		}
		if sub.folder != "" {
			if mb := t.mailboxes[userID]; mb == nil || mb.messageFolder[itemID] != sub.folder && changeType != "deleted" {
				continue
			}
		}
		s.deliver.enqueue(sub.NotificationURL, s.changeNotification(sub, kind, userID, itemID, changeType))
	}
}

// changeNotification builds a basic notification: resource and resourceData name the item
// (concepts/change-notifications-delivery-webhooks.md, "Change notification example").
func (s *Sim) changeNotification(sub *subscription, kind, userID, itemID, changeType string) Notification {
	typeName := map[string]string{"messages": "Message", "events": "Event", "contacts": "Contact", "users": "User"}[kind]
	res := fmt.Sprintf("Users/%s/%ss/%s", userID, typeName, itemID)
	if kind == "users" {
		res = "Users/" + itemID
	}
	return Notification{
		SubscriptionID: sub.ID, SubscriptionExpirationDateTime: sub.ExpirationDateTime, ChangeType: changeType,
		Resource: res, ClientState: sub.ClientState, TenantID: sub.tenantID,
		ResourceData: map[string]any{
			"@odata.type": "#Microsoft.Graph." + typeName, "@odata.id": res, "@odata.etag": `W/"` + randomID(20) + `"`, "id": itemID,
		},
	}
}

// missed tells the subscriptions whose change notifications were dropped, through their
// lifecycle endpoint, once per subscription: "In case a service missed a notification for your
// subscribed-to resource, you will be notified with a missed notification", supported for
// Outlook messages, events and personal contacts (concepts/change-notifications-lifecycle-events.md).
// Lifecycle notifications dropped in turn are not announced.
func (s *Sim) missed(dropped []Notification) {
	seen := map[string]bool{}
	for _, n := range dropped {
		if n.LifecycleEvent != "" || seen[n.SubscriptionID] {
			continue
		}
		seen[n.SubscriptionID] = true
		s.mu.Lock()
		sub, ok := s.subs[n.SubscriptionID]
		if !ok || sub.LifecycleNotificationURL == nil || sub.kind == "users" {
			s.mu.Unlock()
			continue
		}
		m := Notification{SubscriptionID: sub.ID, SubscriptionExpirationDateTime: sub.ExpirationDateTime,
			ClientState: sub.ClientState, TenantID: sub.tenantID, LifecycleEvent: LifecycleMissed, Resource: sub.Resource}
		url := *sub.LifecycleNotificationURL
		s.mu.Unlock()
		s.deliver.enqueue(url, m)
	}
}

// Lifecycle events (concepts/change-notifications-lifecycle-events.md).
const (
	LifecycleReauthorizationRequired = "reauthorizationRequired"
	LifecycleSubscriptionRemoved     = "subscriptionRemoved"
	LifecycleMissed                  = "missed"
)

// TriggerLifecycle sends a lifecycle notification for a subscription to its
// lifecycleNotificationUrl. subscriptionRemoved also removes the subscription.
func (s *Sim) TriggerLifecycle(subscriptionID, event string) error {
	s.mu.Lock()
	sub, ok := s.subs[subscriptionID]
	if !ok {
		s.mu.Unlock()
		return fmt.Errorf("subscription %s: %w", subscriptionID, ErrNotFound)
	}
	if sub.LifecycleNotificationURL == nil {
		s.mu.Unlock()
		return fmt.Errorf("subscription %s has no lifecycleNotificationUrl: Microsoft sends it no lifecycle events", subscriptionID)
	}
	switch event {
	case LifecycleReauthorizationRequired, LifecycleMissed:
	case LifecycleSubscriptionRemoved:
		delete(s.subs, subscriptionID)
	default:
		s.mu.Unlock()
		return fmt.Errorf("lifecycle event %q: %w", event, ErrNotFound)
	}
	n := Notification{SubscriptionID: sub.ID, SubscriptionExpirationDateTime: sub.ExpirationDateTime,
		ClientState: sub.ClientState, TenantID: sub.tenantID, LifecycleEvent: event, Resource: sub.Resource}
	url := *sub.LifecycleNotificationURL
	s.mu.Unlock()
	s.deliver.enqueue(url, n)
	return nil
}
