package server

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/stretchr/testify/require"

	"github.com/teamaccess/teamaccess/activities"
	"github.com/teamaccess/teamaccess/auth"
)

func TestAKeyLimitedToAnOriginIsRefusedFromAnyOtherOverHTTPAndWebsockets(t *testing.T) {
	t.Parallel()
	e := newActivityEnv(t, activities.HubOptions{})
	ctx := wsContext(t)
	_, key, err := e.dir.CreateKey(ctx, auth.CommandLine(e.org), auth.NewKey{Name: "dashboard", Role: auth.RoleReader,
		AllowedOrigins: []string{"https://app.example.com"}})
	require.NoError(t, err)
	const q = `{ viewer { role } }`

	resp, out := postGraphQL(t, e.url, key, q, "Origin", "https://app.example.com")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Empty(t, out.Errors)
	require.Equal(t, "*", resp.Header.Get("Access-Control-Allow-Origin"))
	require.Contains(t, resp.Header.Get("Access-Control-Expose-Headers"), "X-Ratelimit-Remaining")
	for _, origin := range []string{"https://evil.example", ""} {
		var h []string
		if origin != "" {
			h = []string{"Origin", origin}
		}
		resp, out = postGraphQL(t, e.url, key, q, h...)
		require.Equal(t, http.StatusForbidden, resp.StatusCode, origin)
		require.Equal(t, "FORBIDDEN", out.Errors[0].Extensions["code"])
		require.Contains(t, out.Errors[0].Message, "may be used only from https://app.example.com")
	}

	// A websocket from another origin, authenticated in connection_init, is closed with 4403
	// saying why; from the key's origin it works.
	c := openWS(t, ctx, e.url, "graphql-transport-ws", http.Header{"Origin": {"https://evil.example"}})
	payload, _ := json.Marshal(map[string]string{"Authorization": "Bearer " + key})
	require.NoError(t, wsjson.Write(ctx, c, wsMessage{Type: "connection_init", Payload: payload}))
	var m wsMessage
	err = wsjson.Read(ctx, c, &m)
	require.Equal(t, websocket.StatusCode(4403), websocket.CloseStatus(err), "%v", err)
	var ce websocket.CloseError
	require.ErrorAs(t, err, &ce)
	require.Contains(t, ce.Reason, "may be used only from")

	c = openWS(t, ctx, e.url, "graphql-transport-ws", http.Header{"Origin": {"https://app.example.com"}})
	require.NoError(t, wsjson.Write(ctx, c, wsMessage{Type: "connection_init", Payload: payload}))
	require.Equal(t, "connection_ack", readWS(t, ctx, c).Type)
	_ = c.CloseNow()
}

// A page on another origin may call the API with a key (a preflight answers for any origin),
// as it may open a websocket.
func TestABrowserOnAnotherOriginMayCallTheAPI(t *testing.T) {
	t.Parallel()
	e := newActivityEnv(t, activities.HubOptions{})
	req, err := http.NewRequest(http.MethodOptions, e.url+"/graphql", nil)
	require.NoError(t, err)
	req.Header.Set("Origin", "https://partner.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Less(t, resp.StatusCode, 300)
	require.Equal(t, "*", resp.Header.Get("Access-Control-Allow-Origin"))
	require.Contains(t, strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers")), "authorization")
	require.Contains(t, resp.Header.Get("Access-Control-Allow-Methods"), "POST")
	require.Empty(t, resp.Header.Get("Access-Control-Allow-Credentials"), "no cookies, ever")
}

// node, activity and mailbox answer alike for an id that names nothing in the caller's
// organization, whether it is another organization's, unknown, or not an id at all: null, no
// error, so that no answer tells one from another.
func TestLookupsAnswerAForeignOrUnknownIDAlike(t *testing.T) {
	t.Parallel()
	e := newActivityEnv(t, activities.HubOptions{})
	e.add(t, 2)
	_, out := postGraphQL(t, e.url, e.key, `{ activities(first: 1) { edges { node { id mailbox { id } } } } }`)
	var page struct {
		Activities struct {
			Edges []struct {
				Node struct {
					ID      string
					Mailbox struct{ ID string }
				}
			}
		}
	}
	require.NoError(t, json.Unmarshal(out.Data, &page))
	act, mbx := page.Activities.Edges[0].Node.ID, page.Activities.Edges[0].Node.Mailbox.ID
	other, err := e.dir.CreateOrganization(t.Context(), "Other Corp")
	require.NoError(t, err)
	_, key, err := e.dir.CreateKey(t.Context(), auth.CommandLine(other.ID), auth.NewKey{Name: "o", Role: auth.RoleReader})
	require.NoError(t, err)
	for _, field := range []string{"node", "activity", "mailbox"} {
		for _, id := range []string{act, mbx, "act_bm9uZQ", "mbx_nobody", "garbage", ""} {
			_, out := postGraphQLVars(t, e.url, `query($id: ID!) { x: `+field+`(id: $id) { id } }`, map[string]any{"id": id}, "Authorization", "Bearer "+key)
			require.Empty(t, out.Errors, "%s(id: %q)", field, id)
			require.JSONEq(t, `{"x":null}`, string(out.Data), "%s(id: %q)", field, id)
		}
	}
}
