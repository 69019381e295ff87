package subscriptions

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/teamaccess/teamaccess/graphdata"
	"github.com/teamaccess/teamaccess/store"
)

// Graph manages subscriptions (*m365.Client serves it). Its errors match
// graphdata.ErrSubscriptionGone, graphdata.ErrTransient or (anything else) a refusal.
type Graph interface {
	CreateSubscription(ctx context.Context, tenantID string, r graphdata.SubscriptionRequest) (graphdata.Subscription, error)
	RenewSubscription(ctx context.Context, tenantID, id string, expiresAt time.Time) (graphdata.Subscription, error)
	ReauthorizeSubscription(ctx context.Context, tenantID, id string) error
	DeleteSubscription(ctx context.Context, tenantID, id string) error
	ListSubscriptions(ctx context.Context, tenantID string) ([]graphdata.ListedSubscription, error)
}

// Syncer runs delta rounds.
type Syncer interface {
	Scopes() []string
	SyncScopes(ctx context.Context, orgID, tenantID, userID string, scopes []string) error
}

// Store is what the package needs of the database.
type Store interface {
	Org(orgID string) store.OrgScope
	ConnectedTeamAccess(ctx context.Context) ([]store.TeamAccess, error)
	SaveGraphSubscription(ctx context.Context, g store.GraphSubscription) error
	CreateGraphSubscription(ctx context.Context, g store.GraphSubscription) error
	DeleteGraphSubscription(ctx context.Context, id string) error
	GraphSubscriptions(ctx context.Context, orgID string) ([]store.GraphSubscription, error)
	GraphSubscriptionsByID(ctx context.Context, ids []string) (map[string]store.GraphSubscription, error)
	GraphSubscriptionsBySubscriptionID(ctx context.Context, ids []string) ([]store.GraphSubscription, error)
	PendingGraphSubscriptionByHash(ctx context.Context, hash []byte) (store.GraphSubscription, bool, error)
	InsertInbox(ctx context.Context, es []store.InboxEntry) error
	DueInbox(ctx context.Context, now time.Time, limit int, partitions []int) ([]store.InboxEntry, error)
	FinishInbox(ctx context.Context, finished, replacements []store.InboxEntry) error
	ClaimLease(ctx context.Context, name, owner string, now, until time.Time) (bool, error)
	ReleaseLease(ctx context.Context, name, owner string) error
	PruneInbox(ctx context.Context, before time.Time) (int64, error)
}

var _ Store = (*store.Store)(nil)

// Options tune the service.
type Options struct {
	Now func() time.Time
	Log *slog.Logger
	// BaseURL is the public URL Graph reaches this service at; webhooks go under
	// /webhooks/graph/. Empty turns change notifications off (delta sync alone), for Disabled's
	// reason.
	BaseURL  string
	Disabled string
	// Lifetime asked for a subscription: Outlook resources allow 10,080 minutes
	// (api-reference/v1.0/resources/subscription.md, "Subscription lifetime"); 10,070 by default,
	// a margin for clock skew.
	Lifetime time.Duration
	// RenewBefore: a subscription is renewed once it has less than this left; 3 days by default.
	RenewBefore time.Duration
	// Concurrency: mailboxes whose subscriptions are set up at a time; 4 by default.
	Concurrency int
	// Rounds: delta rounds the worker runs at a time, each for a different mailbox scope; 16 by
	// default (Outlook allows 4 requests in flight per mailbox, and each round makes one at a time).
	Rounds int
	// Poll is how often the worker looks for entries other processes received; 1 s by default.
	Poll time.Duration
	// Gather is how long the worker waits after a delivery before its pass, for the rest of a
	// burst to arrive; 100 ms by default.
	Gather time.Duration
	// Retention of done inbox entries; an hour by default.
	Retention time.Duration
	// SweepEvery is how often each organisation's subscriptions in Graph are compared with the
	// records, and those no record knows deleted; 6 hours by default.
	SweepEvery time.Duration
	// Counted hears of every delivered item: accepted, or why it was dropped.
	Counted func(result string, n int)
	// Partitions, when set, is this process's share of the work (partition.Table): it keeps
	// the subscriptions of its mailboxes, sweeps its tenants and works off its mailboxes'
	// inbox entries, and the others theirs. When nil one process at a time, by lease, does all.
	Partitions Partitions
}

// Partitions is this process's share of the mailboxes and tenants.
type Partitions interface {
	Held() []int
	Mailbox(orgID, mailboxID string) bool
	Tenant(orgID string) bool
}

// maintainLease is held by the process that keeps subscriptions; it outlasts a scheduled run
// (every minute) so that the same process keeps it while it lives.
const (
	maintainLease    = "subscription-keeper"
	maintainLeaseFor = 3 * time.Minute
)

// Paths of the webhook endpoints under the public URL.
const (
	NotificationPath = "/webhooks/graph/notifications"
	LifecyclePath    = "/webhooks/graph/lifecycle"
)

// Service keeps subscriptions, takes deliveries in and works them off.
type Service struct {
	st    Store
	g     Graph
	sync  Syncer
	o     Options
	owner string
	// keeper and worker are the leases of the process that keeps the subscriptions and of the
	// one that works the inbox off.
	keeper, worker *store.Lease

	mu    sync.Mutex
	known map[string]known       // Graph subscription id -> its record, for intake
	locks map[string]*sync.Mutex // org|mailbox -> held while its subscriptions change
	swept map[string]time.Time   // org -> when its subscriptions in Graph were last swept
	// ceiling is the longest lifetime Graph accepted to name in a refusal (lifetime.go).
	ceiling time.Duration

	wake  chan struct{}
	batch *batcher
}

// known is what intake needs of a subscription.
type known struct {
	org, tenant, mailbox, scope string
	hash                        []byte
}

func knownOf(r store.GraphSubscription) known {
	return known{r.OrgID, r.TenantID, r.MailboxID, r.Scope, r.ClientStateHash}
}

// holdsKeeper claims (or renews) the lease of the process that keeps the subscriptions: one at
// a time, so that two never create the same one.
func (s *Service) holdsKeeper(ctx context.Context) (bool, error) {
	if s.o.Partitions != nil {
		return true, nil // each process keeps its own mailboxes'
	}
	now := s.now()
	return s.keeper.Claim(ctx, now)
}

// New returns the service; Run starts its worker and intake writer.
func New(st Store, g Graph, syncer Syncer, o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.Lifetime, 10070*time.Minute)
	def(&o.RenewBefore, 72*time.Hour)
	def(&o.Poll, time.Second)
	def(&o.Gather, 100*time.Millisecond)
	def(&o.Retention, time.Hour)
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.SweepEvery <= 0 {
		o.SweepEvery = 6 * time.Hour
	}
	if o.Rounds <= 0 {
		o.Rounds = 16
	}
	if o.Counted == nil {
		o.Counted = func(string, int) {}
	}
	o.BaseURL = strings.TrimRight(o.BaseURL, "/")
	s := &Service{st: st, g: g, sync: syncer, o: o, owner: randomToken(9),
		known: map[string]known{}, locks: map[string]*sync.Mutex{},
		wake: make(chan struct{}, 1)}
	s.keeper = store.NewLease(st, maintainLease, s.owner, maintainLeaseFor)
	s.worker = store.NewLease(st, leaseName, s.owner, leaseFor)
	s.batch = newBatcher(st.InsertInbox, 1000)
	return s
}

func (s *Service) now() time.Time { return s.o.Now().UTC().Truncate(time.Millisecond) }

// Enabled says whether change notifications are on, and if not why.
func (s *Service) Enabled() (bool, string) {
	if s.o.BaseURL == "" {
		return false, s.o.Disabled
	}
	return true, ""
}

// resource is the Graph resource a delta scope subscribes to.
func resource(userID, scope string) string {
	s := store.Scope(scope)
	if folder, ok := s.MailFolder(); ok {
		return "/users/" + userID + "/mailFolders('" + folder + "')/messages"
	}
	if s == store.ScopeCalendar {
		return "/users/" + userID + "/events"
	}
	return "/users/" + userID + "/contacts"
}

func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// HashClientState is what is stored of a clientState: its SHA-256.
func HashClientState(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func (s *Service) mailboxLock(org, mailbox string) *sync.Mutex {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := org + "|" + mailbox
	l, ok := s.locks[k]
	if !ok {
		l = &sync.Mutex{}
		s.locks[k] = l
	}
	return l
}

func (s *Service) remember(g store.GraphSubscription) {
	if g.SubscriptionID == "" {
		return
	}
	s.mu.Lock()
	s.known[g.SubscriptionID] = knownOf(g)
	s.mu.Unlock()
}

func (s *Service) forget(subscriptionID string) {
	s.mu.Lock()
	delete(s.known, subscriptionID)
	s.mu.Unlock()
}
