package graphsim

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// graphResource is the resource (audience) of Microsoft Graph tokens.
const graphResource = "https://graph.microsoft.com"

// identityHandler serves the Microsoft identity platform endpoints.
func (s *Sim) identityHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", s.handleOpenIDConfig)
	mux.HandleFunc("GET /{tenant}/discovery/v2.0/keys", s.handleJWKS)
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", s.handleToken)
	mux.HandleFunc("GET /{tenant}/v2.0/adminconsent", s.handleConsentPage)
	mux.HandleFunc("POST /{tenant}/v2.0/adminconsent", s.handleConsentDecision)
	return mux
}

// handleOpenIDConfig is the OpenID Connect discovery document
// (docs/identity-platform/v2-protocols-oidc.md, "Find your app's OpenID configuration
// document URI"); MSAL reads its authorization and token endpoints.
func (s *Sim) handleOpenIDConfig(w http.ResponseWriter, r *http.Request) {
	tn := r.PathValue("tenant")
	base := s.identity.url + "/" + tn
	tid := tn
	if t := s.lookupTenant(tn); t != nil {
		tid = t.id
	}
	writeJSONBody(w, http.StatusOK, map[string]any{
		"token_endpoint":                        base + "/oauth2/v2.0/token",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"jwks_uri":                              base + "/discovery/v2.0/keys",
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"issuer":                                s.identity.url + "/" + tid + "/v2.0",
		"request_uri_parameter_supported":       false,
		"authorization_endpoint":                base + "/oauth2/v2.0/authorize",
		"device_authorization_endpoint":         base + "/oauth2/v2.0/devicecode",
		"end_session_endpoint":                  base + "/oauth2/v2.0/logout",
		"tenant_region_scope":                   "WW",
		"cloud_instance_name":                   "microsoftonline.com",
	})
}

// handleJWKS publishes the token-signing key (docs/identity-platform/access-tokens.md,
// "Validate the signature").
func (s *Sim) handleJWKS(w http.ResponseWriter, _ *http.Request) {
	pub := s.key.PublicKey
	writeJSONBody(w, http.StatusOK, map[string]any{"keys": []map[string]any{{
		"kty": "RSA", "use": "sig", "kid": s.kid, "x5t": s.kid,
		"n": base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
	}}})
}

// lookupTenant finds a tenant by id or domain name.
func (s *Sim) lookupTenant(idOrDomain string) *tenant {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.tenants[idOrDomain]; ok {
		return t
	}
	return s.domains[strings.ToLower(idOrDomain)]
}

// tokenError answers as the token endpoint does
// (docs/identity-platform/v2-oauth2-client-creds-grant-flow.md, "Error response"; the codes
// are in docs/identity-platform/reference-error-codes.md).
func (s *Sim) tokenError(w http.ResponseWriter, status int, errCode string, aadsts int, desc string) {
	trace, corr := newGUID(), newGUID()
	now := s.now()
	writeJSONBody(w, status, map[string]any{
		"error":             errCode,
		"error_description": aadstsDescription(aadsts, desc, trace, corr, now),
		"error_codes":       []int{aadsts},
		"timestamp":         now.Format("2006-01-02 15:04:05Z"),
		"trace_id":          trace,
		"correlation_id":    corr,
		"error_uri":         s.identity.url + "/error?code=" + fmt.Sprint(aadsts),
	})
}

// aadstsDescription is an error_description as the identity platform writes it: the AADSTS
// code and message, then the trace lines, separated by CR LF, as in Microsoft's examples
// (v2-oauth2-client-creds-grant-flow.md, "Error response example"; v2-admin-consent.md, "Error
// response", where the redirect carries them as %0d%0a).
func aadstsDescription(aadsts int, desc, trace, corr string, now time.Time) string {
	return fmt.Sprintf("AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s", aadsts, desc, trace, corr, now.Format("2006-01-02 15:04:05Z"))
}

// handleToken implements the client credentials grant
// (docs/identity-platform/v2-oauth2-client-creds-grant-flow.md) with a client secret or a
// certificate's client assertion.
func (s *Sim) handleToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		s.tokenError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
		return
	}
	tn := r.PathValue("tenant")
	if r.PostForm.Get("grant_type") != "client_credentials" {
		s.tokenError(w, http.StatusBadRequest, "unsupported_grant_type", 70003, "The app requested an unsupported grant type '"+r.PostForm.Get("grant_type")+"'.")
		return
	}
	clientID := r.PostForm.Get("client_id")
	scope := r.PostForm.Get("scope")
	if tn == "common" || tn == "organizations" || tn == "consumers" {
		s.tokenError(w, http.StatusBadRequest, "invalid_request", 1002012, "Use a tenant-specific endpoint or configure the application to be multi-tenant.")
		return
	}
	t := s.lookupTenant(tn)
	if t == nil {
		s.tokenError(w, http.StatusBadRequest, "invalid_request", 90002, "Tenant '"+tn+"' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.")
		return
	}
	s.mu.Lock()
	app, known := s.apps[clientID]
	granted, consented := t.consents[clientID]
	s.mu.Unlock()
	if !known || !consented {
		s.tokenError(w, http.StatusBadRequest, "unauthorized_client", 700016, fmt.Sprintf(
			"Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.", clientID, t.name))
		return
	}
	if !s.clientAuthenticated(r, app, tn) {
		if r.PostForm.Has("client_assertion") {
			s.tokenError(w, http.StatusUnauthorized, "invalid_client", 700027, "The certificate with identifier used to sign the client assertion is not registered on application, or the assertion is invalid. [Reason - The key was not found., Thumbprint of key used by client: see the assertion header.]")
			return
		}
		s.tokenError(w, http.StatusUnauthorized, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '"+clientID+"'.")
		return
	}
	if !graphDefaultScope(scope) {
		// Microsoft's own example of a client-credentials error
		// (v2-oauth2-client-creds-grant-flow.md, "Error response example").
		s.tokenError(w, http.StatusBadRequest, "invalid_scope", 70011, "The provided value for the input parameter 'scope' isn't valid. The scope "+scope+" isn't valid.")
		return
	}
	now := s.now()
	claims := jwt.MapClaims{
		"aud": graphResource, "iss": "https://sts.windows.net/" + t.id + "/", "iat": now.Unix(), "nbf": now.Unix(),
		"exp": now.Add(s.opts.TokenLifetime).Unix(), "tid": t.id, "appid": clientID, "app_displayname": app.Name,
		"oid": servicePrincipalID(t.id, clientID), "sub": servicePrincipalID(t.id, clientID), "idtyp": "app",
		"ver": "1.0", "appidacr": "1",
	}
	if len(granted.roles) > 0 {
		claims["roles"] = granted.roles // only present when roles were granted (access-tokens.md, "roles")
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = s.kid
	signed, err := tok.SignedString(s.key)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	exp := int(s.opts.TokenLifetime.Seconds())
	writeJSONBody(w, http.StatusOK, map[string]any{
		"token_type": "Bearer", "expires_in": exp, "ext_expires_in": exp, "access_token": signed,
	})
}

// graphDefaultScope reports whether a client-credentials scope asks for Microsoft Graph's
// /.default. MSAL adds the OpenID scopes (openid, profile, offline_access) to every request;
// the token endpoint ignores them for this grant.
func graphDefaultScope(scope string) bool {
	found := false
	for _, s := range strings.Fields(scope) {
		switch s {
		case "openid", "profile", "offline_access":
		case graphResource + "/.default", "00000003-0000-0000-c000-000000000000/.default":
			found = true
		default:
			return false
		}
	}
	return found
}

// clientAuthenticated checks a client secret (client_secret_post or client_secret_basic) or a
// client assertion (docs/identity-platform/certificate-credentials.md): a JWT signed with the
// private key of one of the app's certificates, named by its x5t (SHA-1) or x5t#S256 header,
// with iss and sub the app id, aud the token endpoint, and an exp in the future.
func (s *Sim) clientAuthenticated(r *http.Request, app App, tn string) bool {
	if secret := r.PostForm.Get("client_secret"); secret != "" {
		return app.Secret != "" && secret == app.Secret
	}
	if id, secret, ok := r.BasicAuth(); ok {
		return id == app.ID && app.Secret != "" && secret == app.Secret
	}
	if r.PostForm.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
		return false
	}
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(r.PostForm.Get("client_assertion"), claims, func(tok *jwt.Token) (any, error) {
		for _, cert := range app.Certificates {
			sha1sum, sha256sum := sha1.Sum(cert.Raw), sha256.Sum256(cert.Raw)
			if thumbprintMatches(tok.Header["x5t"], sha1sum[:]) || thumbprintMatches(tok.Header["x5t#S256"], sha256sum[:]) {
				return cert.PublicKey, nil
			}
		}
		return nil, fmt.Errorf("no registered certificate matches the assertion")
	}, jwt.WithValidMethods([]string{"RS256", "PS256"}), jwt.WithTimeFunc(s.now), jwt.WithExpirationRequired(),
		jwt.WithAudience(s.identity.url+"/"+tn+"/oauth2/v2.0/token"), jwt.WithIssuer(app.ID), jwt.WithSubject(app.ID))
	return err == nil
}

// thumbprintMatches compares a JWT thumbprint header with a certificate hash. RFC 7515 says
// base64url; MSAL sends standard base64, which Microsoft accepts too.
func thumbprintMatches(header any, sum []byte) bool {
	h, ok := header.(string)
	return ok && (h == base64.RawURLEncoding.EncodeToString(sum) || h == base64.StdEncoding.EncodeToString(sum))
}

// servicePrincipalID is the app's stable object id in a tenant.
func servicePrincipalID(tenantID, appID string) string {
	h := sha256.Sum256([]byte(tenantID + "/" + appID))
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// verifyToken checks a bearer token issued by this simulator for Microsoft Graph and returns
// its claims.
func (s *Sim) verifyToken(raw string) (jwt.MapClaims, error) {
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(raw, claims, func(*jwt.Token) (any, error) { return &s.key.PublicKey, nil },
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithAudience(graphResource),
		jwt.WithTimeFunc(s.now), jwt.WithExpirationRequired())
	return claims, err
}

// consentParams are the query parameters of the admin consent endpoint
// (docs/identity-platform/v2-admin-consent.md, "Request the permissions from a directory admin").
type consentParams struct {
	tenant, clientID, scope, redirectURI, state string
}

func (s *Sim) readConsent(r *http.Request) (consentParams, App, string) {
	q := r.URL.Query()
	if r.Method == http.MethodPost {
		q = r.PostForm
	}
	p := consentParams{tenant: r.PathValue("tenant"), clientID: q.Get("client_id"), scope: q.Get("scope"),
		redirectURI: q.Get("redirect_uri"), state: q.Get("state")}
	s.mu.Lock()
	app, ok := s.apps[p.clientID]
	s.mu.Unlock()
	switch {
	case !ok:
		return p, app, fmt.Sprintf("AADSTS700016: Application with identifier '%s' was not found in the directory.", p.clientID)
	case p.redirectURI == "" || (len(app.RedirectURIs) > 0 && !slices.Contains(app.RedirectURIs, p.redirectURI)):
		return p, app, fmt.Sprintf("AADSTS50011: The redirect URI '%s' specified in the request does not match the redirect URIs configured for the application '%s'.", p.redirectURI, app.ID)
	case p.scope == "":
		return p, app, "AADSTS900144: The request body must contain the following parameter: 'scope'."
	}
	return p, app, ""
}

// handleConsentPage shows the admin what the app asks for, with Accept and Cancel. Microsoft's
// page also signs the admin in; here the admin picks which tenant they administer when the
// link names "organizations".
func (s *Sim) handleConsentPage(w http.ResponseWriter, r *http.Request) {
	p, app, problem := s.readConsent(r)
	if problem != "" {
		writeHTML(w, http.StatusBadRequest, "Sign in to your account", "<p>"+html.EscapeString(problem)+"</p>")
		return
	}
	var perms strings.Builder
	for _, perm := range app.Permissions {
		fmt.Fprintf(&perms, "<li><b>%s</b> (Microsoft Graph, application permission)</li>", html.EscapeString(perm))
	}
	var tenants strings.Builder
	if t := s.lookupTenant(p.tenant); t != nil {
		fmt.Fprintf(&tenants, `<input type="hidden" name="admin_tenant" value="%s"><p>Organization: %s</p>`, html.EscapeString(t.id), html.EscapeString(t.name))
	} else {
		tenants.WriteString(`<p><label>Sign in as the administrator of <select name="admin_tenant" id="admin_tenant">`)
		s.mu.Lock()
		for _, t := range s.tenants {
			fmt.Fprintf(&tenants, `<option value="%s">%s (%s)</option>`, html.EscapeString(t.id), html.EscapeString(t.name), html.EscapeString(t.domains[0]))
		}
		s.mu.Unlock()
		tenants.WriteString(`</select></label></p>`)
	}
	hidden := func(k, v string) string {
		return fmt.Sprintf(`<input type="hidden" name="%s" value="%s">`, k, html.EscapeString(v))
	}
	body := fmt.Sprintf(`<h1>Permissions requested</h1>
<p><b>%s</b> (%s) is asking for the following permissions for your whole organization:</p>
<ul>%s</ul>
<form method="post">%s%s%s%s%s
<p>If you accept, this app will get access to the specified resources for all users in your organization. No one else will be prompted to review these permissions.</p>
<button type="submit" name="decision" value="accept" id="accept">Accept</button>
<button type="submit" name="decision" value="cancel" id="cancel">Cancel</button>
</form>`, html.EscapeString(app.Name), html.EscapeString(app.ID), perms.String(), tenants.String(),
		hidden("client_id", p.clientID), hidden("scope", p.scope), hidden("redirect_uri", p.redirectURI), hidden("state", p.state))
	writeHTML(w, http.StatusOK, "Permissions requested", body)
}

// handleConsentDecision records the admin's answer and redirects to the app's redirect URI
// with the documented parameters (docs/identity-platform/v2-admin-consent.md, "Successful
// response" and "Error response").
func (s *Sim) handleConsentDecision(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	p, app, problem := s.readConsent(r)
	if problem != "" {
		writeHTML(w, http.StatusBadRequest, "Sign in to your account", "<p>"+html.EscapeString(problem)+"</p>")
		return
	}
	target, err := url.Parse(p.redirectURI)
	if err != nil {
		http.Error(w, "bad redirect_uri", http.StatusBadRequest)
		return
	}
	q := target.Query()
	if r.PostForm.Get("decision") != "accept" {
		// Microsoft's example of the error response (v2-admin-consent.md, "Error response"):
		// admin_consent=True and the tenant beside the error, the description with its trace
		// lines. ConsentErrorWithoutState plays redirects that come back without the state.
		q.Set("admin_consent", "True")
		if tid := r.PostForm.Get("admin_tenant"); tid != "" {
			q.Set("tenant", tid)
		}
		q.Set("error", "consent_required")
		q.Set("error_description", aadstsDescription(65004, "The resource owner or authorization server denied the request.", newGUID(), newGUID(), s.now()))
		if !s.opts.ConsentErrorWithoutState {
			q.Set("state", p.state)
		}
	} else {
		tid := r.PostForm.Get("admin_tenant")
		if err := s.GrantConsent(tid, app.ID); err != nil {
			writeHTML(w, http.StatusBadRequest, "Sign in to your account", "<p>Unknown organization.</p>")
			return
		}
		q.Set("admin_consent", "True")
		q.Set("tenant", tid)
		q.Set("scope", p.scope)
		q.Set("state", p.state)
	}
	target.RawQuery = q.Encode()
	http.Redirect(w, r, target.String(), http.StatusFound)
}

func writeHTML(w http.ResponseWriter, status int, title, body string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>%s</title>
<style>body{font-family:Segoe UI,system-ui,sans-serif;max-width:36em;margin:3em auto;color:#1b1b1b}
button{padding:.5em 2em;margin-right:1em}</style></head><body>
<p style="color:#666">Microsoft (simulated by teamaccess graphsim)</p>%s</body></html>`, html.EscapeString(title), body)
}

func writeJSONBody(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
