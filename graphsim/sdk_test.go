package graphsim_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	kiotaauth "github.com/microsoft/kiota-authentication-azure-go"
	khttp "github.com/microsoft/kiota-http-go"
	jsonserialization "github.com/microsoft/kiota-serialization-json-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
	"github.com/microsoftgraph/msgraph-sdk-go/users"
	"github.com/stretchr/testify/require"

	"github.com/teamaccess/teamaccess/graphsim"
)

const (
	appID  = "6135b4c8-8900-475f-84db-b8ee65fbb329"
	secret = "s3cret~value"
)

// sdkFixture drives the simulator with the real client stack: azidentity for app-only tokens
// and msgraph-sdk-go for Graph, configured as DEPENDENCIES.md describes (TLS authority, no
// instance discovery, the Graph host among the valid hosts, the base URL set on the adapter).
type sdkFixture struct {
	sim     *graphsim.Sim
	tenant  string
	alice   string
	users   *users.UsersRequestBuilder
	adapter *msgraphcore.GraphRequestAdapterBase
}

func newSDKFixture(t *testing.T) *sdkFixture {
	t.Helper()
	sim, err := graphsim.Start(graphsim.Options{Apps: []graphsim.App{{ID: appID, Secret: secret, Name: "teamaccess",
		Permissions: []string{"Calendars.Read", "User.Read.All", "Mail.Read", "Contacts.Read"}}}})
	require.NoError(t, err)
	t.Cleanup(sim.Close)
	f := &sdkFixture{sim: sim}
	f.tenant = sim.AddTenant(graphsim.TenantSpec{Name: "Contoso", Domain: "contoso.onmicrosoft.com"})
	f.alice, _ = sim.AddUser(f.tenant, graphsim.UserSpec{DisplayName: "Alice Adams", UPN: "alice@contoso.com"})
	for i := range 120 {
		_, err := sim.AddUser(f.tenant, graphsim.UserSpec{DisplayName: fmt.Sprintf("User %03d", i), UPN: fmt.Sprintf("u%03d@contoso.com", i)})
		require.NoError(t, err)
	}
	require.NoError(t, sim.GrantConsent(f.tenant, appID))

	simClient := sim.HTTPClient()
	cred, err := azidentity.NewClientSecretCredential(f.tenant, appID, secret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions: azcore.ClientOptions{
			Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: sim.AuthorityURL() + "/"},
			Transport: simClient,
		},
		DisableInstanceDiscovery: true,
	})
	require.NoError(t, err)
	auth, err := kiotaauth.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(cred,
		[]string{"https://graph.microsoft.com/.default"}, []string{"127.0.0.1"})
	require.NoError(t, err)
	opts := msgraphcore.GraphClientOptions{GraphServiceVersion: "v1.0", GraphServiceLibraryVersion: "1.89.0"}
	httpClient := &http.Client{
		Transport: khttp.NewCustomTransportWithParentTransport(simClient.Transport, msgraphcore.GetDefaultMiddlewaresWithOptions(&opts)...),
		Timeout:   30 * time.Second,
	}
	adapter, err := msgraphcore.NewGraphRequestAdapterBaseWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(
		auth, opts, jsonserialization.NewJsonParseNodeFactory(), jsonserialization.NewJsonSerializationWriterFactory(), httpClient)
	require.NoError(t, err)
	adapter.SetBaseUrl(sim.GraphURL())
	f.users = users.NewUsersRequestBuilderInternal(map[string]string{}, adapter)
	f.adapter = adapter
	return f
}

func TestSDKPagesThroughUsers(t *testing.T) {
	t.Parallel()
	f := newSDKFixture(t)
	ctx := t.Context()
	resp, err := f.users.Get(ctx, nil)
	require.NoError(t, err, "token acquisition and the first page")
	it, err := msgraphcore.NewPageIterator[models.Userable](resp, f.adapter, models.CreateUserCollectionResponseFromDiscriminatorValue)
	require.NoError(t, err)
	n := 0
	require.NoError(t, it.Iterate(ctx, func(u models.Userable) bool { n++; return true }))
	require.Equal(t, 121, n, "two pages of 100 and 21")
}

func TestSDKDeltaRoundTrip(t *testing.T) {
	t.Parallel()
	f := newSDKFixture(t)
	ctx := t.Context()
	var ids []string
	for i := range 15 {
		id, err := f.sim.AddMessage(f.tenant, f.alice, "inbox", graphsim.Message{Subject: fmt.Sprintf("m%d", i),
			From: &graphsim.Recipient{EmailAddress: graphsim.EmailAddress{Address: "carol@fabrikam.com"}}})
		require.NoError(t, err)
		ids = append(ids, id)
	}
	delta := f.users.ByUserId(f.alice).MailFolders().ByMailFolderId("inbox").Messages().Delta()
	round := func(b interface {
		GetAsDeltaGetResponse(context.Context, *users.ItemMailFoldersItemMessagesDeltaRequestBuilderGetRequestConfiguration) (users.ItemMailFoldersItemMessagesDeltaGetResponseable, error)
	}) ([]models.Messageable, string) {
		resp, err := b.GetAsDeltaGetResponse(ctx, nil)
		require.NoError(t, err)
		it, err := msgraphcore.NewPageIterator[models.Messageable](resp, f.adapter, users.CreateItemMailFoldersItemMessagesDeltaGetResponseFromDiscriminatorValue)
		require.NoError(t, err)
		var got []models.Messageable
		require.NoError(t, it.Iterate(ctx, func(m models.Messageable) bool { got = append(got, m); return true }))
		require.NotNil(t, it.GetOdataDeltaLink())
		return got, *it.GetOdataDeltaLink()
	}
	first, link := round(delta)
	require.Len(t, first, 15)
	require.Equal(t, "carol@fabrikam.com", *first[0].GetFrom().GetEmailAddress().GetAddress())

	require.NoError(t, f.sim.DeleteMessage(f.tenant, f.alice, ids[0]))
	require.NoError(t, f.sim.UpdateMessage(f.tenant, f.alice, ids[1], func(m *graphsim.Message) { m.Subject = "renamed" }))
	second, _ := round(delta.WithUrl(link))
	require.Len(t, second, 2)
	var removed, renamed bool
	for _, m := range second {
		if r, ok := m.GetAdditionalData()["@removed"]; ok {
			removed = *m.GetId() == ids[0]
			require.NotNil(t, r)
		} else {
			renamed = *m.GetSubject() == "renamed"
		}
	}
	require.True(t, removed, "@removed arrives in the additional data")
	require.True(t, renamed)
}

func TestSDKHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	f := newSDKFixture(t)
	f.sim.InjectFault(graphsim.Fault{Path: "/mailFolders/inbox", UserID: f.alice, Status: 429, RetryAfter: 1, Count: 1})
	start := time.Now()
	folder, err := f.users.ByUserId(f.alice).MailFolders().ByMailFolderId("inbox").Get(t.Context(), nil)
	require.NoError(t, err)
	require.Equal(t, "Inbox", *folder.GetDisplayName())
	require.GreaterOrEqual(t, time.Since(start), time.Second, "it waited as Retry-After said")
	var statuses []int
	for _, r := range f.sim.Requests() {
		if r.Path == "/v1.0/users/"+f.alice+"/mailFolders/inbox" {
			statuses = append(statuses, r.Status)
		}
	}
	require.Equal(t, []int{429, 200}, statuses)
}

func TestSDKSeesAccessPolicyAsODataError(t *testing.T) {
	t.Parallel()
	f := newSDKFixture(t)
	require.NoError(t, f.sim.SetAccessPolicy(f.tenant, appID, []string{}))
	f.sim.Advance(time.Hour)
	_, err := f.users.ByUserId(f.alice).MailFolders().ByMailFolderId("inbox").Get(t.Context(), nil)
	var oe *odataerrors.ODataError
	require.True(t, errors.As(err, &oe), "got %T %v", err, err)
	require.Equal(t, 403, oe.ResponseStatusCode)
	require.Equal(t, "ErrorAccessDenied", *oe.GetErrorEscaped().GetCode())
	require.Equal(t, "Access to OData is disabled.", *oe.GetErrorEscaped().GetMessage())
}

// A certificate credential: azidentity signs a client assertion, which the simulator verifies
// against the app's registered certificate.
func TestSDKCertificateCredential(t *testing.T) {
	t.Parallel()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "teamaccess"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, _ := x509.ParseCertificate(der)
	sim, err := graphsim.Start(graphsim.Options{Apps: []graphsim.App{{ID: appID, Name: "teamaccess",
		Permissions: []string{"User.Read.All"}, Certificates: []*x509.Certificate{cert}}}})
	require.NoError(t, err)
	defer sim.Close()
	tenant := sim.AddTenant(graphsim.TenantSpec{Name: "Contoso"})
	require.NoError(t, sim.GrantConsent(tenant, appID))
	opts := &azidentity.ClientCertificateCredentialOptions{ClientOptions: azcore.ClientOptions{
		Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: sim.AuthorityURL() + "/"}, Transport: sim.HTTPClient()},
		DisableInstanceDiscovery: true}
	cred, err := azidentity.NewClientCertificateCredential(tenant, appID, []*x509.Certificate{cert}, key, opts)
	require.NoError(t, err)
	tok, err := cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{"https://graph.microsoft.com/.default"}})
	require.NoError(t, err)
	require.NotEmpty(t, tok.Token)

	otherKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	otherDER, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &otherKey.PublicKey, otherKey)
	otherCert, _ := x509.ParseCertificate(otherDER)
	forged, err := azidentity.NewClientCertificateCredential(tenant, appID, []*x509.Certificate{otherCert}, otherKey, opts)
	require.NoError(t, err)
	_, err = forged.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{"https://graph.microsoft.com/.default"}})
	require.ErrorContains(t, err, "AADSTS700027", "an assertion signed with an unregistered certificate is refused")
}
