package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/teamaccess/teamaccess/activities"
	"github.com/teamaccess/teamaccess/auth"
	"github.com/teamaccess/teamaccess/outbound"
	"github.com/teamaccess/teamaccess/store"
)

// receiver is a partner's back end: it verifies each delivery with the Standard Webhooks
// library (never with teamaccess's code) and answers what status says.
type receiver struct {
	t      testing.TB
	srv    *httptest.Server
	mu     sync.Mutex
	secret string
	// also is another secret a delivery may verify with (a rotation's new one); byAlso counts
	// those that did.
	also   string
	byAlso int
	// anyTime verifies signatures whatever their timestamp (the service's clock is moved).
	anyTime bool
	status  func(n int) int // the answer to the n-th request (from 1)
	// hold, if set, sees each request's body before it is answered, outside the lock (requests
	// are answered one at a time otherwise).
	hold func(body []byte)
	n    int
	got  []delivery // verified deliveries answered 2xx
	ids  []string   // every webhook-id received, in order
}

type delivery struct {
	id   string
	body []byte
}

func newReceiver(t testing.TB) *receiver {
	r := &receiver{t: t, status: func(int) int { return http.StatusNoContent }}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		if r.hold != nil {
			r.hold(body)
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		wh, err := standardwebhooks.NewWebhook(r.secret)
		if err == nil && r.anyTime {
			err = wh.VerifyIgnoringTimestamp(body, req.Header)
		} else if err == nil {
			err = wh.Verify(body, req.Header)
		}
		if r.also != "" {
			if wh, aerr := standardwebhooks.NewWebhook(r.also); aerr == nil && wh.Verify(body, req.Header) == nil {
				r.byAlso++
				err = nil
			}
		}
		if err != nil {
			r.t.Errorf("a delivery did not verify: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		r.n++
		code := r.status(r.n)
		r.ids = append(r.ids, req.Header.Get("webhook-id"))
		if code < 300 {
			r.got = append(r.got, delivery{req.Header.Get("webhook-id"), body})
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) received() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.got...)
}

// webhookEnv is an activity environment with the outbound service delivering to loopback.
func webhookEnv(t testing.TB, o outbound.Options) (*activityEnv, *outbound.Service) {
	return webhookEnvWith(t, activities.HubOptions{Interval: 10 * time.Millisecond}, o)
}

// webhookEnvWith is webhookEnv with the hub's options.
func webhookEnvWith(t testing.TB, hub activities.HubOptions, o outbound.Options) (*activityEnv, *outbound.Service) {
	e := newActivityEnv(t, hub)
	exec := newWebhookExec(e.res, e.hub, slog.New(slog.DiscardHandler), newMetrics())
	o.Guard = outbound.NewGuard([]string{"127.0.0.1"})
	o.Owner = "test"
	o.Audit = e.dir
	if o.Poll == 0 {
		o.Poll = 20 * time.Millisecond
	}
	svc := outbound.New(e.st, exec, o)
	e.res.Webhooks = svc // the API's mutations and queries
	return e, svc
}

// endpoint registers an endpoint for doc at the receiver, which learns its secret.
func endpoint(t testing.TB, e *activityEnv, svc *outbound.Service, rcv *receiver, path, doc string) store.WebhookEndpoint {
	t.Helper()
	ep, secret, err := svc.Create(t.Context(), auth.CommandLine(e.org), outbound.NewEndpoint{URL: rcv.srv.URL + path, Query: doc})
	require.NoError(t, err)
	rcv.mu.Lock()
	rcv.secret = secret
	rcv.mu.Unlock()
	return ep
}

func runWebhooks(t testing.TB, svc *outbound.Service) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { svc.Run(ctx); close(done) }()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	t.Cleanup(stop)
	return stop
}

const changedDoc = `subscription { activityChanged { type activity { id subject } } }`

type changedBody struct {
	Data struct {
		ActivityChanged struct {
			Type     string
			Activity struct{ ID, Subject string }
		}
	}
}

func subjects(t testing.TB, ds []delivery) []string {
	var out []string
	for _, d := range ds {
		var b changedBody
		require.NoError(t, json.Unmarshal(d.body, &b), string(d.body))
		out = append(out, b.Data.ActivityChanged.Activity.Subject)
	}
	return out
}

// firstArrivals are the subjects of each event's first delivery, in the order they came.
func firstArrivals(t testing.TB, ds []delivery) []string {
	seen := map[string]bool{}
	var out []string
	for _, d := range ds {
		if !seen[d.id] {
			seen[d.id] = true
			out = append(out, subjects(t, []delivery{d})[0])
		}
	}
	return out
}

// requireInOrderPerMailbox: the subjects are "Pricing 1" to "Pricing n", each once, and each
// mailbox's come in its order (activityEnv.add gives odd numbers to one mailbox, even ones to
// the other); those of different mailboxes may pass each other.
func requireInOrderPerMailbox(t testing.TB, got []string, n int) {
	t.Helper()
	var nums []int
	last := [2]int{}
	for _, s := range got {
		k, err := strconv.Atoi(strings.TrimPrefix(s, "Pricing "))
		require.NoError(t, err, s)
		require.Greater(t, k, last[k%2], "mailbox order: %v", got)
		last[k%2] = k
		nums = append(nums, k)
	}
	slices.Sort(nums)
	want := make([]int, n)
	for i := range want {
		want[i] = i + 1
	}
	require.Equal(t, want, nums, "every event once, no gap: %v", got)
}

// One delivery at a time (InFlight 1): the attempts come in a known sequence.
func TestWebhooksDeliverEachChangeSignedInOrderAndRetryWithTheSameID(t *testing.T) {
	t.Parallel()
	e, svc := webhookEnv(t, outbound.Options{InFlight: 1, Retry: func(int) time.Duration { return 50 * time.Millisecond }})
	rcv := newReceiver(t)
	rcv.status = func(n int) int { // the second and third attempts fail: the second event is retried
		if n == 2 || n == 3 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	}
	ep := endpoint(t, e, svc, rcv, "/hooks", changedDoc)
	require.Regexp(t, `^whsec_`, rcv.secret)
	e.add(t, 2) // made before the worker runs: delivered anyway, from the endpoint's cursor
	runWebhooks(t, svc)
	e.add(t, 2)
	require.Eventually(t, func() bool { return len(rcv.received()) == 4 }, 20*time.Second, 10*time.Millisecond)
	got := rcv.received()
	require.Equal(t, []string{"Pricing 1", "Pricing 2", "Pricing 3", "Pricing 4"}, subjects(t, got), "in order, no gap")
	rcv.mu.Lock()
	ids := append([]string(nil), rcv.ids...)
	rcv.mu.Unlock()
	require.Len(t, ids, 6)
	require.Equal(t, ids[1], ids[2], "a retry has the event's webhook-id")
	require.Equal(t, ids[1], ids[3])
	require.NotEqual(t, ids[0], ids[1])

	var ds []store.WebhookDelivery
	require.Eventually(t, func() bool { // the last attempt is recorded once its answer is in
		var err error
		ds, err = svc.Deliveries(t.Context(), e.org, ep.ID, "", 10)
		return err == nil && len(ds) == 6
	}, 5*time.Second, 5*time.Millisecond)
	require.Equal(t, 200, ds[0].Status)
	require.Equal(t, 500, ds[len(ds)-2].Status)
}

// A delivery's body is what the same document's subscription sends a websocket client.
func TestAWebhookDeliveryIsTheSubscriptionsEvent(t *testing.T) {
	t.Parallel()
	e, svc := webhookEnv(t, outbound.Options{})
	rcv := newReceiver(t)
	endpoint(t, e, svc, rcv, "", changedDoc)
	ctx := wsContext(t)
	ws := subscribeOverWebsocket(t, ctx, e.url, e.key, changedDoc)
	require.Eventually(t, func() bool { return e.hub.Subscribers() == 1 }, 5*time.Second, 5*time.Millisecond)
	runWebhooks(t, svc)
	e.add(t, 1)
	m := readWS(t, ctx, ws)
	require.Equal(t, "next", m.Type)
	require.Eventually(t, func() bool { return len(rcv.received()) == 1 }, 20*time.Second, 10*time.Millisecond)
	require.JSONEq(t, string(m.Payload), string(rcv.received()[0].body))
	var compacted bytes.Buffer
	require.NoError(t, json.Compact(&compacted, m.Payload))
	require.Equal(t, compacted.String(), string(rcv.received()[0].body), "byte for byte")
}

func TestAnEndpointAnswering410IsDisabledAtOnceAndOneFailingTooLongIsDisabledAndTheAdminTold(t *testing.T) {
	t.Parallel()
	e, svc := webhookEnv(t, outbound.Options{Retry: func(int) time.Duration { return 20 * time.Millisecond }, DisableAfter: 300 * time.Millisecond})
	gone, failing := newReceiver(t), newReceiver(t)
	gone.status = func(int) int { return http.StatusGone }
	failing.status = func(int) int { return http.StatusInternalServerError }
	a := endpoint(t, e, svc, gone, "", changedDoc)
	b := endpoint(t, e, svc, failing, "", changedDoc)
	runWebhooks(t, svc)
	e.add(t, 1)
	require.Eventually(t, func() bool {
		x, _ := svc.Get(t.Context(), e.org, a.ID)
		y, _ := svc.Get(t.Context(), e.org, b.ID)
		return x.Status == outbound.Disabled && y.Status == outbound.Disabled
	}, 20*time.Second, 10*time.Millisecond)
	x, _ := svc.Get(t.Context(), e.org, a.ID)
	require.Equal(t, "the endpoint answered 410 Gone", x.DisabledReason)
	gone.mu.Lock()
	require.Equal(t, 1, gone.n, "410 is not retried")
	gone.mu.Unlock()
	y, _ := svc.Get(t.Context(), e.org, b.ID)
	require.Contains(t, y.DisabledReason, "deliveries failed for 300ms; the last: HTTP 500")
	failing.mu.Lock()
	require.Greater(t, failing.n, 3, "retried until then")
	failing.mu.Unlock()
	told := func() int {
		log, err := e.dir.AuditLog(t.Context(), e.org, 20, "")
		require.NoError(t, err)
		n := 0
		for _, entry := range log.Entries {
			if entry.Action == "webhookEndpoint.disable" && entry.ActorName == "teamaccess" {
				n++
			}
		}
		return n
	}
	require.Eventually(t, func() bool { return told() == 2 }, 5*time.Second, 5*time.Millisecond, "the audit log tells the admin")
}

// A process stopped mid-burst loses nothing: the next delivers every event after the last one
// acknowledged, and a repeated event has its first webhook-id. Two processes on one store never
// both deliver an endpoint.
func TestDeliveriesSurviveARestartAndTwoProcessesNeverBothDeliver(t *testing.T) {
	t.Parallel()
	e, first := webhookEnv(t, outbound.Options{})
	rcv := newReceiver(t)
	endpoint(t, e, first, rcv, "", changedDoc)
	stop := runWebhooks(t, first)
	e.add(t, 20)
	require.Eventually(t, func() bool { return len(rcv.received()) >= 5 }, 20*time.Second, time.Millisecond)
	stop() // mid-burst; its lease is handed over

	exec := newWebhookExec(e.res, e.hub, slog.New(slog.DiscardHandler), newMetrics())
	mk := func(owner string) *outbound.Service {
		return outbound.New(e.st, exec, outbound.Options{Guard: outbound.NewGuard([]string{"127.0.0.1"}), Owner: owner, Poll: 20 * time.Millisecond})
	}
	runWebhooks(t, mk("second"))
	runWebhooks(t, mk("third"))
	e.add(t, 10)
	require.Eventually(t, func() bool { return len(unique(rcv.received())) == 30 }, 30*time.Second, 10*time.Millisecond)
	got := rcv.received()
	requireInOrderPerMailbox(t, firstArrivals(t, got), 30)
	require.LessOrEqual(t, len(got), 30+outbound.MaxInFlight, "at most the events in flight at the stop are repeated, by one process")
	byID := map[string]string{}
	for _, d := range got {
		s := subjects(t, []delivery{d})[0]
		if prev, ok := byID[d.id]; ok {
			require.Equal(t, prev, s, "a webhook-id names one event")
		}
		byID[d.id] = s
	}
	require.Len(t, byID, 30, "a repeated event keeps its webhook-id")
}

func unique(ds []delivery) map[string]bool {
	m := map[string]bool{}
	for _, d := range ds {
		m[d.id] = true
	}
	return m
}

func TestWebhookEndpointsThroughTheAPI(t *testing.T) {
	t.Parallel()
	e, svc := webhookEnv(t, outbound.Options{})
	rcv := newReceiver(t)
	const create = `mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) { secret endpoint { id url status } } }`
	for name, input := range map[string]map[string]any{
		"plain http to a host not allowed": {"url": "http://hooks.example.com/x", "query": changedDoc},
		"a private address":                {"url": "https://10.0.0.8/x", "query": changedDoc},
		"a query":                          {"url": rcv.srv.URL, "query": `{ viewer { role } }`},
		"two subscriptions in one":         {"url": rcv.srv.URL, "query": `subscription { mailboxChanged { id } teamAccessChanged { status } }`},
		"an after argument":                {"url": rcv.srv.URL, "query": `subscription { activityChanged(after: "x") { type } }`},
		"an invalid document":              {"url": rcv.srv.URL, "query": `subscription { activityChanged { nope } }`},
	} {
		_, out := postGraphQLVars(t, e.url, create, map[string]any{"input": input}, "Authorization", "Bearer "+e.key)
		require.Len(t, out.Errors, 1, name)
		require.Equal(t, "BAD_USER_INPUT", out.Errors[0].Extensions["code"], "%s: %s", name, out.Errors[0].Message)
	}
	eps, err := svc.List(t.Context(), e.org)
	require.NoError(t, err)
	require.Empty(t, eps, "bad input changes nothing")

	var created struct {
		CreateWebhookEndpoint struct {
			Secret   string
			Endpoint struct{ ID, URL, Status string }
		}
	}
	_, out := postGraphQLVars(t, e.url, create, map[string]any{"input": map[string]any{"url": rcv.srv.URL, "query": changedDoc, "description": "CRM sync"}},
		"Authorization", "Bearer "+e.key)
	require.Empty(t, out.Errors)
	require.NoError(t, json.Unmarshal(out.Data, &created))
	ep := created.CreateWebhookEndpoint
	require.Equal(t, "ACTIVE", ep.Endpoint.Status)
	rcv.secret = ep.Secret
	runWebhooks(t, svc)
	e.add(t, 1)
	require.Eventually(t, func() bool { return len(rcv.received()) == 1 }, 20*time.Second, 10*time.Millisecond)

	// A rotation: deliveries verify with the new secret and, for a day, with the old one.
	_, out = postGraphQLVars(t, e.url, `mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret } }`, map[string]any{"id": ep.Endpoint.ID},
		"Authorization", "Bearer "+e.key)
	require.Empty(t, out.Errors)
	var rotated struct{ RotateWebhookSecret struct{ Secret string } }
	require.NoError(t, json.Unmarshal(out.Data, &rotated))
	require.NotEqual(t, ep.Secret, rotated.RotateWebhookSecret.Secret)
	// Deliveries verify with the old secret for a day, and with the new one from within a second.
	rcv.mu.Lock()
	rcv.also = rotated.RotateWebhookSecret.Secret
	rcv.mu.Unlock()
	require.Eventually(t, func() bool {
		e.add(t, 1)
		time.Sleep(100 * time.Millisecond)
		rcv.mu.Lock()
		defer rcv.mu.Unlock()
		return rcv.byAlso > 0
	}, 10*time.Second, time.Millisecond)
	rcv.mu.Lock()
	rcv.secret = rotated.RotateWebhookSecret.Secret // the partner drops the old secret
	rcv.mu.Unlock()
	n := len(rcv.received())
	e.add(t, 1)
	require.Eventually(t, func() bool { return len(rcv.received()) > n }, 20*time.Second, 10*time.Millisecond)

	var listed struct {
		WebhookEndpoints []struct {
			ID, Description string
			LastSuccessAt   *string
			Deliveries      struct {
				Edges []struct {
					Node struct {
						EventID string
						Status  int
						Attempt int
					}
				}
				PageInfo struct{ HasNextPage bool }
			}
		}
	}
	// Delivered attempts are written within flushEvery (250 ms) of their answer.
	require.Eventually(t, func() bool {
		_, out = postGraphQL(t, e.url, e.key, `{ webhookEndpoints { id description lastSuccessAt deliveries(first: 2) { edges { node { eventId status attempt } } pageInfo { hasNextPage } } } }`)
		require.Empty(t, out.Errors)
		require.NoError(t, json.Unmarshal(out.Data, &listed))
		require.Len(t, listed.WebhookEndpoints, 1)
		return listed.WebhookEndpoints[0].Deliveries.PageInfo.HasNextPage
	}, 5*time.Second, 20*time.Millisecond, "three deliveries or more recorded")
	l := listed.WebhookEndpoints[0]
	require.Equal(t, "CRM sync", l.Description)
	require.NotNil(t, l.LastSuccessAt)
	require.Len(t, l.Deliveries.Edges, 2)
	require.True(t, l.Deliveries.PageInfo.HasNextPage)
	require.Equal(t, 204, l.Deliveries.Edges[0].Node.Status)
	var top struct {
		WebhookDeliveries struct {
			Edges []struct{ Node struct{ EventID string } }
		}
	}
	_, out = postGraphQLVars(t, e.url, `query($id: ID!) { webhookDeliveries(endpointId: $id, first: 2) { edges { node { eventId } } } }`,
		map[string]any{"id": ep.Endpoint.ID}, "Authorization", "Bearer "+e.key)
	require.Empty(t, out.Errors)
	require.NoError(t, json.Unmarshal(out.Data, &top))
	require.Len(t, top.WebhookDeliveries.Edges, 2)
	require.Equal(t, l.Deliveries.Edges[0].Node.EventID, top.WebhookDeliveries.Edges[0].Node.EventID, "the same attempts as the endpoint's own field")
	_, out = postGraphQL(t, e.url, e.key, `{ webhookDeliveries(endpointId: "whe_nope") { edges { cursor } } }`)
	require.Equal(t, "NOT_FOUND", out.Errors[0].Extensions["code"])

	_, out = postGraphQLVars(t, e.url, `mutation($id: ID!) { disableWebhookEndpoint(id: $id) { status } }`, map[string]any{"id": ep.Endpoint.ID},
		"Authorization", "Bearer "+e.key)
	require.Empty(t, out.Errors)
	require.JSONEq(t, `{"disableWebhookEndpoint":{"status":"DISABLED"}}`, string(out.Data))
	_, out = postGraphQLVars(t, e.url, `mutation($id: ID!) { deleteWebhookEndpoint(id: $id) }`, map[string]any{"id": ep.Endpoint.ID},
		"Authorization", "Bearer "+e.key)
	require.Empty(t, out.Errors)
	eps, err = svc.List(t.Context(), e.org)
	require.NoError(t, err)
	require.Empty(t, eps)
}

func TestAReplayDeliversAgainWithTheSameIDsAndATestEventIsSigned(t *testing.T) {
	t.Parallel()
	e, svc := webhookEnv(t, outbound.Options{})
	rcv := newReceiver(t)
	ep := endpoint(t, e, svc, rcv, "", changedDoc)
	from := ep.Cursor // the change log's head when it was created
	runWebhooks(t, svc)
	e.add(t, 3)
	require.Eventually(t, func() bool { return len(rcv.received()) == 3 }, 20*time.Second, 10*time.Millisecond)
	first := rcv.received()

	_, out := postGraphQLVars(t, e.url, `mutation($id: ID!, $after: String!) { replayWebhookEndpoint(id: $id, after: $after) { id } }`,
		map[string]any{"id": ep.ID, "after": "not-a-cursor"}, "Authorization", "Bearer "+e.key)
	require.Equal(t, "BAD_USER_INPUT", out.Errors[0].Extensions["code"])
	_, out = postGraphQLVars(t, e.url, `mutation($id: ID!, $after: String!) { replayWebhookEndpoint(id: $id, after: $after) { id } }`,
		map[string]any{"id": ep.ID, "after": from}, "Authorization", "Bearer "+e.key)
	require.Empty(t, out.Errors)
	require.Eventually(t, func() bool { return len(rcv.received()) == 6 }, 20*time.Second, 10*time.Millisecond)
	bodies := func(ds []delivery) map[string]string {
		m := map[string]string{}
		for _, d := range ds {
			m[d.id] = string(d.body)
		}
		return m
	}
	require.Equal(t, bodies(first), bodies(rcv.received()[3:]), "a replayed event keeps its webhook-id and body")

	_, out = postGraphQLVars(t, e.url, `mutation($id: ID!) { sendTestWebhook(id: $id) { status attempt eventId } }`,
		map[string]any{"id": ep.ID}, "Authorization", "Bearer "+e.key)
	require.Empty(t, out.Errors)
	require.Contains(t, string(out.Data), `"status":204`)
	got := rcv.received()
	require.Len(t, got, 7)
	require.Contains(t, string(got[6].body), `"teamaccessTest"`)
}

func TestUpdatingAnEndpointsDocumentAppliesFromTheNextChange(t *testing.T) {
	t.Parallel()
	e, svc := webhookEnv(t, outbound.Options{})
	rcv := newReceiver(t)
	ep := endpoint(t, e, svc, rcv, "", changedDoc)
	runWebhooks(t, svc)
	e.add(t, 1)
	require.Eventually(t, func() bool { return len(rcv.received()) == 1 }, 20*time.Second, 10*time.Millisecond)

	const update = `mutation($id: ID!, $input: UpdateWebhookEndpointInput!) { updateWebhookEndpoint(id: $id, input: $input) { url query } }`
	_, out := postGraphQLVars(t, e.url, update, map[string]any{"id": ep.ID, "input": map[string]any{"url": "http://hooks.example.com"}},
		"Authorization", "Bearer "+e.key)
	require.Equal(t, "BAD_USER_INPUT", out.Errors[0].Extensions["code"], "checked as at creation")
	_, out = postGraphQLVars(t, e.url, update, map[string]any{"id": ep.ID, "input": map[string]any{"query": `subscription { activityChanged { type } }`}},
		"Authorization", "Bearer "+e.key)
	require.Empty(t, out.Errors)
	e.add(t, 1)
	require.Eventually(t, func() bool { return len(rcv.received()) >= 2 }, 20*time.Second, 10*time.Millisecond, "the next change")
	time.Sleep(100 * time.Millisecond) // a repeat would come now
	got := rcv.received()
	require.Len(t, got, 2, "the next change once, and nothing delivered before it again")
	require.NotEqual(t, got[0].id, got[1].id)
	require.JSONEq(t, `{"data":{"activityChanged":{"type":"CREATED"}}}`, string(got[1].body), "the new document's result")
}

// fakeClock is the webhook service's clock, moved by its own waits: hours of backoff pass at once.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) bool {
	if ctx.Err() != nil {
		return false
	}
	c.mu.Lock()
	c.now = c.now.Add(max(d, 0))
	c.mu.Unlock()
	time.Sleep(time.Millisecond) // let the rest of the test run
	return ctx.Err() == nil
}

// A receiver down for 6 hours gets every event once it is back, in order, with no gap; one
// answering 500 for 25 hours sees its endpoint disabled, and the admin is told.
func TestAReceiverDownForHoursGetsEverythingAndOneDownForADayIsDisabled(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		down     time.Duration
		disabled bool
	}{{6 * time.Hour, false}, {26 * time.Hour, true}} {
		clock := &fakeClock{now: time.Now()}
		back := clock.Now().Add(tc.down)
		e, svc := webhookEnv(t, outbound.Options{Now: clock.Now, Sleep: clock.Sleep})
		rcv := newReceiver(t)
		rcv.anyTime = true
		rcv.status = func(int) int {
			if clock.Now().Before(back) {
				return http.StatusInternalServerError
			}
			return http.StatusOK
		}
		ep := endpoint(t, e, svc, rcv, "", changedDoc)
		e.add(t, 5)
		runWebhooks(t, svc)
		if !tc.disabled {
			if !assert.Eventually(t, func() bool { return len(rcv.received()) == 5 }, 30*time.Second, 10*time.Millisecond) {
				x, _ := svc.Get(t.Context(), e.org, ep.ID)
				rcv.mu.Lock()
				t.Fatalf("received %d of %d requests; clock at +%s; endpoint %+v", len(rcv.got), rcv.n, clock.Now().Sub(back.Add(-tc.down)), x)
			}
			requireInOrderPerMailbox(t, subjects(t, rcv.received()), 5)
			x, err := svc.Get(t.Context(), e.org, ep.ID)
			require.NoError(t, err)
			require.Equal(t, outbound.Active, x.Status)
			rcv.mu.Lock()
			t.Logf("down %s: %d attempts before the receiver was back", tc.down, rcv.n-5)
			require.Greater(t, rcv.n-5, 8, "retried all along, with backoff")
			require.Less(t, rcv.n-5, 40, "with backoff, not in a loop")
			rcv.mu.Unlock()
			continue
		}
		require.Eventually(t, func() bool {
			x, _ := svc.Get(t.Context(), e.org, ep.ID)
			return x.Status == outbound.Disabled
		}, 30*time.Second, 10*time.Millisecond)
		x, _ := svc.Get(t.Context(), e.org, ep.ID)
		require.Contains(t, x.DisabledReason, "deliveries failed for 25h0m0s")
		require.Empty(t, rcv.received())
		require.Eventually(t, func() bool {
			log, err := e.dir.AuditLog(t.Context(), e.org, 5, "")
			return err == nil && len(log.Entries) > 0 && log.Entries[0].Action == "webhookEndpoint.disable"
		}, 5*time.Second, 5*time.Millisecond, "the admin is told")
	}
}

func TestAnEndpointsBacklogCountsTheChangesNotYetDelivered(t *testing.T) {
	t.Parallel()
	e, svc := webhookEnv(t, outbound.Options{})
	rcv := newReceiver(t)
	endpoint(t, e, svc, rcv, "", changedDoc)
	backlog := func() int {
		var out struct{ WebhookEndpoints []struct{ Backlog int } }
		require.Empty(t, gql(t, e.url, e.key, `{ webhookEndpoints { backlog } }`, nil, &out))
		return out.WebhookEndpoints[0].Backlog
	}
	require.Zero(t, backlog())
	e.add(t, 3)
	require.Equal(t, 3, backlog(), "nothing delivered yet")
	m := newMetrics()
	m.watchWebhooks(svc.TotalBacklog)
	require.Equal(t, 3.0, gaugeValue(t, m, "teamaccess_partner_webhook_backlog"), "the metric says the same")
	runWebhooks(t, svc)
	require.Eventually(t, func() bool { return backlog() == 0 }, 20*time.Second, 20*time.Millisecond)
	require.Zero(t, gaugeValue(t, m, "teamaccess_partner_webhook_backlog"))
	require.Len(t, rcv.received(), 3)
}

// gaugeValue reads a gauge from a registry as a scrape would.
func gaugeValue(t *testing.T, m *metrics, name string) float64 {
	t.Helper()
	fams, err := m.reg.Gather()
	require.NoError(t, err)
	for _, f := range fams {
		if f.GetName() == name {
			return f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// Deliveries of different mailboxes go side by side, never two of one mailbox at once, and
// each mailbox's in order even when attempts fail and are retried.
func TestDeliveriesOfDifferentMailboxesOverlapAndEachMailboxStaysInOrder(t *testing.T) {
	t.Parallel()
	e, svc := webhookEnv(t, outbound.Options{Retry: func(int) time.Duration { return 20 * time.Millisecond }})
	rcv := newReceiver(t)
	var mu sync.Mutex
	var now, most int
	perMailbox := [2]int{}
	rcv.hold = func(body []byte) {
		var b changedBody
		require.NoError(t, json.Unmarshal(body, &b))
		n, err := strconv.Atoi(strings.TrimPrefix(b.Data.ActivityChanged.Activity.Subject, "Pricing "))
		require.NoError(t, err)
		mu.Lock()
		now++
		most = max(most, now)
		perMailbox[n%2]++
		require.Equal(t, 1, perMailbox[n%2], "two deliveries of one mailbox at once")
		mu.Unlock()
		time.Sleep(10 * time.Millisecond)
		mu.Lock()
		now--
		perMailbox[n%2]--
		mu.Unlock()
	}
	rcv.status = func(n int) int {
		if n%5 == 0 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	}
	endpoint(t, e, svc, rcv, "", changedDoc)
	e.add(t, 24)
	runWebhooks(t, svc)
	require.Eventually(t, func() bool { return len(rcv.received()) == 24 }, 30*time.Second, 10*time.Millisecond)
	requireInOrderPerMailbox(t, subjects(t, rcv.received()), 24)
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, 2, most, "the two mailboxes' deliveries overlapped, and nothing more")
}
