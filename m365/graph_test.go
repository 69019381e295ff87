package m365

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/teamaccess/teamaccess/graphsim"
)

func TestUsersDeltaAndProbes(t *testing.T) {
	t.Parallel()
	sim, cl := startSim(t)
	client, err := New(Config{ClientID: appID, ClientSecret: secret, Cloud: cl, RootCAs: sim.CertPool()})
	require.NoError(t, err)
	ctx := t.Context()
	tenant := sim.AddTenant(graphsim.TenantSpec{Name: "Contoso"})
	alice, _ := sim.AddUser(tenant, graphsim.UserSpec{DisplayName: "Alice Adams", UPN: "alice@contoso.com", JobTitle: "AE", Department: "Sales"})
	bob, _ := sim.AddUser(tenant, graphsim.UserSpec{DisplayName: "Bob Brown", UPN: "bob@contoso.com"})
	kiosk, _ := sim.AddUser(tenant, graphsim.UserSpec{DisplayName: "Kiosk", UPN: "kiosk@contoso.com", NoMailbox: true})
	require.NoError(t, sim.GrantConsent(tenant, appID))

	all, link, err := client.UsersDelta(ctx, tenant, "")
	require.NoError(t, err)
	require.Len(t, all, 3)
	require.NotEmpty(t, link)
	for _, u := range all {
		if u.ID == alice {
			require.Equal(t, "Sales", u.Department)
			require.True(t, u.AccountEnabled)
			require.Equal(t, "Member", u.UserType)
		}
	}
	require.NoError(t, sim.DeleteUser(tenant, bob, false))
	changes, _, err := client.UsersDelta(ctx, tenant, link)
	require.NoError(t, err)
	require.Equal(t, []DirectoryUser{{ID: bob, Removed: true}}, changes)
	require.NoError(t, sim.ResetDelta(tenant, "", ""))
	_, _, err = client.UsersDelta(ctx, tenant, link)
	require.ErrorIs(t, err, ErrDeltaExpired)

	// Another tenant's link is a 400 ("The provided delta token is invalid."): a full round too.
	other := sim.AddTenant(graphsim.TenantSpec{Name: "Fabrikam"})
	require.NoError(t, sim.GrantConsent(other, appID))
	_, otherLink, err := client.UsersDelta(ctx, other, "")
	require.NoError(t, err)
	_, _, err = client.UsersDelta(ctx, tenant, otherLink)
	require.ErrorIs(t, err, ErrDeltaExpired)
	require.ErrorContains(t, err, "400")

	p, err := client.ProbeMailbox(ctx, tenant, alice)
	require.NoError(t, err)
	require.Equal(t, AccessAccessible, p.Access)
	p, err = client.ProbeMailbox(ctx, tenant, kiosk)
	require.NoError(t, err)
	require.Equal(t, AccessNoMailbox, p.Access)
	require.Equal(t, "MailboxNotEnabledForRESTAPI", p.Code)

	require.NoError(t, sim.SetAccessPolicy(tenant, appID, []string{}))
	sim.Advance(time.Hour)
	client, _ = New(Config{ClientID: appID, ClientSecret: secret, Cloud: cl, RootCAs: sim.CertPool()}) // tokens expired
	p, err = client.ProbeMailbox(ctx, tenant, alice)
	require.NoError(t, err)
	require.Equal(t, AccessBlockedByPolicy, p.Access)

	require.NoError(t, sim.GrantConsent(tenant, appID, "User.Read.All"))
	require.NoError(t, sim.SetAccessPolicy(tenant, appID, nil))
	sim.Advance(time.Hour)
	client, _ = New(Config{ClientID: appID, ClientSecret: secret, Cloud: cl, RootCAs: sim.CertPool()})
	p, err = client.ProbeMailbox(ctx, tenant, alice)
	require.NoError(t, err)
	require.Equal(t, AccessMissingPermission, p.Access)

	sim.InjectFault(graphsim.Fault{Path: "/mailFolders/inbox", Status: 500})
	_, err = client.ProbeMailbox(ctx, tenant, alice)
	require.ErrorIs(t, err, ErrTransient)
}

// A mailbox outside the tenant's scoping of the app is BLOCKED_BY_POLICY whichever way Exchange
// words it: Microsoft's documented "Access to OData is disabled.", the longer RAOP text, and RBAC
// for Applications' generic "Access is denied", which only the token's roles (Mail.Read granted)
// tell from a missing permission. Without Mail.Read the same 403 is MISSING_PERMISSION.
func TestProbeClassifiesEveryPolicyDenial(t *testing.T) {
	t.Parallel()
	for _, denial := range []graphsim.PolicyDenial{graphsim.DenialDocumented, graphsim.DenialRAOP, graphsim.DenialRBAC} {
		t.Run(string(denial), func(t *testing.T) {
			sim, cl := startSim(t, func(o *graphsim.Options) { o.PolicyDenial = denial })
			ctx := t.Context()
			tenant := sim.AddTenant(graphsim.TenantSpec{Name: "Contoso"})
			alice, _ := sim.AddUser(tenant, graphsim.UserSpec{DisplayName: "Alice Adams", UPN: "alice@contoso.com"})
			bob, _ := sim.AddUser(tenant, graphsim.UserSpec{DisplayName: "Bob Brown", UPN: "bob@contoso.com"})
			require.NoError(t, sim.GrantConsent(tenant, appID))
			require.NoError(t, sim.SetAccessPolicy(tenant, appID, []string{alice}))
			sim.Advance(time.Hour)
			client, err := New(Config{ClientID: appID, ClientSecret: secret, Cloud: cl, RootCAs: sim.CertPool()})
			require.NoError(t, err)
			p, err := client.ProbeMailbox(ctx, tenant, bob)
			require.NoError(t, err)
			require.Equal(t, AccessBlockedByPolicy, p.Access, p.Message)
			require.Equal(t, "ErrorAccessDenied", p.Code)
			p, err = client.ProbeMailbox(ctx, tenant, alice)
			require.NoError(t, err)
			require.Equal(t, AccessAccessible, p.Access)

			require.NoError(t, sim.GrantConsent(tenant, appID, "User.Read.All", "Calendars.Read"))
			client, _ = New(Config{ClientID: appID, ClientSecret: secret, Cloud: cl, RootCAs: sim.CertPool()})
			p, err = client.ProbeMailbox(ctx, tenant, alice)
			require.NoError(t, err)
			require.Equal(t, AccessMissingPermission, p.Access, "no mail role in the token: a permission is missing")
		})
	}
}

// ListSubscriptions follows Graph's pages: 120 subscriptions come back, over two pages of 100.
func TestListSubscriptionsFollowsPages(t *testing.T) {
	t.Parallel()
	sim, cl := startSim(t)
	client, err := New(Config{ClientID: appID, ClientSecret: secret, Cloud: cl, RootCAs: sim.CertPool()})
	require.NoError(t, err)
	ctx := t.Context()
	tenant := sim.AddTenant(graphsim.TenantSpec{Name: "Contoso"})
	require.NoError(t, sim.GrantConsent(tenant, appID))
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte(r.URL.Query().Get("validationToken")))
	}))
	defer hook.Close()
	want := map[string]bool{}
	for i := range 60 {
		u, _ := sim.AddUser(tenant, graphsim.UserSpec{DisplayName: fmt.Sprint("User ", i), UPN: fmt.Sprintf("u%d@contoso.com", i)})
		for _, res := range []string{"/users/" + u + "/events", "/users/" + u + "/contacts"} {
			s, err := client.CreateSubscription(ctx, tenant, SubscriptionRequest{Resource: res, ChangeType: "created",
				NotificationURL: hook.URL, ClientState: "s", ExpiresAt: sim.Now().Add(24 * time.Hour)})
			require.NoError(t, err)
			want[s.ID] = true
		}
	}
	got, err := client.ListSubscriptions(ctx, tenant)
	require.NoError(t, err)
	require.Len(t, got, 120)
	for _, l := range got {
		require.True(t, want[l.ID], l.ID)
		require.Equal(t, hook.URL, l.NotificationURL)
		require.Contains(t, l.Resource, "/users/")
	}
}

// Graph's Retry-After may be fractional or under a second. The probe waits exactly that long
// before its retry: never early (graphsim throttles a request that comes back early again and
// counts it), and so it succeeds on the first retry.
func TestRetryAfterIsHonouredToTheMillisecond(t *testing.T) {
	t.Parallel()
	for _, after := range []float64{0.6, 1.4} {
		sim, cl := startSim(t)
		client, err := New(Config{ClientID: appID, ClientSecret: secret, Cloud: cl, RootCAs: sim.CertPool()})
		require.NoError(t, err)
		tenant := sim.AddTenant(graphsim.TenantSpec{Name: "Contoso"})
		alice, _ := sim.AddUser(tenant, graphsim.UserSpec{DisplayName: "Alice Adams", UPN: "alice@contoso.com"})
		require.NoError(t, sim.GrantConsent(tenant, appID))
		sim.InjectFault(graphsim.Fault{Path: "/mailFolders/inbox", Status: 429, RetryAfter: after, Count: 1})
		start := time.Now()
		p, err := client.ProbeMailbox(t.Context(), tenant, alice)
		require.NoError(t, err, "Retry-After %v", after)
		require.Equal(t, AccessAccessible, p.Access)
		require.Zero(t, sim.EarlyRetries(), "Retry-After %v: retried before it elapsed", after)
		require.GreaterOrEqual(t, time.Since(start), time.Duration(after*float64(time.Second)))
	}
}

// Request bodies go uncompressed: a part of Graph that does not take gzip bodies (415, or 400
// "Unable to read JSON request payload", as the SDKs' design has it) creates the subscription
// at the first request. With the SDK's compression handler a 400 failed the creation, and a
// 415 cost a second write of the tenant's subscription budget.
func TestSubscriptionsAreCreatedWhereGraphTakesNoCompressedBodies(t *testing.T) {
	t.Parallel()
	for _, answer := range []int{http.StatusUnsupportedMediaType, http.StatusBadRequest} {
		sim, cl := startSim(t, func(o *graphsim.Options) { o.CompressedBodies = answer })
		client, err := New(Config{ClientID: appID, ClientSecret: secret, Cloud: cl, RootCAs: sim.CertPool()})
		require.NoError(t, err)
		tenant := sim.AddTenant(graphsim.TenantSpec{Name: "Contoso"})
		require.NoError(t, sim.GrantConsent(tenant, appID))
		u, _ := sim.AddUser(tenant, graphsim.UserSpec{DisplayName: "Alice", UPN: "alice@contoso.com"})
		hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = w.Write([]byte(r.URL.Query().Get("validationToken")))
		}))
		_, err = client.CreateSubscription(t.Context(), tenant, SubscriptionRequest{Resource: "/users/" + u + "/messages", ChangeType: "created",
			NotificationURL: hook.URL, ClientState: "s", ExpiresAt: sim.Now().Add(24 * time.Hour)})
		hook.Close()
		require.NoError(t, err, "answering %d to compressed bodies", answer)
		posts := 0
		for _, r := range sim.Requests() {
			require.False(t, r.Compressed, "%s %s came compressed", r.Method, r.Path)
			if r.Method == http.MethodPost && r.Path == "/v1.0/subscriptions" {
				posts++
			}
		}
		require.Equal(t, 1, posts, "one write of the subscription budget")
	}
}
