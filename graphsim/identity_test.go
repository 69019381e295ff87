package graphsim

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"
)

func TestTokensCarryTheGrantedRoles(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	claims := jwt.MapClaims{}
	_, _, err := jwt.NewParser().ParseUnverified(f.token, claims)
	require.NoError(t, err)
	require.Equal(t, f.tenant, claims["tid"])
	require.Equal(t, testApp, claims["appid"])
	require.Equal(t, "https://graph.microsoft.com", claims["aud"])
	require.Equal(t, "https://sts.windows.net/"+f.tenant+"/", claims["iss"])
	require.ElementsMatch(t, requiredPermissions, claims["roles"])
	require.NotNil(t, claims["exp"])

	// By domain name too, as login.microsoftonline.com/contoso.onmicrosoft.com.
	require.NotEmpty(t, f.getToken(t, "contoso.onmicrosoft.com", testSecret))
}

// docs/identity-platform/v2-oauth2-client-creds-grant-flow.md, "Error response": error,
// error_description, error_codes, timestamp, trace_id, correlation_id.
func TestTokenErrorsAreMicrosofts(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	other := f.sim.AddTenant(TenantSpec{Name: "Fabrikam"})
	for _, tc := range []struct {
		name, tenant, secret string
		status               int
		errCode              string
		aadsts               float64
	}{
		{"unknown tenant", "nope.onmicrosoft.com", testSecret, 400, "invalid_request", 90002},
		{"wrong secret", f.tenant, "wrong", 401, "invalid_client", 7000215},
		{"not consented", other, testSecret, 400, "unauthorized_client", 700016},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := f.tokenResponse(t, tc.tenant, tc.secret)
			require.Equal(t, tc.status, code)
			require.Equal(t, tc.errCode, body["error"])
			require.Equal(t, []any{tc.aadsts}, body["error_codes"])
			require.True(t, strings.HasPrefix(body["error_description"].(string), "AADSTS"))
			for _, k := range []string{"timestamp", "trace_id", "correlation_id", "error_uri"} {
				require.Contains(t, body, k)
			}
		})
	}
	require.NoError(t, f.sim.RevokeConsent(f.tenant, testApp))
	code, body := f.tokenResponse(t, f.tenant, testSecret)
	require.Equal(t, 400, code)
	require.Equal(t, []any{float64(700016)}, body["error_codes"], "revoked consent fails as an unknown app does")
	resp, _ := f.do(t, http.MethodGet, "/users", nil)
	require.Equal(t, 200, resp.StatusCode, "a token issued before lives until it expires")

	require.NoError(t, f.sim.GrantConsent(f.tenant, testApp, "User.Read.All"))
	f.token = f.getToken(t, f.tenant, testSecret)
	resp, body = f.do(t, http.MethodGet, "/users/"+f.alice+"/mailFolders/inbox/messages/delta", nil)
	require.Equal(t, 403, resp.StatusCode)
	require.Equal(t, "ErrorAccessDenied", errorCode(body))
}

func TestAdminConsentPage(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	fresh := f.sim.AddTenant(TenantSpec{Name: "Northwind", Domain: "northwind.onmicrosoft.com"})
	noRedirect := f.sim.HTTPClient()
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	q := url.Values{"client_id": {testApp}, "scope": {"https://graph.microsoft.com/.default"},
		"redirect_uri": {"http://127.0.0.1:9/consent/callback"}, "state": {"xyz"}}
	page := f.sim.AuthorityURL() + "/organizations/v2.0/adminconsent?" + q.Encode()
	resp, err := noRedirect.Get(page)
	require.NoError(t, err)
	body := readAll(t, resp)
	require.Equal(t, 200, resp.StatusCode)
	for _, p := range requiredPermissions {
		require.Contains(t, body, p)
	}
	require.Contains(t, body, "Northwind")

	decide := func(decision, tenant string) *url.URL {
		form := url.Values{"decision": {decision}, "admin_tenant": {tenant}}
		for k, v := range q {
			form[k] = v
		}
		resp, err := noRedirect.PostForm(page, form)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusFound, resp.StatusCode)
		loc, err := url.Parse(resp.Header.Get("Location"))
		require.NoError(t, err)
		require.Equal(t, "/consent/callback", loc.Path)
		return loc
	}
	// docs/identity-platform/v2-admin-consent.md, "Error response", transcribed: admin_consent
	// True and the tenant beside error=consent_required, and the description's trace lines
	// separated by CR LF (%0d%0a in the example's URL).
	loc := decide("cancel", fresh)
	require.Equal(t, "consent_required", loc.Query().Get("error"))
	require.Equal(t, "True", loc.Query().Get("admin_consent"))
	require.Equal(t, fresh, loc.Query().Get("tenant"))
	desc := loc.Query().Get("error_description")
	require.True(t, strings.HasPrefix(desc, "AADSTS65004: The resource owner or authorization server denied the request.\r\nTrace ID: "), desc)
	require.Contains(t, desc, "\r\nCorrelation ID: ")
	require.Contains(t, desc, "\r\nTimestamp: ")
	require.Equal(t, "xyz", loc.Query().Get("state"))
	code, _ := f.tokenResponse(t, fresh, testSecret)
	require.Equal(t, 400, code, "cancel grants nothing")

	// "Successful response": admin_consent=True, tenant, scope, state.
	loc = decide("accept", fresh)
	require.Equal(t, "True", loc.Query().Get("admin_consent"))
	require.Equal(t, fresh, loc.Query().Get("tenant"))
	require.Equal(t, "https://graph.microsoft.com/.default", loc.Query().Get("scope"))
	require.Equal(t, "xyz", loc.Query().Get("state"))
	require.NotEmpty(t, f.getToken(t, fresh, testSecret))

	q.Set("redirect_uri", "https://evil.example/steal")
	resp, err = noRedirect.Get(f.sim.AuthorityURL() + "/organizations/v2.0/adminconsent?" + q.Encode())
	require.NoError(t, err)
	require.Equal(t, 400, resp.StatusCode)
	require.Contains(t, readAll(t, resp), "AADSTS50011")
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}
