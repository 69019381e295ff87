package m365

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/teamaccess/teamaccess/graphsim"
)

// A burst of reads waits for Outlook's 4 concurrent requests here instead of earning 429s
// (concepts/throttling-limits.md, "Outlook service limits"), counted per mailbox, or per tenant
// where the setting says so and graphsim plays that reading of the limit; counted per mailbox
// against a Graph that counts per tenant, the burst is throttled.
func TestABurstStaysWithinOutlooksConcurrencyLimit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		perTenant bool // graphsim's reading
		scope     string
		throttled bool
	}{
		{"per mailbox", false, ConcurrencyPerMailbox, false},
		{"per tenant", true, ConcurrencyPerTenant, false},
		{"per tenant counted per mailbox", true, ConcurrencyPerMailbox, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sim, cl := startSim(t, func(o *graphsim.Options) { o.ConcurrencyPerTenant = tc.perTenant })
			client, err := New(Config{ClientID: appID, ClientSecret: secret, Cloud: cl, RootCAs: sim.CertPool(), ConcurrencyScope: tc.scope})
			require.NoError(t, err)
			tenant := sim.AddTenant(graphsim.TenantSpec{Name: "Contoso"})
			var users []string
			for i := range 4 {
				u, _ := sim.AddUser(tenant, graphsim.UserSpec{DisplayName: "Seller", UPN: "seller" + string(rune('a'+i)) + "@contoso.com"})
				users = append(users, u)
			}
			require.NoError(t, sim.GrantConsent(tenant, appID))
			sim.InjectFault(graphsim.Fault{Path: "/messages/delta", Latency: 40 * time.Millisecond})
			var wg sync.WaitGroup
			for i := range 24 { // 6 a mailbox, or 24 for the tenant, at once
				wg.Go(func() {
					u := users[i%len(users)]
					_, err := client.MessagesPage(t.Context(), tenant, client.MessagesDeltaURL(u, "inbox", time.Time{}, false))
					if !tc.throttled { // counted wrong, some run out of retries
						require.NoError(t, err)
					}
				})
			}
			wg.Wait()
			throttled := 0
			for _, r := range sim.Requests() {
				if r.Status == 429 {
					throttled++
				}
			}
			if tc.throttled {
				require.Positive(t, throttled, "graphsim's tenant-wide limit was not reached: the test shows nothing")
			} else {
				require.Zero(t, throttled, "requests went over the limit")
			}
		})
	}
}

func TestMailboxOfAGraphRequest(t *testing.T) {
	t.Parallel()
	for path, want := range map[string]string{
		"/v1.0/users/AbC/mailFolders/inbox/messages/delta": "abc",
		"/v1.0/users/abc/calendarView/delta":               "abc",
		"/v1.0/users/abc":                                  "",
		"/v1.0/users/delta":                                "",
		"/v1.0/subscriptions":                              "",
		"/v1.0/$batch":                                     "",
	} {
		require.Equal(t, want, mailboxOf(path), path)
	}
}

// The client's paces never exceed what Microsoft allows in any window, however it is laid.
func TestThePacesStayUnderMicrosoftsLimits(t *testing.T) {
	t.Parallel()
	require.LessOrEqual(t, float64(mailboxBurst)+mailboxPerSec*600, 10000.0, "requests to a mailbox in any 10 minutes")
	require.LessOrEqual(t, float64(subscriptionWriteBurst)+subscriptionWritePerSec*20, 1000.0, "subscription writes in any 20 s")
	require.LessOrEqual(t, float64(subscriptionListBurst)+subscriptionListPerSec*20, 40.0, "subscription lists in any 20 s")
	require.True(t, isSubscriptions("/v1.0/subscriptions"))
	require.True(t, isSubscriptions("/v1.0/subscriptions/abc"))
	require.False(t, isSubscriptions("/v1.0/subscriptionsx"))
}

// roundTripFunc is an http.RoundTripper.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// With several processes sharing the app's budgets, each keeps its part of a tenant's: half the
// subscription writes at once with two processes, and half the tenant's 4 requests at once where
// they are counted per tenant.
func TestEachProcessKeepsItsPartOfTheTenantsBudgets(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	inFlight, most := 0, 0
	next := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		mu.Lock()
		inFlight++
		most = max(most, inFlight)
		mu.Unlock()
		if !strings.Contains(r.URL.Path, "/subscriptions") {
			time.Sleep(20 * time.Millisecond)
		}
		mu.Lock()
		inFlight--
		mu.Unlock()
		return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("{}"))}, nil
	})
	processes := 1
	b := newBudget(next, ConcurrencyPerTenant, func() int { return processes })
	burst := func() int { // subscription writes that pass at once
		n := 0
		for range subscriptionWriteBurst + 1 {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "https://graph.example/v1.0/subscriptions", nil)
			if _, err := b.RoundTrip(req); err == nil {
				n++
			}
			cancel()
		}
		return n
	}
	reads := func() int {
		mu.Lock()
		most = 0
		mu.Unlock()
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("https://graph.example/v1.0/users/u%d/messages", i), nil)
				if resp, err := b.RoundTrip(req); err == nil {
					resp.Body.Close()
				}
			})
		}
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		return most
	}
	require.Equal(t, outlookConcurrency, reads(), "one process: the tenant's 4 at once")
	processes = 2
	require.Equal(t, outlookConcurrency/2, reads(), "two processes: 2 at once each")
	require.Equal(t, subscriptionWriteBurst/2, burst(), "two processes: half the writes at once each")
}

func TestIdentityCostOfARequest(t *testing.T) {
	t.Parallel()
	for path, want := range map[string]int{
		"/v1.0/users":       2,
		"/v1.0/users/delta": 2,
		"/v1.0/users/delta?$select=id,displayName":       1,
		"/v1.0/users/abc":                                1,
		"/v1.0/users?$top=5&$select=id":                  1,
		"/v1.0/users?$expand=manager":                    3,
		"/v1.0/users/abc/mailFolders/inbox":              0,
		"/v1.0/subscriptions":                            0,
		"/v1.0/usersx":                                   0,
		"/v1.0/users/microsoft.graph.delta()?$select=id": 1,
	} {
		req, _ := http.NewRequest(http.MethodGet, "https://graph.example"+path, nil)
		require.Equal(t, want, identityCost(req), path)
	}
}
