package m365

import (
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
