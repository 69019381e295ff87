package m365

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/teamaccess/teamaccess/graphdata"
)

// GraphScope asks for every application permission the tenant granted.
const GraphScope = "https://graph.microsoft.com/.default"

// Config is the app registration teamaccess signs in as, and where Microsoft is.
type Config struct {
	ClientID string
	// ClientSecret, or a certificate and its private key.
	ClientSecret string
	Certificates []*x509.Certificate
	PrivateKey   crypto.PrivateKey
	Cloud        Cloud
	// RedirectURI receives the admin-consent answer.
	RedirectURI string
	// RootCAs, if set, are the only roots trusted (a custom cloud such as graphsim).
	RootCAs *x509.CertPool
	// Timeout bounds each call to the identity platform; 30 s if zero.
	Timeout time.Duration
	// ConcurrencyScope is what Outlook's 4 concurrent requests are counted over:
	// ConcurrencyPerMailbox (if empty) or ConcurrencyPerTenant (budget.go).
	ConcurrencyScope string
	// Share, when set, is how many processes share the app's Graph budgets (the live
	// processes, partition.Table.Members): each keeps its part of a tenant's budgets (the
	// subscription service's, and the 4 requests at once when counted per tenant). A mailbox's
	// budget needs no sharing: one process at a time works a mailbox.
	Share func() int
	// Product is added to the User-Agent of every Graph request: "teamaccess/VERSION
	// (process ID)", so that the requests of each process can be told apart.
	Product string
}

// Client reaches the identity platform (and, with later releases, Graph) for any tenant.
type Client struct {
	cfg    Config
	http   *http.Client
	graphs graphs
	// noDeltaExpand: Graph answered a messages delta with $expand with a server error (as field
	// reports have it), so rounds start without it and messages' sensitivity is not known.
	noDeltaExpand atomic.Bool
}

// New checks the configuration and returns a client.
func New(cfg Config) (*Client, error) {
	if cfg.ClientID == "" {
		return nil, errors.New("m365: an application (client) id is required")
	}
	switch cfg.ConcurrencyScope {
	case "":
		cfg.ConcurrencyScope = ConcurrencyPerMailbox
	case ConcurrencyPerMailbox, ConcurrencyPerTenant:
	default:
		return nil, fmt.Errorf("m365: the concurrency scope is %q or %q, not %q", ConcurrencyPerMailbox, ConcurrencyPerTenant, cfg.ConcurrencyScope)
	}
	if cfg.ClientSecret == "" && (len(cfg.Certificates) == 0 || cfg.PrivateKey == nil) {
		return nil, errors.New("m365: a client secret or a certificate with its key is required")
	}
	if cfg.Cloud.AuthorityHost == "" {
		cfg.Cloud = Global
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	// Many mailboxes sync at once against one Graph host: keep their connections (the default
	// keeps 2 idle per host, and every other request would pay a new TLS handshake).
	t.MaxIdleConnsPerHost = 64
	if cfg.RootCAs != nil {
		t.TLSClientConfig = &tls.Config{RootCAs: cfg.RootCAs, MinVersion: tls.VersionTLS12}
	}
	return &Client{cfg: cfg, http: &http.Client{Transport: t, Timeout: cfg.Timeout}}, nil
}

// ClientID is the application (client) id.
func (c *Client) ClientID() string { return c.cfg.ClientID }

// ConsentURL is the admin-consent link for a tenant (an id or domain; "organizations" lets the
// admin's sign-in pick it), as docs/identity-platform/v2-admin-consent.md documents it.
func (c *Client) ConsentURL(tenantHint, state string) string {
	if tenantHint == "" {
		tenantHint = "organizations"
	}
	q := url.Values{"client_id": {c.cfg.ClientID}, "scope": {GraphScope}, "redirect_uri": {c.cfg.RedirectURI}, "state": {state}}
	return c.cfg.Cloud.AuthorityHost + url.PathEscape(tenantHint) + "/v2.0/adminconsent?" + q.Encode()
}

// VerifyTenant gets a new app-only token for the tenant, bypassing any cache, and reports what
// it grants. It checks that the token was issued for that tenant: the tenant a consent
// callback names is not to be trusted alone.
func (c *Client) VerifyTenant(ctx context.Context, tenantID string) (Grant, error) {
	cred, err := c.credential(tenantID)
	if err != nil {
		return Grant{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{GraphScope}})
	if err != nil {
		return Grant{}, classify(err)
	}
	claims, err := tokenClaims(tok.Token)
	if err != nil {
		return Grant{}, fmt.Errorf("%w: unreadable token: %v", ErrUnavailable, err)
	}
	if claims.TenantID != tenantID {
		return Grant{}, fmt.Errorf("%w: the token is for tenant %s, not %s", ErrNotConsented, claims.TenantID, tenantID)
	}
	if claims.AppID != "" && claims.AppID != c.cfg.ClientID {
		return Grant{}, fmt.Errorf("%w: the token is for application %s", ErrNotConsented, claims.AppID)
	}
	roles := slices.Clone(claims.Roles)
	slices.Sort(roles)
	return Grant{TenantID: claims.TenantID, Roles: roles, ExpiresOn: tok.ExpiresOn}, nil
}

// credential makes a credential for one tenant. Each call makes a new one, with its own empty
// token cache, so that verification always asks the identity platform.
func (c *Client) credential(tenantID string) (azcore.TokenCredential, error) {
	opts := azcore.ClientOptions{
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: c.cfg.Cloud.AuthorityHost},
		Transport: c.http,
		Retry:     policy.RetryOptions{MaxRetries: 2},
	}
	custom := c.cfg.Cloud.Name == "custom"
	if c.cfg.ClientSecret != "" {
		return azidentity.NewClientSecretCredential(tenantID, c.cfg.ClientID, c.cfg.ClientSecret,
			&azidentity.ClientSecretCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: custom})
	}
	return azidentity.NewClientCertificateCredential(tenantID, c.cfg.ClientID, c.cfg.Certificates, c.cfg.PrivateKey,
		&azidentity.ClientCertificateCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: custom})
}

var aadsts = regexp.MustCompile(`AADSTS(\d+)`)

// classify maps the identity platform's error codes (docs/identity-platform/reference-error-codes.md)
// onto this package's errors, keeping Microsoft's message.
func classify(err error) error {
	msg := err.Error()
	m := aadsts.FindStringSubmatch(msg)
	reason := firstLine(msg)
	if desc := errorDescription(msg); desc != "" {
		reason = desc
	}
	if m == nil {
		return fmt.Errorf("%w: %s", ErrUnavailable, reason)
	}
	code, _ := strconv.Atoi(m[1])
	switch code {
	case 700016, 65001, 7000112, 7000114, 500014, 50020, 53003:
		// app not found in the tenant, consent missing, app disabled, service principal
		// disabled, sign-in blocked by policy
		return fmt.Errorf("%w: %s", ErrNotConsented, reason)
	case 90002, 90072, 900023, 90019:
		return fmt.Errorf("%w: %s", ErrTenantNotFound, reason)
	case 7000215, 7000222, 700027, 700023, 7000218, 700024, // the secret or certificate
		70011, 1002012, 90014, 900144, 70003, 700054: // the request teamaccess makes: scope, endpoint, fields, grant
		return fmt.Errorf("%w: %s", ErrCredentials, reason)
	}
	return fmt.Errorf("%w: %s", ErrUnavailable, reason)
}

// errorDescription finds the error_description of a token endpoint answer quoted in err.
func errorDescription(msg string) string {
	i := strings.Index(msg, "{")
	j := strings.LastIndex(msg, "}")
	if i < 0 || j <= i {
		return ""
	}
	var body struct {
		Description string `json:"error_description"`
	}
	if json.Unmarshal([]byte(msg[i:j+1]), &body) != nil {
		return ""
	}
	return graphdata.IdentityReason(body.Description)
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// claims are the parts of an access token teamaccess reads.
type claims struct {
	TenantID string   `json:"tid"`
	AppID    string   `json:"appid"`
	Roles    []string `json:"roles"`
}

// tokenClaims reads an access token's payload. The token came straight from the identity
// platform over TLS, so its signature need not be checked here; its claims are only read.
func tokenClaims(token string) (claims, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return claims{}, errors.New("not a JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return claims{}, err
	}
	var c claims
	err = json.Unmarshal(payload, &c)
	return c, err
}
