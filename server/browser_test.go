package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// The whole flow as people see it, in headless Chromium against the service in demo mode: the
// org admin signs in to the admin page with the key from the first start and presses Authorize;
// the Microsoft 365 admin opens the link in another tab and presses Accept on the (simulated)
// Microsoft page; the first tab says "Team access to Office 365 is active." without a reload.
func TestAdminPageConsentFlowInBrowser(t *testing.T) {
	t.Parallel()
	chrome := findChromium()
	if chrome == "" {
		if os.Getenv("TEAMACCESS_REQUIRE_BROWSER") != "" {
			t.Fatal("TEAMACCESS_REQUIRE_BROWSER is set but no Chromium is installed (apt-get install chromium)")
		}
		t.Skip("no Chromium on this machine: .ci/run installs Debian's chromium package and runs this test")
	}
	svc := startService(t, filepath.Join(t.TempDir(), "data"))
	require.NotEmpty(t, svc.key)

	admin := browser(t, chrome, 90*time.Second)

	status, link, err := "", "", chromedp.Do(admin,
		chromedp.Navigate(svc.url+"/"),
		chromedp.WaitVisible(chromedp.CSS("#api-key")),
		chromedp.SendKeys(chromedp.CSS("#api-key"), svc.key),
		chromedp.Click(chromedp.CSS("#sign-in")),
		ignore(chromedp.Poll[bool](`document.getElementById('status').textContent.includes('not configured')`)),
	)
	require.NoError(t, err)
	status, err = chromedp.Run(admin, chromedp.Text(chromedp.CSS("#status")))
	require.NoError(t, err)
	require.Equal(t, "Team access to Office 365 is not configured.", status)
	require.NoError(t, chromedp.Do(admin,
		chromedp.Click(chromedp.CSS("#authorize")),
		chromedp.WaitVisible(chromedp.CSS("#link-box")),
		ignore(chromedp.Poll[bool](`document.getElementById('consent-url').value !== ''`)),
	))
	link, err = chromedp.Run(admin, chromedp.Value(chromedp.CSS("#consent-url")))
	require.NoError(t, err)
	require.Contains(t, link, "/v2.0/adminconsent?")

	m365admin, cancelM365 := chromedp.NewContext(admin) // another tab
	defer cancelM365()
	require.NoError(t, chromedp.Do(m365admin,
		chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.CSS("#accept")),
		chromedp.Click(chromedp.CSS("#accept")),
		chromedp.WaitVisible(chromedp.CSS("#result")),
	))
	result, err := chromedp.Run(m365admin, chromedp.Text(chromedp.CSS("#result")))
	require.NoError(t, err)
	require.Contains(t, result, "Authorization Successful")

	require.NoError(t, chromedp.Do(admin, ignore(chromedp.Poll[bool](
		`document.getElementById('status').textContent.includes('is active')`, chromedp.WithPollingTimeout(30*time.Second)))))
	status, err = chromedp.Run(admin, chromedp.Text(chromedp.CSS("#status")))
	require.NoError(t, err)

	// Discovery has started: the coverage table fills in and the summary counts, live, until no
	// mailbox is left unchecked (the readable ones may all be counted before the blocked ones).
	if err := chromedp.Do(admin, ignore(chromedp.Poll[bool](
		`(function (s) { return s.includes('22 readable') && s.includes('3 blocked by an application access policy') && !s.includes('not checked') })(document.getElementById('summary').textContent) && document.querySelectorAll('#mbx-rows tr').length === 27`,
		chromedp.WithPollingTimeout(30*time.Second)))); err != nil {
		summary, _ := chromedp.Run(admin, chromedp.Text(chromedp.CSS("#summary")))
		t.Fatalf("the summary is not complete (%v): %q", err, summary)
	}
	// Demo mode has webhooks: the subscriptions are counted as they are made.
	require.NoError(t, chromedp.Do(admin, ignore(chromedp.Poll[bool](
		`document.getElementById('live').textContent.includes('Live updates: Microsoft Graph change notifications')`,
		chromedp.WithPollingTimeout(30*time.Second)))))
	shot, err := chromedp.Run(admin, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	require.True(t, strings.HasSuffix(status, "Team access to Office 365 is active."), status)
	var named struct {
		TeamAccess struct{ TenantDomain *string }
	}
	require.Empty(t, gql(t, svc.url, svc.key, `{ teamAccess { tenantDomain } }`, nil, &named))
	require.Equal(t, "contoso.com", *named.TeamAccess.TenantDomain)
	require.NoError(t, chromedp.Do(admin, ignore(chromedp.Poll[bool](`document.getElementById('status-detail').textContent.indexOf('Tenant contoso.com (') === 0`,
		chromedp.WithPollingTimeout(30*time.Second)))), "the tenant by its domain, an admin's name for it")
	// A blocked mailbox shows no ticked capture box, and a readable one no reason.
	bad, err := chromedp.Run(admin, chromedp.Evaluate[int](`Array.from(document.querySelectorAll('#mbx-rows tr')).filter(function (r) {
		var blocked = r.querySelector('.badge.BLOCKED_BY_POLICY'), box = r.querySelector('input.capture');
		return (blocked && box.checked) || (r.querySelector('.badge.ACCESSIBLE') && r.children[2].textContent !== '');
	}).length`))
	require.NoError(t, err)
	require.Zero(t, bad, "rows that contradict themselves")
	require.NoError(t, chromedp.Do(admin,
		chromedp.SetValue(chromedp.CSS("#mbx-access"), "BLOCKED_BY_POLICY"),
		ignore(chromedp.Evaluate[bool](`document.getElementById('mbx-access').dispatchEvent(new Event('change'))`)),
		ignore(chromedp.Poll[bool](`document.querySelectorAll('#mbx-rows tr').length === 3`, chromedp.WithPollingTimeout(10*time.Second))),
	))
	path := filepath.Join(artifactDir(t), "admin-page-active.png")
	require.NoError(t, os.WriteFile(path, shot, 0o644))
	t.Logf("screenshot of the active state: %s", path)

	// A webhook endpoint (created through the API, to a receiver on this machine, which demo mode
	// allows) shows on the page with its state; its test button sends a signed test event.
	hits := make(chan string, 10)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case hits <- r.Header.Get("webhook-signature"):
		default:
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rcv.Close()
	require.Empty(t, gql(t, svc.url, svc.key, `mutation($u: String!) { createWebhookEndpoint(input: {url: $u, description: "CRM sync",
		query: "subscription { activityChanged { type activity { id } } }"}) { secret } }`, map[string]any{"u": rcv.URL + "/hooks"}, nil))
	if err := chromedp.Do(admin,
		chromedp.Reload(),
		ignore(chromedp.Poll[bool](`document.querySelectorAll('#hook-rows tr').length === 1`, chromedp.WithPollingTimeout(20*time.Second))),
	); err != nil {
		st, _ := chromedp.Run(admin, chromedp.Evaluate[string](`document.getElementById('status').textContent + ' | ' + document.getElementById('hook-rows').innerHTML`))
		t.Fatalf("the endpoint is not on the page (%v): %s", err, st)
	}
	if err := chromedp.Do(admin,
		press(".hook-test"),
		ignore(chromedp.Poll[bool](`document.querySelector('.hook-result').textContent.includes('Answered HTTP 204')`, chromedp.WithPollingTimeout(20*time.Second))),
	); err != nil {
		st, _ := chromedp.Run(admin, chromedp.Evaluate[string](`document.getElementById('hook-rows').innerHTML`))
		t.Fatalf("the test event's answer is not on the page (%v): %s", err, st)
	}
	select {
	case sig := <-hits:
		require.Regexp(t, `^v1,`, sig)
	case <-time.After(5 * time.Second):
		t.Fatal("the test event did not arrive")
	}
	hooks, err := chromedp.Run(admin, chromedp.Text(chromedp.CSS("#webhooks")))
	require.NoError(t, err)
	require.Contains(t, hooks, "CRM sync")
	require.Contains(t, hooks, "Waiting for the first change")
	screenshot(t, admin, "admin-page-webhooks.png")

	// An API key made on the page, shown once, works; revoked on the page, it stops working.
	require.NoError(t, chromedp.Do(admin,
		chromedp.SendKeys(chromedp.CSS("#key-name"), "dashboard from the page"),
		press("#key-create"),
		ignore(chromedp.Poll[bool](`document.getElementById('key-secret').value.startsWith('tak_')`, chromedp.WithPollingTimeout(10*time.Second))),
	))
	made, err := chromedp.Run(admin, chromedp.Value(chromedp.CSS("#key-secret")))
	require.NoError(t, err)
	var who struct{ Viewer struct{ Role string } }
	require.Empty(t, gql(t, svc.url, made, `{ viewer { role } }`, nil, &who))
	require.Equal(t, "READER", who.Viewer.Role)
	require.NoError(t, chromedp.Do(admin,
		ignore(chromedp.Evaluate[bool](`window.confirm = function () { return true; }; true`)),
		ignore(chromedp.Poll[bool](`Array.from(document.querySelectorAll('#key-rows tr')).some(function (r) { return r.textContent.includes('dashboard from the page'); })`,
			chromedp.WithPollingTimeout(10*time.Second))),
		ignore(chromedp.Evaluate[bool](`Array.from(document.querySelectorAll('.key-revoke')).find(function (b) { return b.getAttribute('aria-label') === 'Revoke dashboard from the page'; }).click(); true`)),
		ignore(chromedp.Poll[bool](`Array.from(document.querySelectorAll('#key-rows tr')).some(function (r) { return r.textContent.includes('dashboard from the page') && r.textContent.includes('Revoked'); })`,
			chromedp.WithPollingTimeout(10*time.Second))),
	))
	resp, _ := postGraphQL(t, svc.url, made, `{ viewer { role } }`)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "the revoked key is refused")

	// The audit log on the page says so, filtered.
	require.NoError(t, chromedp.Do(admin,
		press("#audit-reload"),
		chromedp.SendKeys(chromedp.CSS("#audit-filter"), "revoke"),
		ignore(chromedp.Poll[bool](`document.getElementById('audit-rows').textContent.indexOf('apiKey.revoke') >= 0 &&
			document.getElementById('audit-rows').textContent.indexOf('apiKey.create') < 0`, chromedp.WithPollingTimeout(10*time.Second))),
	))

	// A failing sync (a graphsim fault on one mailbox) appears in the issues panel, with
	// Microsoft's words, and leaves it once the sync succeeds again.
	control := ""
	for _, e := range svc.logs.entries() {
		if c, ok := e["graphsim_control"].(string); ok {
			control = c
		}
	}
	require.NotEmpty(t, control, "demo mode logs graphsim's control API")
	var adele struct {
		Mailboxes struct {
			Edges []struct{ Node struct{ ID string } }
		}
	}
	require.Empty(t, gql(t, svc.url, svc.key, `{ mailboxes(filter: {search: "Adele"}) { edges { node { id } } } }`, nil, &adele))
	require.Len(t, adele.Mailboxes.Edges, 1)
	mailbox := adele.Mailboxes.Edges[0].Node.ID
	fault, _ := json.Marshal(map[string]any{"userId": strings.TrimPrefix(mailbox, "mbx_"), "status": 500, "count": 1000})
	resp, err = http.Post(control+"/faults", "application/json", bytes.NewReader(fault))
	require.NoError(t, err)
	resp.Body.Close()
	const resync = `mutation($id: ID!) { resyncMailbox(id: $id) { id } }`
	require.Empty(t, gql(t, svc.url, svc.key, resync, map[string]any{"id": mailbox}, nil))
	require.NoError(t, chromedp.Do(admin,
		ignore(chromedp.Poll[bool](`!!document.querySelector('#issue-list li[data-kind=SYNC_FAILING]') && !document.getElementById('issues').hidden`,
			chromedp.WithPollingTimeout(40*time.Second))),
	))
	issue, err := chromedp.Run(admin, chromedp.TextContent(chromedp.CSS("#issue-list li[data-kind=SYNC_FAILING]")))
	require.NoError(t, err)
	require.Contains(t, issue, "Adele Vance")
	require.Contains(t, issue, "Microsoft said: ")
	// The mailbox's detail says the same, round by round.
	require.NoError(t, chromedp.Do(admin,
		ignore(chromedp.Evaluate[bool](`document.querySelector('button[aria-label="Details of Adele Vance"]').click(); true`)),
		ignore(chromedp.Poll[bool](`Array.from(document.querySelectorAll('tr.detail-row')).some(function (r) {
			return r.textContent.indexOf('failed in a row') >= 0 && /\d+ activities stored from this mailbox/.test(r.textContent); })`,
			chromedp.WithPollingTimeout(10*time.Second))),
	))
	screenshot(t, admin, "admin-page-issue.png")
	req, _ := http.NewRequest(http.MethodDelete, control+"/faults", nil)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Empty(t, gql(t, svc.url, svc.key, resync, map[string]any{"id": mailbox}, nil))
	require.NoError(t, chromedp.Do(admin,
		ignore(chromedp.Poll[bool](`!document.querySelector('#issue-list li[data-kind=SYNC_FAILING]')`, chromedp.WithPollingTimeout(40*time.Second))),
	))

	// A policy change that leaves Adele out shows as a newly blocked mailbox once probed.
	var readable struct {
		Mailboxes struct {
			Edges []struct{ Node struct{ ID string } }
		}
	}
	require.Empty(t, gql(t, svc.url, svc.key, `{ mailboxes(filter: {access: [ACCESSIBLE]}, first: 100) { edges { node { id } } } }`, nil, &readable))
	var allowed []string
	for _, e := range readable.Mailboxes.Edges {
		if e.Node.ID != mailbox {
			allowed = append(allowed, strings.TrimPrefix(e.Node.ID, "mbx_"))
		}
	}
	tenant := ""
	for _, e := range svc.logs.entries() {
		if c, ok := e["tenant"].(string); ok && e["graphsim_control"] != nil {
			_, tenant, _ = strings.Cut(strings.TrimSuffix(c, ")"), "(")
		}
	}
	controlCall(t, http.MethodPut, control+"/tenants/"+tenant+"/policies/"+demoModeAppID, map[string]any{"Users": allowed})
	controlCall(t, http.MethodPost, control+"/clock/advance", map[string]any{"Seconds": 31 * 60}) // policies apply after 30 minutes
	var rechecked struct{ RecheckMailboxAccess []struct{ Access string } }
	require.Empty(t, gql(t, svc.url, svc.key, `mutation($id: ID!) { recheckMailboxAccess(ids: [$id]) { access } }`, map[string]any{"id": mailbox}, &rechecked))
	require.Equal(t, "BLOCKED_BY_POLICY", rechecked.RecheckMailboxAccess[0].Access, "the policy applies")
	var listed struct {
		TeamAccess struct {
			Issues []struct{ Kind, Message string }
		}
	}
	require.Empty(t, gql(t, svc.url, svc.key, `{ teamAccess { issues { kind message } } }`, nil, &listed))
	require.Contains(t, fmt.Sprint(listed.TeamAccess.Issues), "MAILBOX_BLOCKED Adele Vance", "the API lists it at once")
	if err := chromedp.Do(admin,
		ignore(chromedp.Poll[bool](`Array.from(document.querySelectorAll('#issue-list li[data-kind=MAILBOX_BLOCKED]')).some(function (li) {
			return li.textContent.indexOf('Adele Vance') >= 0; })`, chromedp.WithPollingTimeout(15*time.Second))),
	); err != nil { // soon after the probe, not at the next 30 s check of every organisation
		st, _ := chromedp.Run(admin, chromedp.Evaluate[string](`document.getElementById('issue-list').innerHTML`))
		t.Fatalf("the newly blocked mailbox is not on the page (%v): the panel shows %q; the service warned: %v", err, st, svc.logs.warnings())
	}
	totals, err := chromedp.Run(admin, chromedp.Text(chromedp.CSS("#totals")))
	require.NoError(t, err)
	require.Regexp(t, `^\d+ mailboxes captured · [1-9]\d* activities and \d+ contacts stored · last change received \d`, totals)
	screenshot(t, admin, "admin-page-blocked.png")

	checkAccessibility(t, admin)

	// Privacy on the page: a domain's preview counts what it would remove; an erasure removes
	// everything that names an address.
	var found struct {
		Activities struct {
			Edges []struct {
				Node struct {
					Participants []struct {
						Email      string
						IsInternal bool
					}
				}
			}
		}
	}
	var customer string
	require.Eventually(t, func() bool {
		require.Empty(t, gql(t, svc.url, svc.key, `{ activities(first: 20) { edges { node { participants { email isInternal } } } } }`, nil, &found))
		for _, e := range found.Activities.Edges {
			for _, p := range e.Node.Participants {
				if !p.IsInternal && customer == "" {
					customer = p.Email
				}
			}
		}
		return customer != ""
	}, 60*time.Second, 200*time.Millisecond, "the demo's mail is captured")
	_, domain, _ := strings.Cut(customer, "@")
	require.NoError(t, chromedp.Do(admin,
		chromedp.WaitVisible(chromedp.CSS("#privacy")),
		chromedp.SendKeys(chromedp.CSS("#pv-domains"), domain),
		press("#pv-preview"),
		ignore(chromedp.Poll[bool](`/would remove [1-9]\d* activities/.test(document.getElementById('pv-result').textContent)`, chromedp.WithPollingTimeout(10*time.Second))),
		ignore(chromedp.Evaluate[bool](`document.getElementById('pv-domains').value = ''; true`)),
		chromedp.SendKeys(chromedp.CSS("#erase-email"), customer),
		press("#erase"),
		ignore(chromedp.Poll[bool](`document.getElementById('erase-result').textContent.indexOf('Erased') === 0`, chromedp.WithPollingTimeout(10*time.Second))),
	))
	screenshot(t, admin, "admin-page-privacy.png")
	var left struct{ Activities struct{ TotalCount int } }
	require.Empty(t, gql(t, svc.url, svc.key, `query($f: ActivityFilter) { activities(filter: $f) { totalCount } }`,
		map[string]any{"f": map[string]any{"participantEmail": customer}}, &left))
	require.Zero(t, left.Activities.TotalCount, "nothing names the erased address")

	// A phone's width: nothing runs off the page sideways (wide tables scroll in their box).
	require.NoError(t, chromedp.Do(admin, chromedp.EmulateViewport(390, 844)))
	fits, err := chromedp.Run(admin, chromedp.Evaluate[bool](`document.documentElement.scrollWidth <= window.innerWidth + 1`))
	require.NoError(t, err)
	if !fits {
		wide, _ := chromedp.Run(admin, chromedp.Evaluate[string](`Array.from(document.querySelectorAll('body *')).filter(function (e) {
			return e.getBoundingClientRect().right > window.innerWidth + 1; }).slice(0, 8).map(function (e) {
			return e.tagName + '#' + e.id + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right); }).join('; ')`))
		t.Fatalf("the page does not fit a phone's width: %s", wide)
	}
	banner, err := chromedp.Run(admin, chromedp.Evaluate[bool](`!document.getElementById('demo-banner').hidden`))
	require.NoError(t, err)
	require.True(t, banner, "demo mode says so")
	screenshot(t, admin, "admin-page-phone.png")

	// GraphiQL runs under its Content-Security-Policy (scripts and connections from this origin
	// only): its editor appears.
	require.NoError(t, chromedp.Do(admin,
		chromedp.Navigate(svc.url+"/graphiql"),
		chromedp.WaitVisible(chromedp.CSS(".graphiql-container")),
	))
}
