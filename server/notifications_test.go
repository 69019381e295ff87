package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/teamaccess/teamaccess/deltasync"
	"github.com/teamaccess/teamaccess/graphdata"
	"github.com/teamaccess/teamaccess/graphsim"
	"github.com/teamaccess/teamaccess/m365"
	"github.com/teamaccess/teamaccess/store"
	"github.com/teamaccess/teamaccess/subscriptions"
)

// notifyEnv is the change-notification stack as the service composes it (graphsim, m365,
// deltasync, subscriptions, the store, the real webhook handlers on a real HTTP server) with a
// clock of the test's. Nothing syncs on a schedule: only notifications start delta rounds.
type notifyEnv struct {
	*syncEnv
	st      *store.Store // the store the service uses (syncEnv's, or one through a proxy)
	syncer  *deltasync.Syncer
	subs    *subscriptions.Service
	mux     *http.ServeMux
	srv     *httptest.Server
	swallow atomic.Bool // the endpoint says 202 to change notifications and keeps nothing: "lost" ones
	fail    atomic.Bool // the endpoint answers change notifications 500

	mu     sync.Mutex
	clock  time.Time
	client *m365.Client            // the subscriptions' Graph client, new after each clock jump
	acked  []graphsim.Notification // what the endpoint acknowledged, as graphsim saw it
	codes  map[int]int             // status codes the endpoint answered deliveries with
}

func newNotifyEnv(t *testing.T, opts graphsim.Options, storeFor func(*syncEnv) *store.Store) *notifyEnv {
	t.Helper()
	n := &notifyEnv{codes: map[int]int{}}
	opts.OnDelivered = func(_ string, items []graphsim.Notification) {
		n.mu.Lock()
		n.acked = append(n.acked, items...)
		n.mu.Unlock()
	}
	n.syncEnv = newSyncEnvWith(t, opts)
	n.clock = n.now
	n.st = n.syncEnv.st
	if storeFor != nil {
		n.st = storeFor(n.syncEnv)
	}
	n.syncer = deltasync.New(n.st, n.graph, deltasync.Options{Now: func() time.Time { return n.syncEnv.now },
		Publish: func(string, deltasync.Change) { n.changes.Add(1) }})
	mux := http.NewServeMux()
	n.mux = mux
	n.srv = httptest.NewServer(mux)
	t.Cleanup(n.srv.Close)
	n.client = n.mc
	n.subs = subscriptions.New(n.st, switchedGraph{n}, n.syncer, subscriptions.Options{
		Now: n.time, BaseURL: n.srv.URL, Poll: 50 * time.Millisecond, Log: slog.New(slog.DiscardHandler)})
	hook := handleGraphWebhook(n.subs, slog.New(slog.DiscardHandler))
	record := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Has("validationToken") {
				next.ServeHTTP(w, r)
				return
			}
			if n.swallow.Load() && r.URL.Path == subscriptions.NotificationPath {
				w.WriteHeader(http.StatusAccepted)
				return
			}
			if n.fail.Load() && r.URL.Path == subscriptions.NotificationPath {
				w.WriteHeader(http.StatusInternalServerError)
				return
			}
			rec := &statusRecorder{ResponseWriter: w, code: 200}
			next.ServeHTTP(rec, r)
			n.mu.Lock()
			n.codes[rec.code]++
			n.mu.Unlock()
		})
	}
	mux.Handle(subscriptions.NotificationPath, record(hook))
	mux.Handle(subscriptions.LifecyclePath, record(hook))
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go n.subs.Run(ctx)
	for _, u := range []string{n.alice, n.bob} {
		require.NoError(t, n.subs.EnsureMailbox(t.Context(), n.org, n.tenant, u))
	}
	require.Len(t, n.sim.Subscriptions(), 8, "inbox, sent items, calendar, contacts of two mailboxes")
	return n
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

func (n *notifyEnv) time() time.Time {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.clock
}

// advance moves the service's clock and graphsim's together. The Graph client starts afresh:
// tokens it holds were issued by graphsim before the jump, and graphsim now finds them expired
// while azidentity, on the real clock, would not.
func (n *notifyEnv) advance(t *testing.T, d time.Duration) {
	n.sim.Advance(d)
	cl, _ := m365.CustomCloud(n.sim.AuthorityURL(), n.sim.GraphURL())
	mc, err := m365.New(m365.Config{ClientID: syncApp, ClientSecret: "s", Cloud: cl, RootCAs: n.sim.CertPool()})
	require.NoError(t, err)
	n.mu.Lock()
	n.clock = n.clock.Add(d)
	n.client = mc
	n.mu.Unlock()
}

// switchedGraph is the subscriptions' Graph through the env's current client.
type switchedGraph struct{ n *notifyEnv }

func (g switchedGraph) current() *m365.Client {
	g.n.mu.Lock()
	defer g.n.mu.Unlock()
	return g.n.client
}

func (g switchedGraph) CreateSubscription(ctx context.Context, tenantID string, r graphdata.SubscriptionRequest) (graphdata.Subscription, error) {
	return g.current().CreateSubscription(ctx, tenantID, r)
}

func (g switchedGraph) RenewSubscription(ctx context.Context, tenantID, id string, at time.Time) (graphdata.Subscription, error) {
	return g.current().RenewSubscription(ctx, tenantID, id, at)
}

func (g switchedGraph) ReauthorizeSubscription(ctx context.Context, tenantID, id string) error {
	return g.current().ReauthorizeSubscription(ctx, tenantID, id)
}

func (g switchedGraph) DeleteSubscription(ctx context.Context, tenantID, id string) error {
	return g.current().DeleteSubscription(ctx, tenantID, id)
}

func (g switchedGraph) ListSubscriptions(ctx context.Context, tenantID string) ([]graphdata.ListedSubscription, error) {
	return g.current().ListSubscriptions(ctx, tenantID)
}

// findSubscription is graphsim's live subscription for a resource suffix of a user.
func (n *notifyEnv) findSubscription(user, suffix string) (graphsim.Subscription, bool) {
	for _, s := range n.sim.Subscriptions() {
		if strings.Contains(s.Resource, user) && strings.HasSuffix(s.Resource, suffix) {
			return s, true
		}
	}
	return graphsim.Subscription{}, false
}

func (n *notifyEnv) subscription(t *testing.T, user, suffix string) graphsim.Subscription {
	t.Helper()
	s, ok := n.findSubscription(user, suffix)
	require.True(t, ok, "no subscription for %s %s", user, suffix)
	return s
}

// hasActivity reports whether the store holds a live activity with that subject.
func (n *notifyEnv) hasActivity(t *testing.T, user, subject string) bool {
	as, err := n.st.Org(n.org).LiveActivities(t.Context(), user)
	require.NoError(t, err)
	for _, a := range as {
		if a.Subject == subject {
			return true
		}
	}
	return false
}

func (n *notifyEnv) requests(method, pathSuffix string) int {
	c := 0
	for _, r := range n.sim.Requests() {
		if r.Method == method && strings.HasSuffix(r.Path, pathSuffix) {
			c++
		}
	}
	return c
}

func TestChangeNotificationsBecomeActivities(t *testing.T) {
	t.Parallel()
	n := newNotifyEnv(t, graphsim.Options{}, nil)
	n.mail(t, n.alice, "inbox", "first contact", n.now)
	n.meeting(t, n.bob, "kick-off", n.now.Add(24*time.Hour))
	require.Eventually(t, func() bool {
		return n.hasActivity(t, n.alice, "first contact") && n.hasActivity(t, n.bob, "kick-off")
	}, 10*time.Second, 20*time.Millisecond)
	require.Eventually(t, func() bool {
		p, err := n.st.PendingInbox(t.Context())
		return err == nil && p == 0
	}, 10*time.Second, 20*time.Millisecond, "every entry is worked off")
	n.reconcile(t, "after notifications")
}

func TestLifecycleEventsAreAnswered(t *testing.T) {
	t.Parallel()
	n := newNotifyEnv(t, graphsim.Options{}, nil)
	ctx := t.Context()

	// reauthorizationRequired: the subscription is reauthorized.
	inbox := n.subscription(t, n.alice, "mailFolders('inbox')/messages")
	require.NoError(t, n.sim.TriggerLifecycle(inbox.ID, graphsim.LifecycleReauthorizationRequired))
	require.Eventually(t, func() bool { return n.requests("POST", "/subscriptions/"+inbox.ID+"/reauthorize") == 1 },
		10*time.Second, 20*time.Millisecond)
	require.Eventually(t, func() bool {
		hs, err := n.subs.MailboxHealth(ctx, n.org, n.alice)
		require.NoError(t, err)
		for _, h := range hs {
			if h.Scope == "mail:inbox" {
				return h.LastLifecycle == graphsim.LifecycleReauthorizationRequired && h.State == "ACTIVE" && h.RenewedAt != nil
			}
		}
		return false
	}, 10*time.Second, 20*time.Millisecond)

	// subscriptionRemoved: recreated, and what changed while it was gone is read by a delta round.
	events := n.subscription(t, n.alice, "/events")
	require.NoError(t, n.sim.TriggerLifecycle(events.ID, graphsim.LifecycleSubscriptionRemoved))
	n.meeting(t, n.alice, "while removed", n.now.Add(2*time.Hour)) // no subscription: no notification
	require.Eventually(t, func() bool {
		s, ok := n.findSubscription(n.alice, "/events")
		return ok && s.ID != events.ID && n.hasActivity(t, n.alice, "while removed")
	}, 10*time.Second, 20*time.Millisecond)
	require.Len(t, n.sim.Subscriptions(), 8)

	// missed: notifications Graph could not deliver are read by a delta round.
	n.swallow.Store(true)
	n.mail(t, n.bob, "inbox", "never notified", n.now)
	require.NoError(t, n.sim.WaitDelivered(ctx))
	n.swallow.Store(false)
	require.False(t, n.hasActivity(t, n.bob, "never notified"))
	bobInbox := n.subscription(t, n.bob, "mailFolders('inbox')/messages")
	require.NoError(t, n.sim.TriggerLifecycle(bobInbox.ID, graphsim.LifecycleMissed))
	require.Eventually(t, func() bool { return n.hasActivity(t, n.bob, "never notified") }, 10*time.Second, 20*time.Millisecond)
	require.Equal(t, bobInbox.ID, n.subscription(t, n.bob, "mailFolders('inbox')/messages").ID, "missed keeps the subscription")
	n.reconcile(t, "after lifecycle events")
}

// When Graph gives up on notifications (the endpoint failed every attempt) it sends a missed
// lifecycle event; the round it starts reads what they announced.
func TestNotificationsGraphGaveUpOnAreReadAfterMissed(t *testing.T) {
	t.Parallel()
	n := newNotifyEnv(t, graphsim.Options{RetryBase: 20 * time.Millisecond, MaxDeliveryAttempts: 2}, nil)
	n.fail.Store(true)
	n.mail(t, n.alice, "inbox", "dropped by Graph", n.now)
	require.Eventually(t, func() bool {
		return n.sim.DeliveryStats(n.srv.URL+subscriptions.NotificationPath).Dropped >= 1
	}, 10*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool { return n.hasActivity(t, n.alice, "dropped by Graph") }, 10*time.Second, 20*time.Millisecond)
	hs, err := n.subs.MailboxHealth(t.Context(), n.org, n.alice)
	require.NoError(t, err)
	for _, h := range hs {
		if h.Scope == "mail:inbox" {
			require.Equal(t, graphsim.LifecycleMissed, h.LastLifecycle)
		}
	}
}

func TestSubscriptionAboutToExpireIsRenewed(t *testing.T) {
	t.Parallel()
	n := newNotifyEnv(t, graphsim.Options{}, nil)
	ctx := t.Context()
	before := n.subscription(t, n.alice, "/contacts")
	require.Zero(t, n.requests("PATCH", "/subscriptions/"+before.ID))

	// Three days on, four are left: not yet.
	n.advance(t, 3*24*time.Hour)
	require.NoError(t, n.subs.EnsureMailbox(ctx, n.org, n.tenant, n.alice))
	require.Zero(t, n.requests("PATCH", "/subscriptions/"+before.ID))

	// Five days on, two are left: renewed to the longest lifetime again.
	n.advance(t, 2*24*time.Hour)
	require.NoError(t, n.subs.EnsureMailbox(ctx, n.org, n.tenant, n.alice))
	require.Equal(t, 1, n.requests("PATCH", "/subscriptions/"+before.ID))
	after := n.subscription(t, n.alice, "/contacts")
	require.Equal(t, before.ID, after.ID)
	require.WithinDuration(t, n.sim.Now().Add(10070*time.Minute), after.ExpirationDateTime, time.Minute)
	hs, err := n.subs.MailboxHealth(ctx, n.org, n.alice)
	require.NoError(t, err)
	for _, h := range hs {
		require.Equal(t, "ACTIVE", h.State, h.Scope)
		require.Equal(t, after.ExpirationDateTime, h.ExpiresAt.UTC(), "the expiry Graph returned is the one stored")
	}

	// A subscription left to expire (the service was down for a week) is created anew.
	n.advance(t, 8*24*time.Hour)
	require.Empty(t, n.sim.Subscriptions())
	require.NoError(t, n.subs.EnsureMailbox(ctx, n.org, n.tenant, n.alice))
	require.Len(t, n.sim.Subscriptions(), 4)
}

func TestSubscriptionCreationFailureIsRecordedAndRetried(t *testing.T) {
	t.Parallel()
	n := newNotifyEnv(t, graphsim.Options{}, nil)
	ctx := t.Context()
	carol, err := n.sim.AddUser(n.tenant, graphsim.UserSpec{DisplayName: "Carol", UPN: "carol@contoso.com"})
	require.NoError(t, err)
	// Carol's mailbox is outside the application access policy: creation is refused.
	require.NoError(t, n.sim.SetAccessPolicy(n.tenant, syncApp, []string{n.alice, n.bob}))
	n.advance(t, 2*time.Hour) // policies take effect after a delay
	require.Error(t, n.subs.EnsureMailbox(ctx, n.org, n.tenant, carol))
	hs, err := n.subs.MailboxHealth(ctx, n.org, carol)
	require.NoError(t, err)
	require.Len(t, hs, 4)
	for _, h := range hs {
		require.Equal(t, "FAILING", h.State)
		require.Equal(t, 1, h.Failures)
		require.Contains(t, h.LastError, "Access to OData is disabled.", "Graph's reason")
		require.NotNil(t, h.NextAttemptAt)
	}
	covered, err := n.subs.Covered(ctx, n.org)
	require.NoError(t, err)
	require.False(t, covered[carol], "failing subscriptions leave her rounds at the usual interval")
	// Within its backoff nothing is tried; after it, the admin has widened the policy.
	calls := n.requests("POST", "/subscriptions")
	require.NoError(t, n.subs.EnsureMailbox(ctx, n.org, n.tenant, carol))
	require.Equal(t, calls, n.requests("POST", "/subscriptions"))
	require.NoError(t, n.sim.SetAccessPolicy(n.tenant, syncApp, nil))
	n.advance(t, 2*time.Hour)
	require.NoError(t, n.subs.EnsureMailbox(ctx, n.org, n.tenant, carol))
	hs, _ = n.subs.MailboxHealth(ctx, n.org, carol)
	for _, h := range hs {
		require.Equal(t, "ACTIVE", h.State)
		require.Empty(t, h.LastError)
	}
	covered, err = n.subs.Covered(ctx, n.org)
	require.NoError(t, err)
	require.True(t, covered[carol], "every scope live and healthy: notifications bring her changes")
}

// post delivers a body to the env's notification endpoint.
func (n *notifyEnv) post(t *testing.T, body string) int {
	resp, err := http.Post(n.srv.URL+subscriptions.NotificationPath, "application/json", strings.NewReader(body))
	require.NoError(t, err)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func notificationBody(subID string, clientState *string, item string) string {
	b, _ := json.Marshal(map[string]any{"value": []map[string]any{{
		"subscriptionId": subID, "clientState": clientState, "changeType": "created", "tenantId": "t",
		"subscriptionExpirationDateTime": "2030-01-01T00:00:00Z",
		"resource":                       "Users/x/Messages/" + item, "resourceData": map[string]any{"id": item, "@odata.type": "#Microsoft.Graph.Message"},
	}}})
	return string(b)
}

func TestWrongClientStateIsRefusedAndNothingStored(t *testing.T) {
	t.Parallel()
	n := newNotifyEnv(t, graphsim.Options{}, nil)
	ctx := t.Context()
	sub := n.subscription(t, n.alice, "mailFolders('inbox')/messages")
	wrong, empty := "not-the-secret", ""
	for name, body := range map[string]string{
		"wrong clientState":    notificationBody(sub.ID, &wrong, "m1"),
		"empty clientState":    notificationBody(sub.ID, &empty, "m2"),
		"no clientState":       notificationBody(sub.ID, nil, "m3"),
		"another's state":      notificationBody(sub.ID, n.subscription(t, n.bob, "mailFolders('inbox')/messages").ClientState, "m4"),
		"unknown subscription": notificationBody("2d1e0a7c-0000-4000-8000-000000000000", sub.ClientState, "m5"),
	} {
		require.Equal(t, http.StatusAccepted, n.post(t, body), name) // discarded, not retried by Graph
	}
	for name, body := range map[string]string{
		"not JSON":        `value=1`,
		"trailing data":   notificationBody(sub.ID, sub.ClientState, "m6") + `{}`,
		"no value":        `{"values": []}`,
		"bad change type": strings.Replace(notificationBody(sub.ID, sub.ClientState, "m7"), `"created"`, `"exploded"`, 1),
	} {
		require.Equal(t, http.StatusBadRequest, n.post(t, body), name)
	}
	pending, done, err := n.st.InboxEntries(ctx)
	require.NoError(t, err)
	require.Empty(t, append(pending, done...), "nothing refused is stored")

	// The right state (graphsim's copy of what teamaccess sent at creation) is kept.
	require.Equal(t, http.StatusAccepted, n.post(t, notificationBody(sub.ID, sub.ClientState, "m8")))
	pending, done, err = n.st.InboxEntries(ctx)
	require.NoError(t, err)
	es := append(pending, done...)
	require.Len(t, es, 1)
	require.Equal(t, "m8", es[0].ItemID)
	require.Equal(t, "mail:inbox", es[0].Scope)
	require.Equal(t, n.alice, es[0].MailboxID)

	// Only a hash of the state is stored.
	recs, err := n.st.GraphSubscriptions(ctx, n.org)
	require.NoError(t, err)
	for _, r := range recs {
		raw, _ := json.Marshal(r)
		for _, s := range n.sim.Subscriptions() {
			require.NotContains(t, string(raw), *s.ClientState)
		}
	}
}

// tcpProxy stands between the service and its database, so a test can cut the database off.
type tcpProxy struct {
	ln     net.Listener
	target string
	down   atomic.Bool
	mu     sync.Mutex
	conns  []net.Conn
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &tcpProxy{ln: ln, target: target}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if p.down.Load() {
				c.Close()
				continue
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go func() { io.Copy(s, c); s.Close() }()
			go func() { io.Copy(c, s); c.Close() }()
		}
	}()
	return p
}

func (p *tcpProxy) addr() string { return p.ln.Addr().String() }

// cut drops every connection and refuses new ones until restore.
func (p *tcpProxy) cut() {
	p.down.Store(true)
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
}

func (p *tcpProxy) restore() { p.down.Store(false) }

func TestStoreOutageDuringIntakeAnswers503AndLosesNothingAcknowledged(t *testing.T) {
	t.Parallel()
	var proxy *tcpProxy
	n := newNotifyEnv(t, graphsim.Options{RetryBase: 250 * time.Millisecond, MaxDeliveryAttempts: 30}, func(e *syncEnv) *store.Store {
		u, err := url.Parse(e.st.EmbeddedURI())
		require.NoError(t, err)
		proxy = newTCPProxy(t, u.Host)
		st, err := store.Open(t.Context(), store.Options{URI: "mongodb://" + proxy.addr() + "/?serverSelectionTimeoutMS=1000&connectTimeoutMS=1000",
			ConnectTimeout: 5 * time.Second, Logger: slog.New(slog.DiscardHandler)})
		require.NoError(t, err)
		t.Cleanup(func() { st.Close(context.Background()) })
		return st
	})
	ctx := t.Context()
	var subjects []string
	for i := range 10 {
		subjects = append(subjects, fmt.Sprintf("before %d", i))
		n.mail(t, n.alice, "inbox", subjects[len(subjects)-1], n.now)
	}
	require.NoError(t, n.sim.WaitDelivered(ctx))

	proxy.cut()
	for i := range 20 {
		subjects = append(subjects, fmt.Sprintf("during %d", i))
		n.mail(t, []string{n.alice, n.bob}[i%2], "inbox", subjects[len(subjects)-1], n.now)
		time.Sleep(50 * time.Millisecond)
	}
	require.Eventually(t, func() bool {
		n.mu.Lock()
		defer n.mu.Unlock()
		return n.codes[http.StatusServiceUnavailable] >= 2
	}, 20*time.Second, 20*time.Millisecond, "deliveries are answered 503 while the store is away")
	n.mu.Lock()
	for code := range n.codes {
		require.Contains(t, []int{http.StatusAccepted, http.StatusServiceUnavailable}, code, "never a 4xx for an outage")
	}
	n.mu.Unlock()
	proxy.restore()
	require.NoError(t, n.sim.WaitDelivered(ctx))
	for _, url := range []string{n.srv.URL + subscriptions.NotificationPath} {
		st := n.sim.DeliveryStats(url)
		require.Zero(t, st.Dropped)
		require.Positive(t, st.Failures, "Graph had to deliver again")
	}

	// Every acknowledged notification is in the inbox or its log, and the store ends equal to
	// graphsim.
	pending, done, err := n.st.InboxEntries(ctx)
	require.NoError(t, err)
	kept := map[string]bool{}
	for _, e := range append(pending, done...) {
		kept[e.SubscriptionID+"|"+e.ItemID+"|"+e.ETag] = true
	}
	n.mu.Lock()
	acked := append([]graphsim.Notification(nil), n.acked...)
	n.mu.Unlock()
	require.NotEmpty(t, acked)
	for _, a := range acked {
		if a.LifecycleEvent != "" {
			continue
		}
		k := a.SubscriptionID + "|" + fmt.Sprint(a.ResourceData["id"]) + "|" + fmt.Sprint(a.ResourceData["@odata.etag"])
		require.True(t, kept[k], "acknowledged but not kept: %s", k)
	}
	require.Eventually(t, func() bool {
		for _, s := range subjects {
			u := n.alice
			if strings.HasPrefix(s, "during") && mustAtoi(strings.TrimPrefix(s, "during "))%2 == 1 {
				u = n.bob
			}
			if !n.hasActivity(t, u, s) {
				return false
			}
		}
		return true
	}, 30*time.Second, 50*time.Millisecond)
	n.reconcile(t, "after the outage")
}

func TestOneProcessAtATimeWorksTheInboxOff(t *testing.T) {
	t.Parallel()
	n := newNotifyEnv(t, graphsim.Options{}, nil)
	ctx := t.Context()
	// A second process on the same store: it takes deliveries in, but the first holds the
	// worker lease, so only the first runs rounds.
	var rounds atomic.Int64
	other := subscriptions.New(n.st, switchedGraph{n}, countingSyncer{n.syncer, &rounds}, subscriptions.Options{Now: n.time, BaseURL: n.srv.URL})
	other.RunIntake(ctx)
	sub := n.subscription(t, n.alice, "mailFolders('inbox')/messages")
	res, err := other.Accept(ctx, []byte(notificationBody(sub.ID, sub.ClientState, "x1")))
	require.NoError(t, err)
	require.Equal(t, 1, res.Accepted, "the other process knows the subscription from the store")
	took, err := other.Drain(ctx)
	require.NoError(t, err)
	require.Zero(t, took, "the first process holds the lease")
	require.Eventually(t, func() bool {
		p, _ := n.st.PendingInbox(ctx)
		return p == 0
	}, 10*time.Second, 20*time.Millisecond, "the first process worked it off")
	require.Zero(t, rounds.Load())

	// When the holder's lease lapses (say it died: here a third process's clock is a minute
	// ahead), another takes over.
	o2 := subscriptions.New(n.st, switchedGraph{n}, countingSyncer{n.syncer, &rounds}, subscriptions.Options{Now: func() time.Time { return n.time().Add(time.Minute) }, BaseURL: n.srv.URL})
	o2.RunIntake(ctx)
	_, err = o2.Accept(ctx, []byte(notificationBody(sub.ID, sub.ClientState, "x3")))
	require.NoError(t, err)
	took, err = o2.Drain(ctx)
	require.NoError(t, err)
	if took == 0 { // the first process's worker may have taken it in between
		require.Eventually(t, func() bool { p, _ := n.st.PendingInbox(ctx); return p == 0 }, 10*time.Second, 20*time.Millisecond)
	} else {
		require.Equal(t, int64(1), rounds.Load())
	}
}

// countingSyncer counts the rounds it runs.
type countingSyncer struct {
	*deltasync.Syncer
	n *atomic.Int64
}

func (c countingSyncer) SyncScopes(ctx context.Context, org, tenant, user string, scopes []string) error {
	c.n.Add(1)
	return c.Syncer.SyncScopes(ctx, org, tenant, user, scopes)
}

// Graph may deliver a notification before its answer to the creation reaches teamaccess: the
// subscription is then known by its clientState alone.
func TestNotificationBeforeTheCreationAnswerIsKept(t *testing.T) {
	t.Parallel()
	n := newNotifyEnv(t, graphsim.Options{}, nil)
	ctx := t.Context()
	state := "a-state-made-just-now"
	require.NoError(t, n.st.SaveGraphSubscription(ctx, store.GraphSubscription{ID: store.ItemID(n.org, n.bob, "mail:archive", ""),
		OrgID: n.org, TenantID: n.tenant, MailboxID: n.bob, Scope: "mail:archive", ClientStateHash: subscriptions.HashClientState(state)}))
	require.Equal(t, http.StatusAccepted, n.post(t, notificationBody("5f0e4c1a-0000-4000-8000-000000000001", &state, "early")))
	pending, done, err := n.st.InboxEntries(ctx)
	require.NoError(t, err)
	es := append(pending, done...)
	require.Len(t, es, 1)
	require.Equal(t, n.bob, es[0].MailboxID)
	require.Equal(t, "mail:archive", es[0].Scope)
}

// Subscriptions in Graph that no record knows are deleted by the keeper: one left by a process
// that died after Graph created it and before its id was saved, and one whose creation "failed"
// after Graph had made it — the latter only once its record's retry is past the grace a
// creation under way gets. Another deployment's subscription (another notification URL) and
// every known one stay.
func TestSubscriptionsNoRecordKnowsAreDeletedFromGraph(t *testing.T) {
	t.Parallel()
	n := newNotifyEnv(t, graphsim.Options{}, nil)
	ctx := t.Context()
	// The keeper works for connected organisations' captured, readable mailboxes.
	now := n.time()
	require.NoError(t, n.st.Org(n.org).SaveTeamAccess(ctx, store.TeamAccess{OrgID: n.org, Status: "ACTIVE", TenantID: n.tenant}))
	for _, u := range []string{n.alice, n.bob} {
		require.NoError(t, n.st.Org(n.org).SaveMailboxAccess(ctx, []string{u}, "ACCESSIBLE", "", "", now, now.Add(time.Hour), true, "UNKNOWN"))
		_, err := n.st.Org(n.org).SetMailboxCapture(ctx, u, true, now)
		require.NoError(t, err)
	}
	n.mux.HandleFunc("/another-deployment", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte(r.URL.Query().Get("validationToken")))
	})
	theirs, err := switchedGraph{n}.CreateSubscription(ctx, n.tenant, graphdata.SubscriptionRequest{Resource: "/users/" + n.alice + "/events",
		ChangeType: "created", NotificationURL: n.srv.URL + "/another-deployment", ClientState: "theirs", ExpiresAt: now.Add(24 * time.Hour)})
	require.NoError(t, err)

	record := func(user, scope string) store.GraphSubscription {
		recs, err := n.st.Org(n.org).MailboxGraphSubscriptions(ctx, user)
		require.NoError(t, err)
		for _, r := range recs {
			if r.Scope == scope {
				return r
			}
		}
		t.Fatalf("no record for %s %s", user, scope)
		return store.GraphSubscription{}
	}
	crashed := record(n.alice, "mail:inbox") // the process died before saving Graph's id
	orphanA := crashed.SubscriptionID
	crashed.SubscriptionID, crashed.UpdatedAt = "", now.Add(-time.Hour)
	require.NoError(t, n.st.SaveGraphSubscription(ctx, crashed))
	lost := record(n.bob, "calendar") // Graph's answer was lost: a failure, retried in 5 min
	orphanB := lost.SubscriptionID
	lost.SubscriptionID, lost.UpdatedAt, lost.Failures, lost.NextAttemptAt = "", now, 1, now.Add(5*time.Minute)
	require.NoError(t, n.st.SaveGraphSubscription(ctx, lost))

	inGraph := func() map[string]bool {
		ids := map[string]bool{}
		for _, s := range n.sim.Subscriptions() {
			ids[s.ID] = true
		}
		return ids
	}
	require.NoError(t, n.subs.Maintain(ctx))
	ids := inGraph()
	require.False(t, ids[orphanA], "the crashed creation's subscription is deleted")
	require.True(t, ids[orphanB], "a failed creation within the grace is left: it may still be under way")
	require.True(t, ids[theirs.ID], "another deployment's subscription is not ours")
	require.Len(t, ids, 9, "8 of ours (alice's inbox recreated) and theirs")

	n.advance(t, 15*time.Minute)
	require.NoError(t, n.subs.Maintain(ctx)) // bob's calendar is recreated; the sweep is not due yet
	require.True(t, inGraph()[orphanB], "sweeps are spaced (every 6 h)")
	n.advance(t, 6*time.Hour)
	require.NoError(t, n.subs.Maintain(ctx))
	ids = inGraph()
	require.False(t, ids[orphanB], "the lost creation's subscription is deleted once past the grace")
	require.True(t, ids[theirs.ID])
	require.Len(t, ids, 9)
	for _, u := range []string{n.alice, n.bob} {
		recs, err := n.st.Org(n.org).MailboxGraphSubscriptions(ctx, u)
		require.NoError(t, err)
		for _, r := range recs {
			require.True(t, ids[r.SubscriptionID], "every record's subscription lives in Graph: %s %s", u, r.Scope)
		}
	}
}
