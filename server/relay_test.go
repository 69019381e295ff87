package server

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket/wsjson"
	"github.com/stretchr/testify/require"

	"github.com/teamaccess/teamaccess/graphsim"
)

// A page connected to one process hears, live, of the changes another process makes (each
// process does the Graph work of its own partitions, and a mutation is answered by whichever
// process it reached): an admin's capture switch and a disconnection made through the second
// process reach mailboxChanged and teamAccessChanged subscribers of the first.
func TestLiveSubscribersHearOfAnotherProcesssChanges(t *testing.T) {
	t.Parallel()
	e := newHookEnv(t, 2, graphsim.Options{})
	c := newCluster(t, e, "", "")
	a, b := c.start(t), c.start(t)
	e.connect(t, a.url)
	var listed struct {
		Mailboxes struct {
			Edges []struct{ Node struct{ ID string } }
		}
	}
	require.Empty(t, gql(t, b.url, e.seeded.adminA, `{ mailboxes(first: 1, filter: {access: [ACCESSIBLE]}) { edges { node { id } } } }`, nil, &listed))
	require.Len(t, listed.Mailboxes.Edges, 1)
	id := listed.Mailboxes.Edges[0].Node.ID

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	conn := dialGraphQL(t, ctx, a.url, "graphql-transport-ws", e.seeded.readerA)
	for sid, q := range map[string]string{"ta": `subscription { teamAccessChanged { status } }`, "mb": `subscription { mailboxChanged { id capture } }`} {
		payload, _ := json.Marshal(map[string]string{"query": q})
		require.NoError(t, wsjson.Write(ctx, conn, wsMessage{ID: sid, Type: "subscribe", Payload: payload}))
	}
	// await reads a's messages until one of subscription sid contains want, for 15 s at most.
	await := func(sid, want, what string) {
		t.Helper()
		wctx, stop := context.WithTimeout(ctx, 15*time.Second)
		defer stop()
		for {
			var m wsMessage
			if err := wsjson.Read(wctx, conn, &m); err != nil {
				t.Fatalf("%s did not reach the other process's subscriber within 15 s: %v", what, err)
			}
			if m.ID == sid && m.Type == "next" && strings.Contains(string(m.Payload), want) {
				return
			}
		}
	}
	await("ta", `"ACTIVE"`, "the current state") // the first message, from a itself
	time.Sleep(2 * time.Second)                  // the relay follows the organisation now

	var set struct{ SetMailboxCapture struct{ Capture bool } }
	require.Empty(t, gql(t, b.url, e.seeded.adminA, `mutation($id: ID!) { setMailboxCapture(id: $id, enabled: false) { capture } }`, map[string]any{"id": id}, &set))
	require.False(t, set.SetMailboxCapture.Capture)
	await("mb", `{"id":"`+id+`","capture":false}`, "a capture switched off through the other process")

	require.Empty(t, gql(t, b.url, e.seeded.adminA, `mutation { disconnectTeamAccess(input: {purgeData: false}) { status } }`, nil, nil))
	await("ta", `"NOT_CONFIGURED"`, "a disconnection through the other process")
}
