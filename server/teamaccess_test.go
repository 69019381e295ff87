package server

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/stretchr/testify/require"
)

// browser is what a Microsoft 365 admin's browser does with the consent link in demo mode:
// open graphsim's consent page and press a button; it returns where Microsoft redirects to.
func browse(t testing.TB, link, decision string) *url.URL {
	t.Helper()
	client := &http.Client{
		// The in-process graphsim's CA is not exposed to the test; a browser would be shown it.
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Get(link)
	require.NoError(t, err)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode, string(page))
	require.Contains(t, string(page), "Mail.Read")
	u, _ := url.Parse(link)
	form := u.Query()
	form.Set("decision", decision)
	form.Set("admin_tenant", extractTenant(t, string(page)))
	resp, err = client.PostForm(link, form)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusFound, resp.StatusCode)
	loc, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	return loc
}

// extractTenant picks the first tenant offered on graphsim's consent page (the demo tenant).
func extractTenant(t testing.TB, page string) string {
	i := strings.Index(page, `<option value="`)
	require.GreaterOrEqual(t, i, 0, page)
	rest := page[i+len(`<option value="`):]
	return rest[:strings.Index(rest, `"`)]
}

func TestTeamAccessEndToEndInDemoMode(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	s := seed(t, dir)
	svc := startService(t, dir)
	require.NotNil(t, svc.logs.find("DEMO MODE: no Microsoft app is configured (--m365-client-id), so teamaccess talks to graphsim, a simulated Microsoft 365 tenant; nothing reaches Microsoft"))

	var ta struct {
		TeamAccess struct{ Status, ApplicationID string }
	}
	require.Empty(t, gql(t, svc.url, s.readerA, `{ teamAccess { status applicationId } }`, nil, &ta))
	require.Equal(t, "NOT_CONFIGURED", ta.TeamAccess.Status)
	require.Equal(t, []string{"FORBIDDEN"}, gql(t, svc.url, s.readerA, `mutation { createConsentLink(input: {}) { url } }`, nil, nil))
	require.Equal(t, []string{"BAD_USER_INPUT"}, gql(t, svc.url, s.adminA, `mutation { createConsentLink(input: {tenantHint: "<script>"}) { url } }`, nil, nil))

	// A reader follows the status live.
	ctx := wsContext(t)
	c := dialGraphQL(t, ctx, svc.url, "graphql-transport-ws", s.readerA)
	payload, _ := json.Marshal(map[string]string{"query": `subscription { teamAccessChanged { status tenantId } }`})
	require.NoError(t, wsjson.Write(ctx, c, wsMessage{ID: "s", Type: "subscribe", Payload: payload}))
	first := readWS(t, ctx, c)
	require.Equal(t, "next", first.Type)
	require.Contains(t, string(first.Payload), "NOT_CONFIGURED", "the current state comes first")

	var link struct {
		CreateConsentLink struct{ URL, ExpiresAt string }
	}
	require.Empty(t, gql(t, svc.url, s.adminA, `mutation { createConsentLink(input: {}) { url expiresAt } }`, nil, &link))
	require.Contains(t, link.CreateConsentLink.URL, "/organizations/v2.0/adminconsent?")
	require.Contains(t, link.CreateConsentLink.URL, "scope=https%3A%2F%2Fgraph.microsoft.com%2F.default")
	require.Contains(t, string(readWS(t, ctx, c).Payload), "PENDING_CONSENT")

	loc := browse(t, link.CreateConsentLink.URL, "accept")
	require.Equal(t, "/consent/callback", loc.Path)
	resp, page := get(t, svc.url+"/consent/callback?"+loc.RawQuery)
	require.Equal(t, 200, resp.StatusCode)
	require.Contains(t, string(page), "Authorization Successful")
	require.Contains(t, string(page), "Team access to Office 365 is active.")

	for {
		m := readWS(t, ctx, c)
		require.Equal(t, "next", m.Type)
		if strings.Contains(string(m.Payload), "ACTIVE") {
			break
		}
	}
	c.Close(websocket.StatusNormalClosure, "")
	var after struct {
		TeamAccess struct {
			Status             string
			TenantID           string
			GrantedPermissions []string
			MissingPermissions []string
		}
	}
	require.Empty(t, gql(t, svc.url, s.adminA, `{ teamAccess { status tenantId grantedPermissions missingPermissions } }`, nil, &after))
	require.Equal(t, "ACTIVE", after.TeamAccess.Status)
	require.NotEmpty(t, after.TeamAccess.TenantID)
	require.Len(t, after.TeamAccess.GrantedPermissions, 4)
	require.Empty(t, after.TeamAccess.MissingPermissions)

	var other struct{ TeamAccess struct{ Status string } }
	require.Empty(t, gql(t, svc.url, s.adminB, `{ teamAccess { status } }`, nil, &other))
	require.Equal(t, "NOT_CONFIGURED", other.TeamAccess.Status, "another organization sees none of it")

	resp, page = get(t, svc.url+"/consent/callback?"+loc.RawQuery)
	require.Equal(t, 400, resp.StatusCode, "a link works once")
	require.Contains(t, string(page), "used already")
	resp, _ = get(t, svc.url+"/consent/callback?state=nope&admin_consent=True&tenant="+after.TeamAccess.TenantID)
	require.Equal(t, 400, resp.StatusCode)

	var disc struct{ DisconnectTeamAccess struct{ Status string } }
	require.Empty(t, gql(t, svc.url, s.adminA, `mutation { disconnectTeamAccess(input: {purgeData: false}) { status } }`, nil, &disc))
	require.Equal(t, "NOT_CONFIGURED", disc.DisconnectTeamAccess.Status)
}

// An admin page's live subscriptions (teamAccessChanged, mailboxChanged) cost no goroutine
// while they wait: only each connection's reader runs, and a change still reaches them all.
func TestAdminSubscriptionsHoldNoGoroutineWhileIdle(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	s := seed(t, dir)
	svc := startService(t, dir, "--rate-burst", "200") // 3 operations per connection at once
	ctx := wsContext(t)
	const n = 20
	conns := make([]*websocket.Conn, n)
	for i := range conns {
		conns[i] = dialGraphQL(t, ctx, svc.url, "graphql-transport-ws", s.readerA)
		for id, q := range map[string]string{"ta": `subscription { teamAccessChanged { status } }`, "mb": `subscription { mailboxChanged { id } }`} {
			payload, _ := json.Marshal(map[string]string{"query": q})
			require.NoError(t, wsjson.Write(ctx, conns[i], wsMessage{ID: id, Type: "subscribe", Payload: payload}))
		}
		first := readWS(t, ctx, conns[i])
		require.Equal(t, "ta", first.ID, "the current state comes first")
		require.Contains(t, string(first.Payload), "NOT_CONFIGURED")
	}
	waiting := func() (readers, others int) {
		buf := make([]byte, 16<<20)
		buf = buf[:runtime.Stack(buf, true)]
		for _, g := range strings.Split(string(buf), "\n\n") {
			switch {
			case strings.Contains(g, "gqlws.(*conn).read"):
				readers++
			case strings.Contains(g, "teamaccess/resolvers.") || strings.Contains(g, "gqlws.(*operation)"):
				others++
			}
		}
		return readers, others
	}
	require.Eventually(t, func() bool { r, o := waiting(); return r == n && o == 0 }, 5*time.Second, 10*time.Millisecond,
		"one reader per connection and nothing else, got %v", fmt.Sprint(waiting()))
	require.Empty(t, gql(t, svc.url, s.adminA, `mutation { createConsentLink(input: {}) { url } }`, nil, nil))
	for _, c := range conns {
		m := readWS(t, ctx, c)
		require.Equal(t, "ta", m.ID)
		require.Contains(t, string(m.Payload), "PENDING_CONSENT")
	}
}
