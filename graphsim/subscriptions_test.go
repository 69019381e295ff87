package graphsim

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// webhook is a test notification endpoint that answers the validation handshake and records
// what it receives.
type webhook struct {
	srv      *httptest.Server
	mu       sync.Mutex
	received []Notification
	echo     func(token string) string // what to answer a validation with
	fail     atomic.Int32              // answer this many notification requests with 500
	delay    atomic.Int64              // nanoseconds to wait before answering
}

func newWebhook(t *testing.T) *webhook {
	h := &webhook{echo: func(tok string) string { return tok }}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok := r.URL.Query().Get("validationToken"); tok != "" {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, h.echo(tok))
			return
		}
		time.Sleep(time.Duration(h.delay.Load()))
		if h.fail.Load() > 0 {
			h.fail.Add(-1)
			w.WriteHeader(500)
			return
		}
		var body struct{ Value []Notification }
		_ = json.NewDecoder(r.Body).Decode(&body)
		h.mu.Lock()
		h.received = append(h.received, body.Value...)
		h.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *webhook) got() []Notification {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Notification(nil), h.received...)
}

func (h *webhook) waitFor(t *testing.T, n int) []Notification {
	t.Helper()
	require.Eventually(t, func() bool { return len(h.got()) >= n }, 10*time.Second, 10*time.Millisecond)
	return h.got()
}

func (f *fixture) subscribe(t *testing.T, resource, notifyURL string, lifecycle *string, extra ...func(map[string]any)) (*http.Response, map[string]any) {
	body := map[string]any{
		"changeType": "created,updated,deleted", "notificationUrl": notifyURL, "resource": resource,
		"expirationDateTime": f.sim.Now().Add(3 * 24 * time.Hour).Format(time.RFC3339), "clientState": "secret-state",
	}
	if lifecycle != nil {
		body["lifecycleNotificationUrl"] = *lifecycle
	}
	for _, e := range extra {
		e(body)
	}
	return f.do(t, http.MethodPost, "/subscriptions", body)
}

func TestSubscriptionHandshake(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	hook := newWebhook(t)
	resp, body := f.subscribe(t, "/users/"+f.alice+"/mailFolders('Inbox')/messages", hook.srv.URL, nil)
	require.Equal(t, 201, resp.StatusCode, body)
	require.Equal(t, testApp, body["applicationId"])
	require.Equal(t, "secret-state", body["clientState"])

	hook.echo = func(tok string) string { return tok + "!" }
	resp, body = f.subscribe(t, "/users/"+f.alice+"/messages", hook.srv.URL, nil)
	require.Equal(t, 400, resp.StatusCode)
	require.Equal(t, "ValidationError", errorCode(body))
	require.Len(t, f.sim.Subscriptions(), 1, "a failed handshake creates nothing")
	hook.echo = func(tok string) string { return tok }

	for name, mutate := range map[string]func(map[string]any){
		"too long": func(b map[string]any) {
			b["expirationDateTime"] = f.sim.Now().Add(8 * 24 * time.Hour).Format(time.RFC3339)
		},
		"in the past":      func(b map[string]any) { b["expirationDateTime"] = f.sim.Now().Add(-time.Minute).Format(time.RFC3339) },
		"long clientState": func(b map[string]any) { b["clientState"] = string(make([]byte, 129)) },
		"bad changeType":   func(b map[string]any) { b["changeType"] = "created,renamed" },
		"plain http":       func(b map[string]any) { b["notificationUrl"] = "http://example.com/hook" },
		"unknown resource": func(b map[string]any) { b["resource"] = "/groups/x/threads" },
	} {
		resp, body := f.subscribe(t, "/users/"+f.alice+"/messages", hook.srv.URL, nil, mutate)
		require.Equal(t, 400, resp.StatusCode, "%s: %v", name, body)
	}

	require.NoError(t, f.sim.SetAccessPolicy(f.tenant, testApp, []string{f.alice}))
	f.sim.Advance(time.Hour)
	f.token = f.getToken(t, f.tenant, testSecret)
	resp, body = f.subscribe(t, "/users/"+f.bob+"/events", hook.srv.URL, nil)
	require.Equal(t, 403, resp.StatusCode)
	require.Equal(t, "ExtensionError", errorCode(body))
	require.Contains(t, body["error"].(map[string]any)["message"], "Reason: Access to OData is disabled.]")
}

func TestNotificationsAreDeliveredRetriedAndStopAtExpiry(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(o *Options) { o.RetryBase = 20 * time.Millisecond; o.NotificationTimeout = 200 * time.Millisecond })
	hook := newWebhook(t)
	resp, sub := f.subscribe(t, "/users/"+f.alice+"/messages", hook.srv.URL, nil)
	require.Equal(t, 201, resp.StatusCode, sub)

	id, _ := f.sim.AddMessage(f.tenant, f.alice, "inbox", msg("hello"))
	got := hook.waitFor(t, 1)
	n := got[0]
	require.Equal(t, sub["id"], n.SubscriptionID)
	require.Equal(t, "created", n.ChangeType)
	require.Equal(t, "secret-state", *n.ClientState)
	require.Equal(t, f.tenant, n.TenantID)
	require.Equal(t, "Users/"+f.alice+"/Messages/"+id, n.Resource)
	require.Equal(t, id, n.ResourceData["id"])
	require.Equal(t, "#Microsoft.Graph.Message", n.ResourceData["@odata.type"])

	_, _ = f.sim.AddMessage(f.tenant, f.bob, "inbox", msg("not subscribed"))
	hook.fail.Store(2) // two failures, then success
	require.NoError(t, f.sim.DeleteMessage(f.tenant, f.alice, id))
	got = hook.waitFor(t, 2)
	require.Equal(t, "deleted", got[1].ChangeType)
	st := f.sim.DeliveryStats(hook.srv.URL)
	require.Equal(t, 2, st.Failures)
	require.Equal(t, 2, st.Delivered)

	hook.delay.Store(int64(400 * time.Millisecond)) // slower than the timeout: a failure
	_, _ = f.sim.AddMessage(f.tenant, f.alice, "inbox", msg("slow"))
	require.Eventually(t, func() bool { return f.sim.DeliveryStats(hook.srv.URL).Failures >= 3 }, 5*time.Second, 10*time.Millisecond)
	hook.delay.Store(0)
	hook.waitFor(t, 3)

	f.sim.Advance(4 * 24 * time.Hour)
	_, _ = f.sim.AddMessage(f.tenant, f.alice, "inbox", msg("after expiry"))
	time.Sleep(100 * time.Millisecond)
	require.Len(t, hook.got(), 3, "an expired subscription delivers nothing")
	require.Empty(t, f.sim.Subscriptions())
}

func TestEndpointThatKeepsFailingIsDroppedAfterTheLastAttempt(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(o *Options) { o.RetryBase = 5 * time.Millisecond; o.MaxDeliveryAttempts = 3 })
	hook := newWebhook(t)
	resp, _ := f.subscribe(t, "/users/"+f.alice+"/contacts", hook.srv.URL, nil)
	require.Equal(t, 201, resp.StatusCode)
	hook.fail.Store(100)
	_, _ = f.sim.AddContact(f.tenant, f.alice, Contact{DisplayName: "X"})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, f.sim.WaitDelivered(ctx))
	st := f.sim.DeliveryStats(hook.srv.URL)
	require.Equal(t, 1, st.Dropped)
	require.Equal(t, 3, st.Failures)
	require.Empty(t, hook.got())
}

// Dropped change notifications are announced by one missed lifecycle event per subscription
// (concepts/change-notifications-lifecycle-events.md, "missed notifications").
func TestDroppedNotificationsAreAnnouncedAsMissed(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(o *Options) { o.RetryBase = 5 * time.Millisecond; o.MaxDeliveryAttempts = 2 })
	hook, life := newWebhook(t), newWebhook(t)
	lifeURL := life.srv.URL
	resp, sub := f.subscribe(t, "/users/"+f.alice+"/contacts", hook.srv.URL, &lifeURL)
	require.Equal(t, 201, resp.StatusCode)
	hook.fail.Store(100)
	_, _ = f.sim.AddContact(f.tenant, f.alice, Contact{DisplayName: "X"})
	_, _ = f.sim.AddContact(f.tenant, f.alice, Contact{DisplayName: "Y"})
	got := life.waitFor(t, 1)
	require.Equal(t, LifecycleMissed, got[0].LifecycleEvent)
	require.Equal(t, sub["id"], got[0].SubscriptionID)
	require.Equal(t, "secret-state", *got[0].ClientState)
	require.Empty(t, hook.got())
}

// concepts/change-notifications-lifecycle-events.md.
func TestLifecycleEvents(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	hook, life := newWebhook(t), newWebhook(t)
	lifeURL := life.srv.URL
	resp, sub := f.subscribe(t, "/users/"+f.alice+"/events", hook.srv.URL, &lifeURL)
	require.Equal(t, 201, resp.StatusCode, sub)
	id := sub["id"].(string)
	for i, ev := range []string{LifecycleReauthorizationRequired, LifecycleMissed, LifecycleSubscriptionRemoved} {
		require.NoError(t, f.sim.TriggerLifecycle(id, ev))
		got := life.waitFor(t, i+1)
		require.Equal(t, ev, got[i].LifecycleEvent)
		require.Equal(t, id, got[i].SubscriptionID)
		require.Equal(t, "secret-state", *got[i].ClientState)
	}
	require.Empty(t, hook.got(), "lifecycle events go to the lifecycle URL only")
	resp, body := f.do(t, http.MethodGet, "/subscriptions/"+id, nil)
	require.Equal(t, 404, resp.StatusCode, "subscriptionRemoved removed it")
	require.Equal(t, "ResourceNotFound", errorCode(body))

	resp, noLife := f.subscribe(t, "/users/"+f.alice+"/events", hook.srv.URL, nil)
	require.Equal(t, 201, resp.StatusCode)
	require.Error(t, f.sim.TriggerLifecycle(noLife["id"].(string), LifecycleMissed))
}

func TestRenewReauthorizeDelete(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	hook := newWebhook(t)
	_, sub := f.subscribe(t, "/users/"+f.alice+"/messages", hook.srv.URL, nil)
	id := sub["id"].(string)
	later := f.sim.Now().Add(6 * 24 * time.Hour).UTC().Truncate(time.Second)
	resp, body := f.do(t, http.MethodPatch, "/subscriptions/"+id, map[string]any{"expirationDateTime": later.Format(time.RFC3339)})
	require.Equal(t, 200, resp.StatusCode, body)
	require.Equal(t, later.Format(time.RFC3339), body["expirationDateTime"])
	resp, _ = f.do(t, http.MethodPatch, "/subscriptions/"+id, map[string]any{"expirationDateTime": f.sim.Now().Add(30 * 24 * time.Hour).Format(time.RFC3339)})
	require.Equal(t, 400, resp.StatusCode)
	resp, _ = f.do(t, http.MethodPost, "/subscriptions/"+id+"/reauthorize", nil)
	require.Equal(t, 204, resp.StatusCode)
	_, body = f.do(t, http.MethodGet, "/subscriptions", nil)
	require.Len(t, body["value"], 1)
	listed := body["value"].([]any)[0].(map[string]any)
	require.Equal(t, id, listed["id"])
	require.Nil(t, listed["clientState"], "subscription-list.md: clientState is not returned")
	resp, _ = f.do(t, http.MethodDelete, "/subscriptions/"+id, nil)
	require.Equal(t, 204, resp.StatusCode)
	resp, _ = f.do(t, http.MethodPatch, "/subscriptions/"+id, map[string]any{"expirationDateTime": later.Format(time.RFC3339)})
	require.Equal(t, 404, resp.StatusCode, "renewing a deleted subscription fails, so the client recreates it")
}

// concepts/change-notifications-delivery-webhooks.md, "Throttling": an endpoint that fails or
// answers slowly is marked slow (deliveries delayed), then drop (notifications dropped for a
// while), then recovers.
func TestFailingEndpointIsMarkedSlowThenDrop(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(o *Options) {
		o.RetryBase, o.MaxDeliveryAttempts = time.Millisecond, 1
		o.MinWindowResponses, o.SlowDelay, o.DropPeriod = 10, 5*time.Millisecond, 200*time.Millisecond
	})
	hook := newWebhook(t)
	resp, _ := f.subscribe(t, "/users/"+f.alice+"/messages", hook.srv.URL, nil)
	require.Equal(t, 201, resp.StatusCode)
	ctx := context.Background()
	send := func(n int) {
		for range n {
			_, _ = f.sim.AddMessage(f.tenant, f.alice, "inbox", msg("x"))
			require.NoError(t, f.sim.WaitDelivered(ctx))
		}
	}
	send(12)
	require.Equal(t, "healthy", f.sim.DeliveryStats(hook.srv.URL).State)
	hook.fail.Store(2)
	send(2) // 2 bad of 14: over 10%
	require.Equal(t, "slow", f.sim.DeliveryStats(hook.srv.URL).State)
	hook.fail.Store(1)
	send(1) // 3 bad of 15: over 15%
	st := f.sim.DeliveryStats(hook.srv.URL)
	require.Equal(t, "drop", st.State)
	delivered := len(hook.got())
	send(3)
	require.Len(t, hook.got(), delivered, "dropped while marked drop")
	require.Equal(t, st.Dropped+3, f.sim.DeliveryStats(hook.srv.URL).Dropped)
	time.Sleep(250 * time.Millisecond)
	send(1)
	require.Len(t, hook.got(), delivered+1, "delivered again after the drop period")
	require.Equal(t, "healthy", f.sim.DeliveryStats(hook.srv.URL).State)
}

// The subscription service's writes per app and tenant are limited per 20 seconds
// (concepts/throttling-limits.md, "Subscription service limits": 1,000; lowered to 3 here): the
// next write is throttled with Retry-After, a read still answers.
func TestSubscriptionWritesAreLimitedPer20Seconds(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(o *Options) { o.SubscriptionWrites = 3 })
	for range 3 {
		resp, _ := f.do(t, http.MethodDelete, "/subscriptions/9f1c0d2e-0000-4000-8000-000000000001", nil)
		require.Equal(t, http.StatusNotFound, resp.StatusCode)
	}
	resp, body := f.do(t, http.MethodDelete, "/subscriptions/9f1c0d2e-0000-4000-8000-000000000001", nil)
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode, body)
	require.NotEmpty(t, resp.Header.Get("Retry-After"))
	resp, _ = f.do(t, http.MethodGet, "/subscriptions", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, "reads have their own limit")
}
