// Package outbound delivers webhooks to partners' back ends, GraphQL-native (SourceHut's design):
// a partner registers a URL with a GraphQL subscription document, and each change the
// document's subscription would send is POSTed to the URL as that document's result, signed per
// the Standard Webhooks specification, at least once and in order, retried with backoff for up
// to DisableAfter, from the change log the subscriptions replay from. Endpoints and their
// progress live in the store, so a restart resumes where the last delivery left off, and a
// lease per endpoint makes one process at a time deliver it.
package outbound

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/teamaccess/teamaccess/auth"
	"github.com/teamaccess/teamaccess/errkind"
	"github.com/teamaccess/teamaccess/store"
)

// Statuses of an endpoint.
const (
	Active   = "ACTIVE"
	Disabled = "DISABLED"
)

// Event is one result of an endpoint's subscription: the change's cursor and the GraphQL
// response, as JSON, that is POSTed. Key is what the event is in order with: its mailbox;
// events of different keys may be in flight at once, "" is in order with every event.
type Event struct {
	Cursor string
	Body   []byte
	Key    string
}

// Executor runs subscription documents for endpoints (the server's GraphQL executor).
type Executor interface {
	// Check validates a document as an endpoint's: a subscription the API would accept.
	Check(ctx context.Context, orgID, query string, vars map[string]any) error
	// Run executes it for the organization from after the cursor, one event per change, until
	// ctx ends (the channel closes; an error that ends it early is returned by Err).
	Run(ctx context.Context, orgID, query string, vars map[string]any, after string) (<-chan Event, func() error, error)
	// Head is the cursor of the organization's latest change.
	Head(ctx context.Context, orgID string) (string, error)
	// CheckCursor says whether a subscription can resume after the cursor.
	CheckCursor(after string) error
	// Behind counts the organization's changes after the cursor.
	Behind(ctx context.Context, orgID, after string) (int64, error)
}

// Auditor records admin actions (and what the service does to an admin's endpoint).
type Auditor interface {
	Record(ctx context.Context, actor auth.Actor, action, target, summary string) error
}

// Options configure a Service.
type Options struct {
	Guard *Guard
	// Client makes the deliveries; Guard.Client(nil) if nil.
	Client *http.Client
	Audit  Auditor
	Log    *slog.Logger
	// Owner names this process in the endpoints' leases.
	Owner string
	// Now is the clock; time.Now if nil.
	Now func() time.Time
	// Retry is how long to wait before attempt n+1 of an event (n ≥ 1); 5 s doubling to an hour,
	// with jitter, if nil.
	Retry func(n int) time.Duration
	// DisableAfter is how long an event may keep failing before the endpoint is disabled (it
	// cannot be skipped: deliveries are in order); 25 hours if zero, so that a receiver down for a
	// day gets everything once it is back.
	DisableAfter time.Duration
	// Poll is how often the worker looks for endpoints to deliver; 2 s if zero.
	Poll time.Duration
	// Sleep waits for d or until ctx ends (false then); a timer if nil. Tests move a clock.
	Sleep func(ctx context.Context, d time.Duration) bool
	// Observe, if set, sees each attempt: its HTTP status (0 when none came) and duration.
	Observe func(status int, took time.Duration)
	// InFlight is how many events of different mailboxes an endpoint may have in flight at
	// once (MaxInFlight if zero; 1 delivers strictly one after another).
	InFlight int
}

// MaxInFlight is how many deliveries an endpoint has at once, at most: events of one mailbox
// go one after another, in order; those of different mailboxes side by side.
const MaxInFlight = 4

// Service manages endpoints and delivers to them (Run).
type Service struct {
	st   *store.Store
	exec Executor
	o    Options
	mu   sync.Mutex
	runs map[string]run // endpoints this process delivers
	wg   sync.WaitGroup
}

// New returns the service.
func New(st *store.Store, exec Executor, o Options) *Service {
	if o.Guard == nil {
		o.Guard = NewGuard(nil)
	}
	if o.Client == nil {
		o.Client = o.Guard.Client(nil)
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.DisableAfter <= 0 {
		o.DisableAfter = 25 * time.Hour
	}
	if o.Poll <= 0 {
		o.Poll = 2 * time.Second
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	if o.InFlight <= 0 {
		o.InFlight = MaxInFlight
	}
	return &Service{st: st, exec: exec, o: o, runs: map[string]run{}}
}

// NewEndpoint is what an admin registers.
type NewEndpoint struct {
	URL, Description, Query string
	Variables               map[string]any
}

// MaxEndpoints is how many endpoints an organization may have.
const MaxEndpoints = 20

// Create registers an endpoint and returns it with its signing secret, shown this once.
// Deliveries start with the next change.
func (s *Service) Create(ctx context.Context, actor auth.Actor, n NewEndpoint) (store.WebhookEndpoint, string, error) {
	url, err := s.check(ctx, actor.OrgID, n)
	if err != nil {
		return store.WebhookEndpoint{}, "", err
	}
	org := s.st.Org(actor.OrgID)
	existing, err := org.WebhookEndpoints(ctx)
	if err != nil {
		return store.WebhookEndpoint{}, "", err
	}
	if len(existing) >= MaxEndpoints {
		return store.WebhookEndpoint{}, "", errkind.E(errkind.ErrInvalid, "an organization has at most %d webhook endpoints; delete one first", MaxEndpoints)
	}
	head, err := s.exec.Head(ctx, actor.OrgID)
	if err != nil {
		return store.WebhookEndpoint{}, "", err
	}
	now := s.o.Now().UTC().Truncate(time.Millisecond)
	secret := NewSecret()
	e := store.WebhookEndpoint{ID: newEndpointID(), URL: url, Description: n.Description, Query: n.Query, Variables: n.Variables,
		Secrets: []store.WebhookSecret{{Secret: secret, CreatedAt: now}}, Status: Active, CreatedAt: now, Cursor: head}
	if err := org.InsertWebhookEndpoint(ctx, e); err != nil {
		return store.WebhookEndpoint{}, "", err
	}
	e.OrgID = actor.OrgID
	if err := s.audit(ctx, actor, "webhookEndpoint.create", e.ID, "created webhook endpoint "+e.URL); err != nil {
		return store.WebhookEndpoint{}, "", err
	}
	return e, secret, nil
}

// restart ends this process's delivery of an endpoint, if it has one, so that the next poll
// starts it again from the store (another process's sees the new generation within its poll).
func (s *Service) restart(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.runs[id]; ok {
		r.cancel()
	}
}

// check reads an endpoint as an admin gives it: a URL the guard allows, bounded texts, and a
// document the API would run. It answers the URL as stored.
func (s *Service) check(ctx context.Context, orgID string, n NewEndpoint) (string, error) {
	u, err := s.o.Guard.CheckURL(n.URL)
	if err != nil {
		return "", err
	}
	if len(n.Description) > 500 {
		return "", errkind.E(errkind.ErrInvalid, "description is at most 500 characters")
	}
	if len(n.Query) > 20_000 {
		return "", errkind.E(errkind.ErrInvalid, "query is at most 20,000 characters")
	}
	if err := s.exec.Check(ctx, orgID, n.Query, n.Variables); err != nil {
		return "", err
	}
	return u.String(), nil
}

func newEndpointID() string {
	b := make([]byte, 10)
	_, _ = rand.Read(b)
	return "whe_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

// List returns the organization's endpoints.
func (s *Service) List(ctx context.Context, orgID string) ([]store.WebhookEndpoint, error) {
	return s.st.Org(orgID).WebhookEndpoints(ctx)
}

// Get returns one of the organization's endpoints.
func (s *Service) Get(ctx context.Context, orgID, id string) (store.WebhookEndpoint, error) {
	e, err := s.st.Org(orgID).WebhookEndpoint(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return e, errkind.E(errkind.ErrNotFound, "no webhook endpoint %s", id)
	}
	return e, err
}

// Backlog is how many changes the endpoint has still to deliver.
func (s *Service) Backlog(ctx context.Context, e store.WebhookEndpoint) (int, error) {
	n, err := s.exec.Behind(ctx, e.OrgID, e.Cursor)
	return int(n), err
}

// TotalBacklog is how many changes the active endpoints of every organisation have still to
// deliver, summed (the metric).
func (s *Service) TotalBacklog(ctx context.Context) (int64, error) {
	eps, err := s.st.ActiveWebhookEndpoints(ctx)
	if err != nil {
		return 0, err
	}
	var total int64
	for _, e := range eps {
		n, err := s.exec.Behind(ctx, e.OrgID, e.Cursor)
		if err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}

// Disable stops deliveries to an endpoint; Enable resumes them from where they stopped.
func (s *Service) Disable(ctx context.Context, actor auth.Actor, id string) (store.WebhookEndpoint, error) {
	return s.setStatus(ctx, actor, id, Disabled, "disabled by "+actor.Name)
}

// Enable resumes deliveries to a disabled endpoint, from the change after the last delivered.
func (s *Service) Enable(ctx context.Context, actor auth.Actor, id string) (store.WebhookEndpoint, error) {
	return s.setStatus(ctx, actor, id, Active, "")
}

func (s *Service) setStatus(ctx context.Context, actor auth.Actor, id, status, reason string) (store.WebhookEndpoint, error) {
	if _, err := s.Get(ctx, actor.OrgID, id); err != nil {
		return store.WebhookEndpoint{}, err
	}
	set := bson.D{{Key: "status", Value: status}, {Key: "disabledReason", Value: reason}}
	if status == Active {
		set = append(set, bson.E{Key: "failingSince", Value: nil}, bson.E{Key: "attempts", Value: 0}, bson.E{Key: "nextAttempt", Value: nil})
	}
	e, err := s.st.Org(actor.OrgID).UpdateWebhookEndpoint(ctx, id, set)
	if err != nil {
		return e, err
	}
	action := map[string]string{Active: "webhookEndpoint.enable", Disabled: "webhookEndpoint.disable"}[status]
	return e, s.audit(ctx, actor, action, id, strings.ToLower(status)+" webhook endpoint "+e.URL)
}

// Delete removes an endpoint and its delivery log.
func (s *Service) Delete(ctx context.Context, actor auth.Actor, id string) error {
	e, err := s.Get(ctx, actor.OrgID, id)
	if err != nil {
		return err
	}
	if err := s.st.Org(actor.OrgID).DeleteWebhookEndpoint(ctx, id); err != nil {
		return err
	}
	return s.audit(ctx, actor, "webhookEndpoint.delete", id, "deleted webhook endpoint "+e.URL)
}

func liveSecrets(ss []store.WebhookSecret, now time.Time) []store.WebhookSecret {
	var out []store.WebhookSecret
	for _, s := range ss {
		if s.ExpiresAt == nil || now.Before(*s.ExpiresAt) {
			out = append(out, s)
		}
	}
	return out
}

// DeliveryLogRetention is how long the delivery log keeps an attempt (webhookDeliveries): a
// month to look back on, while a replay reaches as far as the change log (7 days).
const DeliveryLogRetention = 30 * 24 * time.Hour

// Prune deletes the attempts older than DeliveryLogRetention, of every organisation.
func (s *Service) Prune(ctx context.Context) error {
	_, err := s.st.PruneWebhookDeliveries(ctx, s.o.Now().Add(-DeliveryLogRetention))
	return err
}

// Deliveries returns an endpoint's attempts, newest first, limit of them before the given one
// (none: from the newest).
func (s *Service) Deliveries(ctx context.Context, orgID, id string, before string, limit int) ([]store.WebhookDelivery, error) {
	if _, err := s.Get(ctx, orgID, id); err != nil {
		return nil, err
	}
	var from bson.ObjectID
	if before != "" {
		var err error
		if from, err = bson.ObjectIDFromHex(before); err != nil {
			return nil, errkind.E(errkind.ErrInvalid, "%q is not a delivery cursor", before)
		}
	}
	return s.st.Org(orgID).WebhookDeliveries(ctx, id, from, min(max(limit, 1), 100))
}

func (s *Service) audit(ctx context.Context, actor auth.Actor, action, target, summary string) error {
	if s.o.Audit == nil {
		return nil
	}
	if err := s.o.Audit.Record(ctx, actor, action, target, summary); err != nil {
		return fmt.Errorf("audit %s: %w", action, err)
	}
	return nil
}
