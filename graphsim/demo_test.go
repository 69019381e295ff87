package graphsim

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestDemoTenant(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	d, err := f.sim.SeedDemo(testApp)
	require.NoError(t, err)
	require.Len(t, d.Sales, 19)
	require.Len(t, d.Blocked, 3)
	require.NoError(t, f.sim.GrantConsent(d.TenantID, testApp))
	f.token = f.getToken(t, d.TenantID, testSecret)
	users, _, _ := f.drain(t, "/users/delta")
	require.Len(t, users, 27)
	// The shared mailbox and the room look as Exchange Online makes them: account disabled, no
	// license; only mailboxSettings (MailboxSettings.Read, not granted) names their purpose.
	for _, id := range []string{d.Shared, d.Room} {
		resp, u := f.do(t, http.MethodGet, "/users/"+id+"?$select=accountEnabled,assignedLicenses,mail", nil)
		require.Equal(t, 200, resp.StatusCode)
		require.Equal(t, false, u["accountEnabled"])
		require.Empty(t, u["assignedLicenses"])
		resp, _ = f.do(t, http.MethodGet, "/users/"+id+"/mailFolders/inbox", nil)
		require.Equal(t, 200, resp.StatusCode, "readable: in the policy group")
		resp, body := f.do(t, http.MethodGet, "/users/"+id+"/mailboxSettings", nil)
		require.Equal(t, 403, resp.StatusCode, "userPurpose needs MailboxSettings.Read")
		require.Equal(t, "ErrorAccessDenied", errorCode(body))
	}
	resp, u := f.do(t, http.MethodGet, "/users/"+d.Sales[0]+"?$select=assignedLicenses", nil)
	require.Equal(t, 200, resp.StatusCode)
	require.Len(t, u["assignedLicenses"], 1, "a user mailbox is licensed")
	resp, _ = f.do(t, http.MethodGet, "/users/"+d.Sales[0]+"/mailFolders/inbox", nil)
	require.Equal(t, 200, resp.StatusCode)
	resp, body := f.do(t, http.MethodGet, "/users/"+d.Blocked[0]+"/mailFolders/inbox", nil)
	require.Equal(t, 403, resp.StatusCode, "the policy is in effect from the start")
	require.Equal(t, "ErrorAccessDenied", errorCode(body))
	_, body = f.do(t, http.MethodGet, "/users/"+d.NoMailbox+"/mailFolders/inbox", nil)
	require.Equal(t, "MailboxNotEnabledForRESTAPI", errorCode(body))

	total := 0
	for _, u := range d.Sales {
		in, _ := f.sim.Messages(d.TenantID, u, "inbox")
		sent, _ := f.sim.Messages(d.TenantID, u, "sentitems")
		ev, _ := f.sim.Events(d.TenantID, u)
		total += len(in) + len(sent) + len(ev)
		for _, m := range in {
			require.NotContains(t, m.From.EmailAddress.Address, "contoso.com", "inbound mail comes from customers")
		}
	}
	require.Greater(t, total, 250, "a few hundred messages and meetings")

	count := func() int {
		n := 0
		for _, u := range append(append([]string{}, d.Sales...), d.Blocked...) {
			in, _ := f.sim.Messages(d.TenantID, u, "inbox")
			sent, _ := f.sim.Messages(d.TenantID, u, "sentitems")
			ev, _ := f.sim.Events(d.TenantID, u)
			n += len(in) + len(sent) + len(ev)
		}
		return n
	}
	before := count()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		f.sim.RunDemoGenerator(ctx, d, func(int) time.Duration { return 5 * time.Millisecond })
		close(done)
	}()
	require.Eventually(t, func() bool { return count() >= before+5 }, 5*time.Second, 20*time.Millisecond, "the generator adds mail and meetings")
	cancel()
	<-done
}
