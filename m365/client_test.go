package m365

import (
	"errors"
	"net/url"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/stretchr/testify/require"

	"github.com/teamaccess/teamaccess/graphsim"
)

const (
	appID  = "11111111-2222-3333-4444-555555555555"
	secret = "app-secret"
)

func startSim(t *testing.T, opts ...func(*graphsim.Options)) (*graphsim.Sim, Cloud) {
	t.Helper()
	o := graphsim.Options{Apps: []graphsim.App{{ID: appID, Secret: secret, Name: "teamaccess",
		Permissions: []string{"Calendars.Read", "User.Read.All", "Mail.Read", "Contacts.Read"}}}}
	for _, f := range opts {
		f(&o)
	}
	sim, err := graphsim.Start(o)
	require.NoError(t, err)
	t.Cleanup(sim.Close)
	c, err := CustomCloud(sim.AuthorityURL(), sim.GraphURL())
	require.NoError(t, err)
	return sim, c
}

func TestVerifyTenant(t *testing.T) {
	t.Parallel()
	sim, cl := startSim(t)
	client, err := New(Config{ClientID: appID, ClientSecret: secret, Cloud: cl, RootCAs: sim.CertPool(), RedirectURI: "https://ta.example/consent/callback"})
	require.NoError(t, err)
	ctx := t.Context()
	tenant := sim.AddTenant(graphsim.TenantSpec{Name: "Contoso"})

	_, err = client.VerifyTenant(ctx, tenant)
	require.ErrorIs(t, err, ErrNotConsented, "before consent")
	require.Contains(t, err.Error(), "AADSTS700016")

	require.NoError(t, sim.GrantConsent(tenant, appID))
	g, err := client.VerifyTenant(ctx, tenant)
	require.NoError(t, err)
	require.Equal(t, tenant, g.TenantID)
	require.Equal(t, []string{"Calendars.Read", "Contacts.Read", "Mail.Read", "User.Read.All"}, g.Roles)

	require.NoError(t, sim.GrantConsent(tenant, appID, "User.Read.All", "Mail.ReadWrite"))
	g, err = client.VerifyTenant(ctx, tenant)
	require.NoError(t, err)
	require.Equal(t, []string{"Mail.ReadWrite", "User.Read.All"}, g.Roles, "a fresh token, not a cached one")

	require.NoError(t, sim.RevokeConsent(tenant, appID))
	_, err = client.VerifyTenant(ctx, tenant)
	require.ErrorIs(t, err, ErrNotConsented)

	_, err = client.VerifyTenant(ctx, "00000000-0000-0000-0000-000000000000")
	require.ErrorIs(t, err, ErrTenantNotFound)

	wrong, _ := New(Config{ClientID: appID, ClientSecret: "nope", Cloud: cl, RootCAs: sim.CertPool()})
	require.NoError(t, sim.GrantConsent(tenant, appID))
	_, err = wrong.VerifyTenant(ctx, tenant)
	require.ErrorIs(t, err, ErrCredentials)

	sim.Close()
	_, err = client.VerifyTenant(ctx, tenant)
	require.ErrorIs(t, err, ErrUnavailable)
	require.False(t, errors.Is(err, ErrNotConsented), "an outage is not a revocation")
}

// Token errors as the identity platform sends them, through azidentity: the reason is
// Microsoft's description without the trace lines it separates with CR LF
// (v2-oauth2-client-creds-grant-flow.md, "Error response example"), and an invalid scope
// (AADSTS70011, that page's own example) is a configuration error of teamaccess, not an outage
// to retry; a tenant that does not exist (AADSTS90002) is said so.
func TestTokenErrorsAreClassifiedByTheirDocumentedMeaning(t *testing.T) {
	t.Parallel()
	sim, cl := startSim(t)
	client, err := New(Config{ClientID: appID, ClientSecret: secret, Cloud: cl, RootCAs: sim.CertPool()})
	require.NoError(t, err)
	tenant := sim.AddTenant(graphsim.TenantSpec{Name: "Contoso"})
	require.NoError(t, sim.GrantConsent(tenant, appID))
	cred, err := client.credential(tenant)
	require.NoError(t, err)
	_, err = cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{"https://foo.microsoft.com/.default"}})
	require.Error(t, err)
	err = classify(err)
	require.ErrorIs(t, err, ErrCredentials)
	require.NotErrorIs(t, err, ErrUnavailable)
	require.Contains(t, err.Error(), "AADSTS70011: The provided value for the input parameter 'scope' isn't valid.")
	require.NotContains(t, err.Error(), "Trace ID")
	require.NotContains(t, err.Error(), "\r")

	// The same refusals met by a Graph call are said as such, never as a transient failure
	// (which would be retried a minute later, forever).
	alice, _ := sim.AddUser(tenant, graphsim.UserSpec{DisplayName: "Alice Adams", UPN: "alice@contoso.com"})
	require.NoError(t, sim.RevokeConsent(tenant, appID))
	_, err = client.ProbeMailbox(t.Context(), tenant, alice)
	require.ErrorIs(t, err, ErrNotConsented)
	require.NotErrorIs(t, err, ErrTransient)
	require.Contains(t, err.Error(), "AADSTS700016")
	_, err = client.ProbeMailbox(t.Context(), "00000000-0000-0000-0000-000000000000", alice)
	require.ErrorIs(t, err, ErrTenantNotFound)
	require.NotErrorIs(t, err, ErrTransient)

	_, err = client.VerifyTenant(t.Context(), "00000000-0000-0000-0000-000000000000")
	require.ErrorIs(t, err, ErrTenantNotFound)
	require.Contains(t, err.Error(), "AADSTS90002: Tenant '00000000-0000-0000-0000-000000000000' not found.")
	require.NotContains(t, err.Error(), "Trace ID")
}

func TestConsentURL(t *testing.T) {
	t.Parallel()
	c, err := New(Config{ClientID: appID, ClientSecret: secret, RedirectURI: "https://ta.example/consent/callback"})
	require.NoError(t, err)
	u, err := url.Parse(c.ConsentURL("", "st@te"))
	require.NoError(t, err)
	require.Equal(t, "login.microsoftonline.com", u.Host)
	require.Equal(t, "/organizations/v2.0/adminconsent", u.Path)
	q := u.Query()
	require.Equal(t, appID, q.Get("client_id"))
	require.Equal(t, "https://graph.microsoft.com/.default", q.Get("scope"))
	require.Equal(t, "https://ta.example/consent/callback", q.Get("redirect_uri"))
	require.Equal(t, "st@te", q.Get("state"))
	u, _ = url.Parse(c.ConsentURL("contoso.onmicrosoft.com", "s"))
	require.Equal(t, "/contoso.onmicrosoft.com/v2.0/adminconsent", u.Path)

	for name, want := range map[string]string{"": Global.GraphURL, "usgov": USGov.GraphURL, "china": China.GraphURL} {
		cl, err := CloudByName(name)
		require.NoError(t, err)
		require.Equal(t, want, cl.GraphURL)
	}
	_, err = CloudByName("mars")
	require.Error(t, err)
	_, err = CustomCloud("http://127.0.0.1:1", "https://127.0.0.1:2/v1.0")
	require.Error(t, err, "azidentity refuses a non-HTTPS authority")
	_, err = New(Config{ClientID: appID})
	require.Error(t, err)
}
