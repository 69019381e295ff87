package server

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/teamaccess/teamaccess/graphsim"
	"github.com/teamaccess/teamaccess/subscriptions"
	"github.com/teamaccess/teamaccess/testenv"
)

const hookApp = "6b5c4d3e-2f1a-4b0c-9d8e-7f6a5b4c3d2e"

// hookEnv is a graphsim of the test's own and the flags that point teamaccess at it as a
// custom cloud, on a port chosen beforehand (the consent redirect URI is registered with it).
type hookEnv struct {
	sim    *graphsim.Sim
	tenant string
	users  []string
	dir    string
	port   int
	seeded seeded
}

func freePort(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func newHookEnv(t testing.TB, users int, opts graphsim.Options) *hookEnv {
	t.Helper()
	e := &hookEnv{dir: filepath.Join(t.TempDir(), "data"), port: freePort(t)}
	opts.Apps = []graphsim.App{{ID: hookApp, Secret: "s", Name: "teamaccess",
		RedirectURIs: []string{fmt.Sprintf("http://127.0.0.1:%d/consent/callback", e.port)},
		Permissions:  []string{"Calendars.Read", "User.Read.All", "Mail.Read", "Contacts.Read"}}}
	sim := testenv.Sim(t, opts)
	e.sim = sim
	e.tenant = sim.AddTenant(graphsim.TenantSpec{Name: "Contoso", Domain: "contoso.com"})
	for i := range users {
		id, err := sim.AddUser(e.tenant, graphsim.UserSpec{DisplayName: fmt.Sprintf("Seller %02d", i), UPN: fmt.Sprintf("seller%02d@contoso.com", i)})
		require.NoError(t, err)
		e.users = append(e.users, id)
	}
	e.seeded = seed(t, e.dir)
	require.NoError(t, os.WriteFile(filepath.Join(e.dir, "graphsim-ca.pem"), sim.CACertPEM(), 0o600))
	return e
}

// args are the serve flags for this environment.
func (e *hookEnv) args(extra ...string) []string {
	return append([]string{"--listen", fmt.Sprintf("127.0.0.1:%d", e.port),
		"--m365-client-id", hookApp, "--m365-client-secret", "s", "--m365-cloud", "custom",
		"--m365-authority-url", e.sim.AuthorityURL(), "--m365-graph-url", e.sim.GraphURL(),
		"--m365-ca-file", filepath.Join(e.dir, "graphsim-ca.pem"),
		// Only notifications bring changes in quickly: the scheduled sync waits an hour.
		"--sync-interval", "1h"}, extra...)
}

// connect walks the consent flow and waits until every mailbox has its subscriptions.
func (e *hookEnv) connect(t testing.TB, base string) {
	t.Helper()
	var link struct{ CreateConsentLink struct{ URL string } }
	require.Empty(t, gql(t, base, e.seeded.adminA, `mutation { createConsentLink(input: {}) { url } }`, nil, &link))
	loc := browse(t, link.CreateConsentLink.URL, "accept")
	resp, page := get(t, base+"/consent/callback?"+loc.RawQuery)
	require.Equal(t, 200, resp.StatusCode, string(page))
	e.waitSubscriptions(t, 4*len(e.users))
}

func (e *hookEnv) waitSubscriptions(t testing.TB, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return len(e.sim.Subscriptions()) == n }, 60*time.Second, 50*time.Millisecond,
		"want %d subscriptions", n)
}

func (e *hookEnv) mail(t testing.TB, user, subject string) string {
	id, err := e.sim.AddMessage(e.tenant, user, "inbox", graphsim.Message{Subject: subject, ReceivedDateTime: e.sim.Now(),
		From:         &graphsim.Recipient{EmailAddress: customer},
		ToRecipients: []graphsim.Recipient{{EmailAddress: graphsim.EmailAddress{Address: "seller00@contoso.com"}}}})
	require.NoError(t, err)
	return id
}

func TestNewMessageReachesAGraphQLSubscriberThroughChangeNotifications(t *testing.T) {
	t.Parallel()
	e := newHookEnv(t, 2, graphsim.Options{})
	svc := startService(t, e.dir, e.args()...)
	e.connect(t, svc.url)
	for _, s := range e.sim.Subscriptions() {
		require.Equal(t, fmt.Sprintf("http://127.0.0.1:%d%s", e.port, subscriptions.NotificationPath), s.NotificationURL)
		require.NotNil(t, s.LifecycleNotificationURL)
		require.Equal(t, "created,updated,deleted", s.ChangeType)
		require.Greater(t, time.Until(s.ExpirationDateTime), 6*24*time.Hour, "the longest lifetime Outlook allows")
	}
	var ta struct {
		TeamAccess struct {
			ChangeNotifications struct {
				Mode                     string
				Active, Failing, Pending int
			}
		}
	}
	require.Eventually(t, func() bool {
		require.Empty(t, gql(t, svc.url, e.seeded.readerA, `{ teamAccess { changeNotifications { mode active failing pending } } }`, nil, &ta))
		return ta.TeamAccess.ChangeNotifications.Active == 8
	}, 10*time.Second, 20*time.Millisecond)
	require.Equal(t, "WEBHOOKS", ta.TeamAccess.ChangeNotifications.Mode)
	require.Zero(t, ta.TeamAccess.ChangeNotifications.Failing)

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	c := subscribeWS(t, ctx, svc.url, e.seeded.readerA, "graphql-transport-ws", "")
	defer c.CloseNow()
	require.Eventually(t, func() bool { // the subscription is registered
		_, body := get(t, svc.url+"/metrics")
		return strings.Contains(string(body), "\nteamaccess_activity_subscribers 1\n")
	}, 10*time.Second, 10*time.Millisecond)
	sent := time.Now()
	e.mail(t, e.users[0], "Renewal quote")
	for {
		m, _, err := nextChange(ctx, c)
		require.NoError(t, err)
		if m.Activity != nil && m.Activity.Subject == "Renewal quote" {
			require.Equal(t, "CREATED", m.Type)
			break
		}
	}
	// Only the notification can have brought it: the scheduled sync waits an hour
	// (BenchmarkNotificationToSubscriber measures how fast).
	t.Logf("graphsim change to GraphQL subscriber: %v", time.Since(sent))
	resp, body := get(t, svc.url+"/metrics")
	require.Equal(t, 200, resp.StatusCode)
	require.Contains(t, string(body), `teamaccess_change_notifications_total{result="accepted"}`)
}

func TestValidationTokenIsEchoedAsPlainTextOnly(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	svc := startService(t, dir)
	token := `<script>alert("x")</script> Validation: Testing client application reachability for subscription Request-Id: 3b3f`
	for _, path := range []string{subscriptions.NotificationPath, subscriptions.LifecyclePath} {
		resp, err := http.Post(svc.url+path+"?validationToken="+url.QueryEscape(token), "text/plain", nil)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode)
		require.Equal(t, token, string(body), "the decoded token, nothing else")
		require.Equal(t, "text/plain; charset=utf-8", resp.Header.Get("Content-Type"))
		require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
		require.Contains(t, resp.Header.Get("Content-Security-Policy"), "default-src 'none'")
	}
	// Not POST: refused.
	resp, err := http.Get(svc.url + subscriptions.NotificationPath + "?validationToken=x")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	// A malformed delivery: 400, nothing kept.
	resp, err = http.Post(svc.url+subscriptions.NotificationPath, "application/json", strings.NewReader(`{"value": [{"subscriptionId": 7}]}`))
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, string(body))
	// Over the size limit: 413.
	big := `{"value":[{"subscriptionId":"` + strings.Repeat("a", subscriptions.MaxBody) + `"}]}`
	resp, err = http.Post(svc.url+subscriptions.NotificationPath, "application/json", strings.NewReader(big))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
}

func TestWebhooksNeedAPublicURLGraphCanReach(t *testing.T) {
	t.Parallel()
	parse := func(args ...string) *config {
		c, err := parseConfig(serveCommand, flag.NewFlagSet("", flag.ContinueOnError), args, env(), io.Discard, false)
		require.NoError(t, err)
		if c.publicURL == nil {
			c.publicURL = defaultPublicURL(c.listen)
		}
		return c
	}
	real := []string{"--m365-client-id", hookApp, "--m365-client-secret", "s"}
	for _, tc := range []struct {
		name string
		args []string
		on   bool
	}{
		{"demo mode on loopback (graphsim delivers there)", nil, true},
		{"Microsoft, default public URL", real, false},
		{"Microsoft, plain HTTP public URL", append(real, "--public-url", "http://teamaccess.example.com"), false},
		{"Microsoft, HTTPS public URL", append(real, "--public-url", "https://teamaccess.example.com"), true},
		{"graphsim as a custom cloud on loopback", append(real, "--m365-cloud", "custom", "--m365-authority-url", "https://127.0.0.1:1", "--m365-graph-url", "https://127.0.0.1:2"), true},
	} {
		base, reason := webhookBase(parse(tc.args...))
		require.Equal(t, tc.on, base != "", tc.name)
		require.Equal(t, tc.on, reason == "", tc.name)
		if !tc.on {
			require.Contains(t, reason, "HTTPS --public-url", tc.name)
		}
	}
}

func TestDemoModeSubscribesEveryCapturedMailbox(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	s := seed(t, dir)
	svc := startService(t, dir)
	connectDemo(t, svc.url, s.adminA)
	var ta struct {
		TeamAccess struct {
			MailboxSummary      struct{ Accessible int }
			ChangeNotifications struct {
				Mode                     string
				Reason                   *string
				Active, Failing, Pending int
			}
		}
	}
	// 22 captured mailboxes (every readable one: 19 sellers, a disabled account, the shared
	// mailbox and the room), four subscriptions each; graphsim in the process delivers to the
	// loopback public URL.
	require.Eventually(t, func() bool {
		require.Empty(t, gql(t, svc.url, s.readerA, `{ teamAccess { mailboxSummary { accessible } changeNotifications { mode reason active failing pending } } }`, nil, &ta))
		return ta.TeamAccess.ChangeNotifications.Active == 88
	}, 60*time.Second, 100*time.Millisecond, "%+v", &ta)
	require.Equal(t, "WEBHOOKS", ta.TeamAccess.ChangeNotifications.Mode)
	require.Nil(t, ta.TeamAccess.ChangeNotifications.Reason)
	require.Zero(t, ta.TeamAccess.ChangeNotifications.Failing)

	var mb struct {
		Mailboxes struct {
			Edges []struct {
				Node struct {
					Captured            bool
					ChangeNotifications []struct {
						Resource, Scope, State string
						ExpiresAt              *time.Time
					}
				}
			}
		}
	}
	require.Empty(t, gql(t, svc.url, s.readerA, `{ mailboxes(first: 30) { edges { node { captured changeNotifications { resource scope state expiresAt } } } } }`, nil, &mb))
	for _, e := range mb.Mailboxes.Edges {
		cn := e.Node.ChangeNotifications
		if !e.Node.Captured {
			require.Empty(t, cn)
			continue
		}
		require.Len(t, cn, 4)
		for _, c := range cn {
			require.Equal(t, "ACTIVE", c.State)
			require.NotNil(t, c.ExpiresAt)
		}
		require.Equal(t, []string{"CALENDAR", "CONTACTS", "MAIL", "MAIL"}, []string{cn[0].Resource, cn[1].Resource, cn[2].Resource, cn[3].Resource})
	}
}
