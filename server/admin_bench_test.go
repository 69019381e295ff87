package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// BenchmarkAdminPageLoad opens the admin page, signed in, in headless Chromium on the demo
// tenant (27 users) and then on the same tenant grown to 1,027, in the same run: the GraphQL
// requests the page makes until its mailbox table, issues and sections are drawn, and the time
// to that.
//
//	go test ./server -run '^$' -bench AdminPageLoad -benchtime 5x
func BenchmarkAdminPageLoad(b *testing.B) {
	chrome := findChromium()
	if chrome == "" {
		b.Skip("no Chromium on this machine")
	}
	small := openAdminPage(b, chrome, 0)
	large := openAdminPage(b, chrome, 1000)
	b.Run("27-mailboxes", func(b *testing.B) { measurePageLoad(b, small) })
	b.Run("1027-mailboxes", func(b *testing.B) { measurePageLoad(b, large) })
}

// openAdminPage starts the service in demo mode with extra users added to the demo tenant,
// consents, waits for every mailbox to be discovered and probed, and signs in on the page.
func openAdminPage(b *testing.B, chrome string, extra int) context.Context {
	svc := openAdminPageService(b, extra)
	page := browser(b, chrome, 10*time.Minute)
	require.NoError(b, chromedp.Do(page,
		chromedp.Navigate(svc.url+"/"),
		chromedp.WaitVisible(chromedp.CSS("#api-key")),
		chromedp.SendKeys(chromedp.CSS("#api-key"), svc.key),
		chromedp.Click(chromedp.CSS("#sign-in")),
		ignore(chromedp.Poll[bool](`document.querySelectorAll('#mbx-rows tr').length > 0`, chromedp.WithPollingTimeout(30*time.Second))),
	))
	return page
}

// openAdminPageService is the service openAdminPage signs in to.
func openAdminPageService(b *testing.B, extra int) *service {
	svc := startService(b, filepath.Join(b.TempDir(), "data"))
	control, tenant := "", ""
	for _, e := range svc.logs.entries() {
		if c, ok := e["graphsim_control"].(string); ok {
			control = c
			tenant, _ = e["tenant"].(string)
		}
	}
	_, tenant, _ = strings.Cut(strings.TrimSuffix(tenant, ")"), "(")
	require.NotEmpty(b, tenant)
	for i := range extra {
		body, _ := json.Marshal(map[string]string{"DisplayName": fmt.Sprintf("Seller %04d", i), "UPN": fmt.Sprintf("seller%04d@contoso.com", i)})
		resp, err := http.Post(control+"/tenants/"+tenant+"/users", "application/json", bytes.NewReader(body))
		require.NoError(b, err)
		resp.Body.Close()
		require.Equal(b, http.StatusOK, resp.StatusCode)
	}
	connectDemo(b, svc.url, svc.key)
	n := 27 + extra
	var sum struct {
		TeamAccess struct {
			MailboxSummary struct{ Total, Accessible, BlockedByPolicy, NoMailbox int }
		}
	}
	require.Eventually(b, func() bool {
		require.Empty(b, gql(b, svc.url, svc.key, `{ teamAccess { mailboxSummary { total accessible blockedByPolicy noMailbox } } }`, nil, &sum))
		s := sum.TeamAccess.MailboxSummary
		return s.Total == n && s.Accessible+s.BlockedByPolicy+s.NoMailbox == n
	}, 5*time.Minute, 500*time.Millisecond, "discovery and probes of %d mailboxes", n)
	return svc
}

// measurePageLoad reloads the page (the key stays in the tab's session) until it is drawn:
// the mailbox table, its summary, the keys and the privacy section.
func measurePageLoad(b *testing.B, page context.Context) {
	var requests, millis, slowest float64
	for b.Loop() {
		require.NoError(b, chromedp.Do(page, chromedp.Reload()))
		got, err := chromedp.Run(page, chromedp.Poll[string](`(function () {
			var rows = document.querySelectorAll('#mbx-rows tr').length, drawn = rows > 0 && !document.getElementById('privacy').hidden &&
				document.getElementById('summary').textContent !== '' && document.getElementById('key-rows').children.length > 0;
			if (!drawn) { return null; }
			var gql = performance.getEntriesByType('resource').filter(function (r) { return r.name.indexOf('/graphql') >= 0; });
			return JSON.stringify({ requests: gql.length, ms: performance.now(), rows: rows,
				slowest: Math.max.apply(null, gql.map(function (r) { return r.duration; })) });
		})()`, chromedp.WithPollingTimeout(60*time.Second), chromedp.WithPollingInterval(5*time.Millisecond)))
		require.NoError(b, err)
		var m struct {
			Requests    int
			MS, Slowest float64
		}
		require.NoError(b, json.Unmarshal([]byte(got), &m))
		requests += float64(m.Requests)
		millis += m.MS
		slowest = max(slowest, m.Slowest)
	}
	b.ReportMetric(requests/float64(b.N), "graphql-requests/load")
	b.ReportMetric(millis/float64(b.N), "ms-to-rendered")
	b.ReportMetric(slowest, "ms-slowest-request")
	b.ReportMetric(0, "ns/op")
}
