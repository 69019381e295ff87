package m365

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	kiotaauth "github.com/microsoft/kiota-authentication-azure-go"
	khttp "github.com/microsoft/kiota-http-go"
	jsonserialization "github.com/microsoft/kiota-serialization-json-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
	"github.com/microsoftgraph/msgraph-sdk-go/users"
)

// tenantGraph is a tenant's Graph client: a credential whose tokens azidentity caches, and the
// request adapter (retries 429/503/504 honouring Retry-After, compression, paging).
type tenantGraph struct {
	cred    azcore.TokenCredential
	adapter *msgraphcore.GraphRequestAdapterBase
	users   *users.UsersRequestBuilder
}

// graphs caches a Graph client per tenant.
type graphs struct {
	mu sync.Mutex
	m  map[string]*tenantGraph
}

// graph returns the tenant's Graph client, making it on first use.
func (c *Client) graph(tenantID string) (*tenantGraph, error) {
	c.graphs.mu.Lock()
	defer c.graphs.mu.Unlock()
	if g, ok := c.graphs.m[tenantID]; ok {
		return g, nil
	}
	cred, err := c.credential(tenantID)
	if err != nil {
		return nil, err
	}
	g, err := c.newGraph(cred)
	if err != nil {
		return nil, err
	}
	if c.graphs.m == nil {
		c.graphs.m = map[string]*tenantGraph{}
	}
	c.graphs.m[tenantID] = g
	return g, nil
}

func (c *Client) newGraph(cred azcore.TokenCredential) (*tenantGraph, error) {
	host := strings.TrimPrefix(strings.TrimPrefix(c.cfg.Cloud.GraphURL, "https://"), "http://")
	host, _, _ = strings.Cut(host, "/")
	hostname := host
	if i := strings.LastIndex(host, ":"); i > 0 && !strings.HasSuffix(host, "]") {
		hostname = host[:i] // valid hosts are names without ports (DEPENDENCIES.md)
	}
	auth, err := kiotaauth.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(cred, []string{GraphScope}, []string{hostname})
	if err != nil {
		return nil, fmt.Errorf("m365: %w", err)
	}
	opts := msgraphcore.GraphClientOptions{GraphServiceVersion: "v1.0", GraphServiceLibraryVersion: "1.89.0"}
	httpClient := &http.Client{
		// Each attempt (the retry middleware sits above) waits for the tenant's budget.
		Transport: khttp.NewCustomTransportWithParentTransport(newBudget(decorated{c.http.Transport, c.cfg.Product}, c.cfg.ConcurrencyScope, c.cfg.Share),
			graphMiddlewares(msgraphcore.GetDefaultMiddlewaresWithOptions(&opts))...),
		Timeout: 2 * time.Minute,
	}
	adapter, err := msgraphcore.NewGraphRequestAdapterBaseWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(
		auth, opts, jsonserialization.NewJsonParseNodeFactory(), jsonserialization.NewJsonSerializationWriterFactory(), httpClient)
	if err != nil {
		return nil, fmt.Errorf("m365: %w", err)
	}
	adapter.SetBaseUrl(c.cfg.Cloud.GraphURL)
	return &tenantGraph{cred: cred, adapter: adapter, users: users.NewUsersRequestBuilderInternal(map[string]string{}, adapter)}, nil
}

// userFields are the user properties discovery reads.
var userFields = []string{"id", "displayName", "userPrincipalName", "mail", "jobTitle", "department", "userType", "accountEnabled", "assignedLicenses"}

// UsersDelta reads the tenant's users changed since deltaLink (all of them with an empty one),
// following every page, and returns them with the next delta link
// (api-reference/v1.0/api/user-delta.md).
func (c *Client) UsersDelta(ctx context.Context, tenantID, deltaLink string) ([]DirectoryUser, string, error) {
	g, err := c.graph(tenantID)
	if err != nil {
		return nil, "", err
	}
	b := g.users.Delta()
	var cfg *users.DeltaRequestBuilderGetRequestConfiguration
	if deltaLink != "" {
		u, err := c.rebase(deltaLink)
		if err != nil {
			return nil, "", fmt.Errorf("users/delta link: %w", err)
		}
		b = b.WithUrl(u.String())
	} else {
		cfg = &users.DeltaRequestBuilderGetRequestConfiguration{QueryParameters: &users.DeltaRequestBuilderGetQueryParameters{Select: userFields}}
	}
	resp, err := b.GetAsDeltaGetResponse(ctx, cfg)
	if err != nil {
		ge := newGraphError("users/delta", err)
		if deltaLink != "" && ge.Status == http.StatusBadRequest {
			// A stored link Graph refuses outright (another tenant's, or one it no longer
			// parses) can only be replaced by a full round.
			return nil, "", fmt.Errorf("%w (the stored link was refused): %w", ErrDeltaExpired, ge)
		}
		return nil, "", ge
	}
	it, err := msgraphcore.NewPageIterator[models.Userable](resp, g.adapter, users.CreateDeltaGetResponseFromDiscriminatorValue)
	if err != nil {
		return nil, "", fmt.Errorf("users/delta: %w", err)
	}
	var out []DirectoryUser
	err = it.Iterate(ctx, func(u models.Userable) bool {
		out = append(out, toDirectoryUser(u))
		return true
	})
	if err != nil {
		return nil, "", graphError("users/delta", err)
	}
	next := ""
	if l := it.GetOdataDeltaLink(); l != nil {
		next = *l
	}
	return out, next, nil
}

func toDirectoryUser(u models.Userable) DirectoryUser {
	s := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	d := DirectoryUser{ID: s(u.GetId()), DisplayName: s(u.GetDisplayName()), UserPrincipalName: s(u.GetUserPrincipalName()),
		Mail: s(u.GetMail()), JobTitle: s(u.GetJobTitle()), Department: s(u.GetDepartment()), UserType: s(u.GetUserType())}
	if e := u.GetAccountEnabled(); e != nil {
		d.AccountEnabled = *e
	}
	d.Licensed = len(u.GetAssignedLicenses()) > 0
	if _, removed := u.GetAdditionalData()["@removed"]; removed {
		d.Removed = true
	}
	return d
}

// ProbeMailbox reads the mailbox's Inbox id, the cheapest read of a mailbox, and classifies
// the answer. A mailbox the tenant's scoping of the app leaves out (an application access policy
// or RBAC for Applications) answers 403 ErrorAccessDenied, documented as "Access to OData is
// disabled." (concepts/auth-limit-mailbox-access.md), sometimes with a longer [RAOP] text, and
// under RBAC for Applications with the generic "Access is denied" that a missing permission gets
// too. So the answer is told by what is known: when the app's token holds a role that reads mail,
// a 403 on one mailbox is its scoping, never a missing permission. 404 MailboxNotEnabledForRESTAPI
// (or an unknown user) has no Exchange Online mailbox.
func (c *Client) ProbeMailbox(ctx context.Context, tenantID, userID string) (Probe, error) {
	g, err := c.graph(tenantID)
	if err != nil {
		return Probe{}, err
	}
	_, err = g.users.ByUserId(userID).MailFolders().ByMailFolderId("inbox").Get(ctx,
		&users.ItemMailFoldersMailFolderItemRequestBuilderGetRequestConfiguration{
			QueryParameters: &users.ItemMailFoldersMailFolderItemRequestBuilderGetQueryParameters{Select: []string{"id"}},
		})
	if err == nil {
		return Probe{Access: AccessAccessible}, nil
	}
	var oe *odataerrors.ODataError
	if !errors.As(err, &oe) {
		return Probe{}, newGraphError("probe", err)
	}
	code, msg := odataDetail(oe)
	p := Probe{Code: code, Message: msg}
	switch status := oe.ResponseStatusCode; {
	case status == http.StatusForbidden && PolicyDenial(msg):
		p.Access = AccessBlockedByPolicy
	case status == http.StatusForbidden && strings.EqualFold(code, "ErrorAccessDenied") && g.holdsRole(ctx, mailReadRoles):
		p.Access = AccessBlockedByPolicy
	case status == http.StatusForbidden:
		p.Access = AccessMissingPermission
	case status == http.StatusNotFound:
		p.Access = AccessNoMailbox
	case status == http.StatusTooManyRequests || status >= 500:
		return Probe{}, &GraphError{Op: "probe", Status: status, Code: code, Message: oneLine(msg)}
	default:
		p.Access = AccessError
	}
	return p, nil
}

// PolicyDenial reports whether a Graph error message is one of the texts Exchange sends only for
// a mailbox outside an application access policy: the documented "Access to OData is disabled."
// and the longer "[RAOP] … AppOnly AccessPolicy" form.
func PolicyDenial(msg string) bool {
	return strings.Contains(msg, "Access to OData is disabled") || strings.Contains(msg, "RAOP") || strings.Contains(msg, "AccessPolicy")
}

// mailReadRoles are the application permissions that let the probe read a mailbox's folders
// (api-reference/v1.0/api/mailfolder-get.md, "Permissions").
var mailReadRoles = []string{"Mail.Read", "Mail.ReadWrite", "Mail.ReadBasic.All", "Mail.ReadBasic"}

// holdsRole reports whether the tenant's current app-only token carries one of the roles. The
// token comes from the credential's cache; a token that cannot be had counts as not holding it.
func (g *tenantGraph) holdsRole(ctx context.Context, roles []string) bool {
	tok, err := g.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{GraphScope}})
	if err != nil {
		return false
	}
	cl, err := tokenClaims(tok.Token)
	if err != nil {
		return false
	}
	for _, r := range cl.Roles {
		if slices.Contains(roles, r) {
			return true
		}
	}
	return false
}

// graphError classifies a failed Graph call (see GraphError.Is).
func graphError(what string, err error) error { return newGraphError(what, err) }
