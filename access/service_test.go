package access_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/teamaccess/teamaccess/access"
	"github.com/teamaccess/teamaccess/auth"
	"github.com/teamaccess/teamaccess/graphsim"
	"github.com/teamaccess/teamaccess/m365"
	"github.com/teamaccess/teamaccess/testenv"
)

const (
	appID    = "0f4a2c6e-1b3d-4e5f-8a9b-0c1d2e3f4a5b"
	secret   = "secret"
	redirect = "https://teamaccess.example/consent/callback"
)

type env struct {
	sim       *graphsim.Sim
	svc       *access.Service
	dir       *auth.Directory
	orgA      auth.Organization
	orgB      auth.Organization
	tenant    string // Contoso, consentable
	clock     time.Time
	published []access.TeamAccess
	hooked    []string
}

func newEnv(t *testing.T, configure ...func(*graphsim.Options)) *env {
	t.Helper()
	o := graphsim.Options{Apps: []graphsim.App{{ID: appID, Secret: secret, Name: "teamaccess",
		RedirectURIs: []string{redirect}, Permissions: access.RequiredPermissions}}}
	for _, c := range configure {
		c(&o)
	}
	sim := testenv.Sim(t, o)
	st := testenv.Store(t)
	cl, _ := m365.CustomCloud(sim.AuthorityURL(), sim.GraphURL())
	mc, err := m365.New(m365.Config{ClientID: appID, ClientSecret: secret, Cloud: cl, RootCAs: sim.CertPool(), RedirectURI: redirect})
	require.NoError(t, err)
	e := &env{sim: sim, dir: auth.NewDirectory(st), clock: time.Now()}
	e.svc = access.New(st, mc, e.dir, access.Options{
		Now:     func() time.Time { return e.clock },
		Publish: func(_ context.Context, _ string, ta access.TeamAccess) { e.published = append(e.published, ta) },
		OnDelete: []access.DisconnectHook{func(_ context.Context, org, tenant string, purge bool) error {
			e.hooked = append(e.hooked, org+"/"+tenant)
			return nil
		}},
	})
	e.orgA, _ = e.dir.CreateOrganization(t.Context(), "Acme")
	e.orgB, _ = e.dir.CreateOrganization(t.Context(), "Beta")
	e.tenant = sim.AddTenant(graphsim.TenantSpec{Name: "Contoso", Domain: "contoso.onmicrosoft.com"})
	return e
}

// consent follows a consent link through graphsim's page, as the Microsoft 365 admin of the
// tenant would, pressing decision, and returns the callback's query.
func (e *env) consent(t *testing.T, link, decision, tenant string) url.Values {
	t.Helper()
	client := e.sim.HTTPClient()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	u, err := url.Parse(link)
	require.NoError(t, err)
	form := u.Query()
	form.Set("decision", decision)
	form.Set("admin_tenant", tenant)
	resp, err := client.PostForm(link, form)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusFound, resp.StatusCode)
	loc, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	require.Equal(t, "/consent/callback", loc.Path)
	return loc.Query()
}

func (e *env) link(t *testing.T, org auth.Organization) string {
	t.Helper()
	l, err := e.svc.CreateConsentLink(t.Context(), auth.CommandLine(org.ID), "")
	require.NoError(t, err)
	return l.URL
}

func TestConsentConnectsTheTenant(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	ta, _ := e.svc.Status(ctx, e.orgA.ID)
	require.Equal(t, access.NotConfigured, ta.Status)
	link := e.link(t, e.orgA)
	ta, _ = e.svc.Status(ctx, e.orgA.ID)
	require.Equal(t, access.PendingConsent, ta.Status)

	q := e.consent(t, link, "accept", e.tenant)
	res, err := e.svc.Callback(ctx, q)
	require.NoError(t, err)
	require.Equal(t, access.Connected, res.Outcome)
	require.Equal(t, "Team access to Office 365 is active.", res.Message)
	ta, _ = e.svc.Status(ctx, e.orgA.ID)
	require.Equal(t, access.Active, ta.Status)
	require.Equal(t, e.tenant, *ta.TenantID)
	require.ElementsMatch(t, access.RequiredPermissions, ta.GrantedPermissions)
	require.Empty(t, ta.MissingPermissions)
	require.NotNil(t, ta.ConsentedAt)
	require.Equal(t, access.Active, e.published[len(e.published)-1].Status, "subscribers hear of it")
	page, _ := e.dir.AuditLog(ctx, e.orgA.ID, 10, "")
	require.Equal(t, "teamAccess.connect", page.Entries[0].Action)

	_, err = e.svc.Callback(ctx, q)
	require.ErrorIs(t, err, access.ErrBadState, "a state works once")
	require.ErrorContains(t, err, "used already")
}

func TestCancelledConsent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	res, err := e.svc.Callback(t.Context(), e.consent(t, e.link(t, e.orgA), "cancel", e.tenant))
	require.NoError(t, err)
	require.Equal(t, access.Declined, res.Outcome)
	ta, _ := e.svc.Status(t.Context(), e.orgA.ID)
	require.Equal(t, access.NotConfigured, ta.Status)
	require.Nil(t, ta.TenantID)
	require.Equal(t, "CONSENT_REQUIRED", ta.LastError.Code, "Microsoft's documented error (v2-admin-consent.md)")
	require.Equal(t, "The Microsoft 365 administrator declined to grant access. Microsoft said: AADSTS65004: The resource owner or authorization server denied the request.",
		ta.LastError.Message, "Microsoft's reason, without the trace lines it separates with CR LF")
}

// A decline that comes back with error but without the state: the administrator is shown
// Microsoft's reason, not "this consent link cannot be used", and nothing changes.
func TestCancelledConsentWithoutStateShowsMicrosoftsReason(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *graphsim.Options) { o.ConsentErrorWithoutState = true })
	q := e.consent(t, e.link(t, e.orgA), "cancel", e.tenant)
	require.False(t, q.Has("state"))
	res, err := e.svc.Callback(t.Context(), q)
	require.NoError(t, err)
	require.Equal(t, access.Declined, res.Outcome)
	require.Contains(t, res.Message, "AADSTS65004: The resource owner or authorization server denied the request.")
	require.NotContains(t, res.Message, "Trace ID")
	ta, _ := e.svc.Status(t.Context(), e.orgA.ID)
	require.Equal(t, access.PendingConsent, ta.Status, "nothing changed")
}

// An organisation connected to one tenant that accepts a new link in another is refused until
// it disconnects: it keeps its tenant, the other tenant stays free, and after a disconnect the
// same consent connects the new tenant.
func TestConsentToADifferentTenantIsRefusedUntilDisconnected(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	res, err := e.svc.Callback(ctx, e.consent(t, e.link(t, e.orgA), "accept", e.tenant))
	require.NoError(t, err)
	require.Equal(t, access.Connected, res.Outcome)
	other := e.sim.AddTenant(graphsim.TenantSpec{Name: "Fabrikam", Domain: "fabrikam.onmicrosoft.com"})
	res, err = e.svc.Callback(ctx, e.consent(t, e.link(t, e.orgA), "accept", other))
	require.NoError(t, err)
	require.Equal(t, access.Refused, res.Outcome)
	require.Contains(t, res.Message, "Disconnect Team Access first")
	ta, _ := e.svc.Status(ctx, e.orgA.ID)
	require.Equal(t, e.tenant, *ta.TenantID, "still the first tenant")
	require.Equal(t, access.Active, ta.Status)
	require.Equal(t, "TENANT_MISMATCH", ta.LastError.Code)
	require.Empty(t, e.hooked, "no disconnect happened")

	_, err = e.svc.Disconnect(ctx, auth.CommandLine(e.orgA.ID), false)
	require.NoError(t, err)
	res, err = e.svc.Callback(ctx, e.consent(t, e.link(t, e.orgA), "accept", other))
	require.NoError(t, err)
	require.Equal(t, access.Connected, res.Outcome)
	ta, _ = e.svc.Status(ctx, e.orgA.ID)
	require.Equal(t, other, *ta.TenantID)
	res, err = e.svc.Callback(ctx, e.consent(t, e.link(t, e.orgB), "accept", e.tenant))
	require.NoError(t, err)
	require.Equal(t, access.Connected, res.Outcome, "the first tenant is free for another organization")
}

func TestForgedTenantsAreRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	// A tenant that never consented, named in a forged callback.
	other := e.sim.AddTenant(graphsim.TenantSpec{Name: "Fabrikam"})
	q := e.consent(t, e.link(t, e.orgA), "accept", e.tenant)
	q.Set("tenant", other)
	res, err := e.svc.Callback(ctx, q)
	require.NoError(t, err)
	require.Equal(t, access.Refused, res.Outcome)
	ta, _ := e.svc.Status(ctx, e.orgA.ID)
	require.Nil(t, ta.TenantID, "nothing bound")
	require.Equal(t, "CONSENT_NOT_FOUND", ta.LastError.Code)

	// The tenant is B's: A's state cannot take it.
	res, err = e.svc.Callback(ctx, e.consent(t, e.link(t, e.orgB), "accept", e.tenant))
	require.NoError(t, err)
	require.Equal(t, access.Connected, res.Outcome)
	res, err = e.svc.Callback(ctx, e.consent(t, e.link(t, e.orgA), "accept", e.tenant))
	require.NoError(t, err)
	require.Equal(t, access.Refused, res.Outcome)
	require.Contains(t, res.Message, "another teamaccess organization")
	ta, _ = e.svc.Status(ctx, e.orgA.ID)
	require.Nil(t, ta.TenantID)
	tb, _ := e.svc.Status(ctx, e.orgB.ID)
	require.Equal(t, e.tenant, *tb.TenantID, "B keeps it")
}

func TestBadStatesChangeNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	q := e.consent(t, e.link(t, e.orgA), "accept", e.tenant)
	before, _ := e.svc.Status(ctx, e.orgA.ID)
	for name, mutate := range map[string]func(url.Values){
		"missing": func(v url.Values) { v.Del("state") },
		"unknown": func(v url.Values) { v.Set("state", "forged-state-value") },
	} {
		v := url.Values{}
		for k, vs := range q {
			v[k] = vs
		}
		mutate(v)
		_, err := e.svc.Callback(ctx, v)
		require.ErrorIs(t, err, access.ErrBadState, name)
	}
	e.clock = e.clock.Add(61 * time.Minute)
	_, err := e.svc.Callback(ctx, q)
	require.ErrorIs(t, err, access.ErrBadState)
	require.ErrorContains(t, err, "expired")
	after, _ := e.svc.Status(ctx, e.orgA.ID)
	require.Equal(t, before, after)

	_, err = e.svc.CreateConsentLink(ctx, auth.CommandLine(e.orgA.ID), "not a tenant!")
	require.ErrorIs(t, err, access.ErrInvalid)
}

func TestMissingAndExtraPermissions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	q := e.consent(t, e.link(t, e.orgA), "accept", e.tenant)
	require.NoError(t, e.sim.GrantConsent(e.tenant, appID, "User.Read.All", "Mail.ReadWrite", "Calendars.Read"))
	res, err := e.svc.Callback(ctx, q)
	require.NoError(t, err)
	ta := res.TeamAccess
	require.Equal(t, access.Degraded, ta.Status)
	require.Equal(t, []string{"Mail.Read", "Contacts.Read"}, ta.MissingPermissions)
	require.Equal(t, []string{"Mail.ReadWrite"}, ta.ExtraPermissions, "a write permission is a least-privilege warning")
	require.Contains(t, res.Message, "Mail.ReadWrite")
}

func TestRevokedLaterAndDisconnect(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	_, err := e.svc.Callback(ctx, e.consent(t, e.link(t, e.orgA), "accept", e.tenant))
	require.NoError(t, err)
	require.NoError(t, e.sim.RevokeConsent(e.tenant, appID))
	require.NoError(t, e.svc.ReverifyAll(ctx))
	ta, _ := e.svc.Status(ctx, e.orgA.ID)
	require.Equal(t, access.Revoked, ta.Status)
	require.Equal(t, e.tenant, *ta.TenantID, "nothing is forgotten")
	require.Contains(t, ta.LastError.Message, "AADSTS700016")

	require.NoError(t, e.sim.GrantConsent(e.tenant, appID))
	ta, err = e.svc.Reverify(ctx, e.orgA.ID)
	require.NoError(t, err)
	require.Equal(t, access.Active, ta.Status)
	require.Nil(t, ta.LastError)

	ta, err = e.svc.Disconnect(ctx, auth.CommandLine(e.orgA.ID), true)
	require.NoError(t, err)
	require.Equal(t, access.NotConfigured, ta.Status)
	require.Nil(t, ta.TenantID)
	require.Equal(t, []string{e.orgA.ID + "/" + e.tenant}, e.hooked)
	res, err := e.svc.Callback(ctx, e.consent(t, e.link(t, e.orgB), "accept", e.tenant))
	require.NoError(t, err)
	require.Equal(t, access.Connected, res.Outcome, "the tenant is free for another organization")
	page, _ := e.dir.AuditLog(ctx, e.orgA.ID, 10, "")
	require.Equal(t, "teamAccess.disconnect", page.Entries[0].Action)
	require.Contains(t, page.Entries[0].Summary, "purged")
}
