package graphsim

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const (
	testApp    = "6135b4c8-8900-475f-84db-b8ee65fbb329"
	testSecret = "s3cret~value"
)

var requiredPermissions = []string{"Calendars.Read", "User.Read.All", "Mail.Read", "Contacts.Read"}

// fixture is a simulator with one consented tenant and two users with mailboxes and one
// without.
type fixture struct {
	sim             *Sim
	tenant          string
	alice, bob, joe string // joe has no mailbox
	http            *http.Client
	token           string
}

func newFixture(t *testing.T, opts ...func(*Options)) *fixture {
	t.Helper()
	o := Options{Apps: []App{{ID: testApp, Secret: testSecret, Name: "teamaccess test",
		RedirectURIs: []string{"http://127.0.0.1:9/consent/callback"}, Permissions: requiredPermissions}}}
	for _, f := range opts {
		f(&o)
	}
	sim, err := Start(o)
	require.NoError(t, err)
	t.Cleanup(sim.Close)
	f := &fixture{sim: sim, http: sim.HTTPClient()}
	f.tenant = sim.AddTenant(TenantSpec{Name: "Contoso", Domain: "contoso.onmicrosoft.com"})
	f.alice, _ = sim.AddUser(f.tenant, UserSpec{DisplayName: "Alice Adams", UPN: "alice@contoso.com", JobTitle: "Account Executive"})
	f.bob, _ = sim.AddUser(f.tenant, UserSpec{DisplayName: "Bob Brown", UPN: "bob@contoso.com"})
	f.joe, _ = sim.AddUser(f.tenant, UserSpec{DisplayName: "Joe Noinbox", UPN: "joe@contoso.com", NoMailbox: true})
	require.NoError(t, sim.GrantConsent(f.tenant, testApp))
	f.token = f.getToken(t, f.tenant, testSecret)
	return f
}

// tokenResponse posts a client credentials request.
func (f *fixture) tokenResponse(t *testing.T, tenant, secret string) (int, map[string]any) {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {testApp}, "client_secret": {secret},
		"scope": {"https://graph.microsoft.com/.default"}}
	resp, err := f.http.PostForm(f.sim.AuthorityURL()+"/"+tenant+"/oauth2/v2.0/token", form)
	require.NoError(t, err)
	defer resp.Body.Close()
	var body map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	return resp.StatusCode, body
}

func (f *fixture) getToken(t *testing.T, tenant, secret string) string {
	t.Helper()
	code, body := f.tokenResponse(t, tenant, secret)
	require.Equal(t, 200, code, body)
	return body["access_token"].(string)
}

// do sends a Graph request with the fixture's token and decodes a JSON answer.
func (f *fixture) do(t *testing.T, method, pathOrURL string, body any, header ...string) (*http.Response, map[string]any) {
	t.Helper()
	u := pathOrURL
	if !strings.HasPrefix(u, "http") {
		u = f.sim.GraphURL() + pathOrURL
	}
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, u, rd)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+f.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := f.http.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(raw) > 0 {
		require.NoError(t, json.Unmarshal(raw, &out), string(raw))
	}
	return resp, out
}

// errorCode is the code of a Graph error envelope.
func errorCode(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

// drain follows a delta round to its deltaLink and returns the items and the deltaLink.
func (f *fixture) drain(t *testing.T, first string, header ...string) ([]map[string]any, string, int) {
	t.Helper()
	var items []map[string]any
	next, pages := first, 0
	for {
		resp, body := f.do(t, http.MethodGet, next, nil, header...)
		require.Equal(t, 200, resp.StatusCode, body)
		pages++
		for _, v := range body["value"].([]any) {
			items = append(items, v.(map[string]any))
		}
		if nl, ok := body["@odata.nextLink"].(string); ok {
			require.NotContains(t, body, "@odata.deltaLink", "a page has one or the other")
			next = nl
			continue
		}
		return items, body["@odata.deltaLink"].(string), pages
	}
}

func msg(subject string) Message {
	return Message{Subject: subject, From: &Recipient{EmailAddress: EmailAddress{Name: "Carol Customer", Address: "carol@fabrikam.com"}},
		ToRecipients: []Recipient{{EmailAddress: EmailAddress{Name: "Alice Adams", Address: "alice@contoso.com"}}},
		Body:         ItemBody{ContentType: "text", Content: "Hello about " + subject}}
}

func eventAt(subject string, start time.Time) Event {
	return Event{Subject: subject, Start: LocalTime(start), End: LocalTime(start.Add(time.Hour)),
		Organizer: Recipient{EmailAddress: EmailAddress{Name: "Alice Adams", Address: "alice@contoso.com"}},
		Attendees: []Attendee{{Type: "required", EmailAddress: EmailAddress{Name: "Carol Customer", Address: "carol@fabrikam.com"},
			Status: ResponseStatus{Response: "accepted"}}}}
}
