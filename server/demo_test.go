package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A demo that was consented, restarted on its data directory, stays active on the same tenant
// and keeps syncing: a message that arrives in the simulated tenant after the restart reaches the
// activities, through the subscriptions and delta positions made before it (the same listen
// address, as a demo on a laptop restarts).
func TestDemoRestartedOnItsDataDirectoryStaysActiveAndSyncs(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	s := seed(t, dir)
	listen := "127.0.0.1:" + strconv.Itoa(freePort(t))
	svc := startService(t, dir, "--listen", listen)
	connectDemo(t, svc.url, s.adminA)
	var ta struct {
		TeamAccess struct{ Status, TenantID string }
	}
	require.Empty(t, gql(t, svc.url, s.readerA, `{ teamAccess { status tenantId } }`, nil, &ta))
	require.Equal(t, "ACTIVE", ta.TeamAccess.Status)
	tenant := ta.TeamAccess.TenantID
	adele := waitSynced(t, svc.url, s.readerA, "Adele")
	svc.stop(t)
	require.FileExists(t, filepath.Join(dir, "demo", "graphsim.json"))

	svc = startService(t, dir, "--listen", listen)
	require.Equal(t, true, svc.logs.find("DEMO MODE: no Microsoft app is configured (--m365-client-id), so teamaccess talks to graphsim, a simulated Microsoft 365 tenant; nothing reaches Microsoft")["restored"])
	require.Empty(t, gql(t, svc.url, s.readerA, `{ teamAccess { status tenantId } }`, nil, &ta))
	require.Equal(t, "ACTIVE", ta.TeamAccess.Status)
	require.Equal(t, tenant, ta.TeamAccess.TenantID, "the same tenant")

	control := svc.logs.find("DEMO MODE: no Microsoft app is configured (--m365-client-id), so teamaccess talks to graphsim, a simulated Microsoft 365 tenant; nothing reaches Microsoft")["graphsim_control"].(string)
	body, _ := json.Marshal(map[string]any{"subject": "After the restart", "receivedDateTime": time.Now().UTC(),
		"from": map[string]any{"emailAddress": map[string]string{"name": "Carol Martinez", "address": "carol.martinez@fabrikam.com"}}})
	resp, err := http.Post(control+"/tenants/"+tenant+"/users/"+adele[len("mbx_"):]+"/messages?folder=inbox", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	require.Eventually(t, func() bool {
		var page struct {
			Activities struct {
				Edges []struct{ Node struct{ Subject string } }
			}
		}
		require.Empty(t, gql(t, svc.url, s.readerA, `{ activities(first: 5, filter: {text: "After the restart"}) { edges { node { subject } } } }`, nil, &page))
		return len(page.Activities.Edges) == 1
	}, 30*time.Second, 100*time.Millisecond, "the new message is captured after the restart")
	_, err = os.Stat(filepath.Join(dir, "demo", "demo.json"))
	require.NoError(t, err)
}

// waitSynced waits until the named mailbox's four rounds have succeeded and returns its id.
func waitSynced(t *testing.T, base, key, name string) string {
	t.Helper()
	var id string
	require.Eventually(t, func() bool {
		var page mailboxPage
		require.Empty(t, gql(t, base, key, `query($q: String) { mailboxes(first: 1, filter: {search: $q}) { edges { node { id captured } } } }`, map[string]any{"q": name}, &page))
		if len(page.Mailboxes.Edges) == 0 || !page.Mailboxes.Edges[0].Node.Captured {
			return false
		}
		id = page.Mailboxes.Edges[0].Node.ID
		var health struct {
			Mailbox struct {
				SyncHealth []struct{ LastSuccessAt *string }
			}
		}
		require.Empty(t, gql(t, base, key, `query($id: ID!) { mailbox(id: $id) { syncHealth { lastSuccessAt } } }`, map[string]any{"id": id}, &health))
		done := 0
		for _, h := range health.Mailbox.SyncHealth {
			if h.LastSuccessAt != nil {
				done++
			}
		}
		return done == 4
	}, 60*time.Second, 200*time.Millisecond)
	return id
}

// A demo left running stays quick on the embedded store: its generator adds an item every 10 s
// for the first half hour (live updates to watch), then one every 5 minutes, so that a week of
// it adds about 2,200 items, not 60,000 (one every 10 s).
func TestTheDemoGeneratorSlowsAfterItsFirstHalfHour(t *testing.T) {
	var n int
	var elapsed time.Duration
	for ; elapsed < 30*time.Minute; n++ {
		elapsed += demoPace(n)
	}
	require.Equal(t, 180, n, "items in the first half hour")
	for ; elapsed < 7*24*time.Hour && n < 100_000; n++ { // bounded
		elapsed += demoPace(n)
	}
	require.Less(t, n, 2300, "items a week of the demo adds")
}
