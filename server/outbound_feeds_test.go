package server

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/teamaccess/teamaccess/auth"
	"github.com/teamaccess/teamaccess/graphsim"
	"github.com/teamaccess/teamaccess/mailboxes"
	"github.com/teamaccess/teamaccess/outbound"
)

// A webhook on mailboxChanged gets each change of a mailbox its filter selects, from the
// change log, byte for byte what the same document's subscription sends a websocket client;
// after a restart of its run it resumes where it was, without a repeat.
func TestAMailboxChangedWebhookIsTheSubscriptionsEvent(t *testing.T) {
	t.Parallel()
	e, svc := webhookEnv(t, outbound.Options{})
	const doc = `subscription { mailboxChanged(filter: {search: "ann"}) { id displayName capture captured } }`
	rcv := newReceiver(t)
	ep := endpoint(t, e, svc, rcv, "/mailboxes", doc)
	ctx := wsContext(t)
	ws := subscribeOverWebsocket(t, ctx, e.url, e.key, doc)
	require.Eventually(t, func() bool { return len(e.mailboxFeed.Topics()) == 1 }, 5*time.Second, 5*time.Millisecond)
	stop := runWebhooks(t, svc)

	page, err := e.mbx.List(t.Context(), e.org, mailboxes.Filter{}, 10, "")
	require.NoError(t, err)
	ids := map[string]string{}
	for _, m := range page.Mailboxes {
		ids[m.DisplayName] = m.ID
	}
	admin := auth.CommandLine(e.org)
	_, err = e.mbx.SetCapture(t.Context(), admin, ids["Bob Ray"], false) // not selected by the filter
	require.NoError(t, err)
	_, err = e.mbx.SetCapture(t.Context(), admin, ids["Ann Lee"], false)
	require.NoError(t, err)
	m := readWS(t, ctx, ws)
	require.Equal(t, "next", m.Type)
	require.Eventually(t, func() bool { return len(rcv.received()) == 1 }, 20*time.Second, 10*time.Millisecond)
	var compacted bytes.Buffer
	require.NoError(t, json.Compact(&compacted, m.Payload))
	require.Equal(t, compacted.String(), string(rcv.received()[0].body), "byte for byte")
	require.Contains(t, compacted.String(), `"displayName":"Ann Lee","capture":false`)

	// The delivery recorded (its place written, within flushEvery): a stop while the receiver's
	// answer is still on its way abandons it, and the next run delivers it again with the same
	// webhook-id, which is what a crash does, not what this test is about.
	require.Eventually(t, func() bool {
		cur, err := e.st.Org(e.org).WebhookEndpoint(t.Context(), ep.ID)
		return err == nil && cur.Cursor != ep.Cursor
	}, 20*time.Second, 10*time.Millisecond)
	stop() // the run ends; the next starts from the endpoint's place
	_, err = e.mbx.SetCapture(t.Context(), admin, ids["Ann Lee"], true)
	require.NoError(t, err)
	runWebhooks(t, svc)
	require.Eventually(t, func() bool { return len(rcv.received()) == 2 }, 20*time.Second, 10*time.Millisecond)
	require.Contains(t, string(rcv.received()[1].body), `"capture":true`)
	time.Sleep(300 * time.Millisecond) // a repeat would come now
	require.Len(t, rcv.received(), 2, "Bob's change is not delivered, Ann's first not again")
	require.NotEqual(t, rcv.received()[0].id, rcv.received()[1].id)
}

// Through the whole service: a partner's webhook on teamAccessChanged hears the consent and the
// disconnection, one on mailboxChanged each mailbox discovery finds.
func TestTeamAccessAndMailboxWebhooksHearConsentDiscoveryAndDisconnection(t *testing.T) {
	t.Parallel()
	e := newHookEnv(t, 2, graphsim.Options{})
	svc := startService(t, e.dir, e.args("--webhook-allow-hosts", "127.0.0.1")...)
	hook := func(doc string) *receiver {
		rcv := newReceiver(t)
		var created struct {
			CreateWebhookEndpoint struct{ Secret string }
		}
		require.Empty(t, gql(t, svc.url, e.seeded.adminA, `mutation($u: String!, $q: String!) { createWebhookEndpoint(input: {url: $u, query: $q}) { secret } }`,
			map[string]any{"u": rcv.srv.URL, "q": doc}, &created))
		rcv.mu.Lock()
		rcv.secret = created.CreateWebhookEndpoint.Secret
		rcv.mu.Unlock()
		return rcv
	}
	ta := hook(`subscription { teamAccessChanged { status tenantId } }`)
	mbx := hook(`subscription { mailboxChanged { displayName access } }`)
	e.connect(t, svc.url)
	bodies := func(r *receiver) string {
		var b bytes.Buffer
		for _, d := range r.received() {
			b.Write(d.body)
			b.WriteByte('\n')
		}
		return b.String()
	}
	require.Eventually(t, func() bool {
		got := bodies(mbx)
		return bytes.Contains([]byte(got), []byte(`"displayName":"Seller 00"`)) && bytes.Contains([]byte(got), []byte(`"displayName":"Seller 01"`))
	}, 30*time.Second, 20*time.Millisecond, "discovery's mailboxes: %s", bodies(mbx))
	require.Eventually(t, func() bool { return bytes.Contains([]byte(bodies(ta)), []byte(`"status":"ACTIVE"`)) }, 30*time.Second, 20*time.Millisecond,
		"the consent: %s", bodies(ta))

	var disc struct{ DisconnectTeamAccess struct{ Status string } }
	require.Empty(t, gql(t, svc.url, e.seeded.adminA, `mutation { disconnectTeamAccess(input: {purgeData: false}) { status } }`, nil, &disc))
	require.Eventually(t, func() bool {
		got := ta.received()
		return len(got) > 0 && bytes.Contains(got[len(got)-1].body, []byte(`"status":"`+disc.DisconnectTeamAccess.Status+`"`))
	}, 30*time.Second, 20*time.Millisecond, "the disconnection: %s", bodies(ta))
}
