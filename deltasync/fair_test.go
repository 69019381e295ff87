package deltasync_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/teamaccess/teamaccess/deltasync"
	"github.com/teamaccess/teamaccess/graphsim"
	"github.com/teamaccess/teamaccess/store"
)

// A tenant in a 429 storm (every mailbox told to wait 1.5 s) does not hold another tenant's
// mailbox back: while both have mailboxes due, neither holds more than half the places, and
// the tenants are taken in turn; the storm's mailboxes were due first.
func TestATenantIn429StormDoesNotDelayAnother(t *testing.T) {
	t.Parallel()
	e := newEnv(t, graphsim.Options{})
	ctx := t.Context()
	type tenant struct{ org, id string }
	stormy, calm := tenant{e.org, e.tenant}, tenant{"org_calm", e.sim.AddTenant(graphsim.TenantSpec{Name: "Fabrikam", Domain: "fabrikam.onmicrosoft.com"})}
	require.NoError(t, e.sim.GrantConsent(calm.id, appID))
	users := map[tenant][]string{stormy: {e.alice}}
	for i := range 3 {
		u, _ := e.sim.AddUser(stormy.id, graphsim.UserSpec{DisplayName: "Seller", UPN: fmt.Sprintf("seller%d@contoso.com", i)})
		users[stormy] = append(users[stormy], u)
	}
	bob, _ := e.sim.AddUser(calm.id, graphsim.UserSpec{DisplayName: "Bob", UPN: "bob@fabrikam.com"})
	users[calm] = []string{bob}
	for _, tn := range []tenant{stormy, calm} {
		org := e.st.Org(tn.org)
		require.NoError(t, org.SaveTeamAccess(ctx, store.TeamAccess{OrgID: tn.org, Status: "ACTIVE", TenantID: tn.id, UpdatedAt: e.now}))
		var mbs []store.Mailbox
		for _, u := range users[tn] {
			mbs = append(mbs, store.Mailbox{UserID: u, DisplayName: u, UserPrincipalName: u + "@x.com", AccountEnabled: true})
		}
		require.NoError(t, org.UpsertDirectoryUsers(ctx, tn.id, mbs, e.now))
		require.NoError(t, org.SaveMailboxAccess(ctx, users[tn], "ACCESSIBLE", "", "", e.now, e.now.Add(time.Hour), true, "UNKNOWN"))
	}
	now := e.now
	s := deltasync.New(e.st, e.mc, deltasync.Options{Now: func() time.Time { return now }, Concurrency: 2, MailFolders: []string{"inbox"}})
	for _, u := range users[stormy] { // synced first, so due first
		s.SyncNow(ctx, stormy.org, stormy.id, u)
	}
	now = now.Add(time.Minute)
	s.SyncNow(ctx, calm.org, calm.id, bob)
	now = now.Add(10 * time.Minute) // all due again, the storm's mailboxes first
	for _, u := range users[stormy] {
		e.sim.InjectFault(graphsim.Fault{UserID: u, Status: 429, RetryAfter: 1.5, Count: 1})
	}
	start := time.Now()
	require.NoError(t, s.SyncDue(context.Background()))
	var first time.Time          // the calm tenant's first request
	retried := map[string]bool{} // the storm's mailboxes seen back after their 429
	stormRetryBefore := false
	throttled := map[string]bool{}
	for _, r := range e.sim.Requests() {
		if !r.At.After(start) {
			continue
		}
		if r.UserID == bob && first.IsZero() {
			first = r.At
		}
		if r.Status == 429 {
			throttled[r.UserID] = true
		} else if throttled[r.UserID] && !retried[r.UserID] {
			retried[r.UserID] = true
			stormRetryBefore = stormRetryBefore || first.IsZero()
		}
	}
	require.False(t, first.IsZero(), "the calm tenant's mailbox was synced")
	require.Len(t, throttled, len(users[stormy]), "every storm mailbox was throttled")
	require.False(t, stormRetryBefore, "the calm tenant's mailbox waited behind the storm's Retry-After")
}
