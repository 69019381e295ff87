package server

import (
	"bufio"
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/stretchr/testify/require"
)

// A key revoked through the API ends what it holds open: its websocket is closed with 4403 and
// a reason saying so, within 5 s, and an operation it starts meanwhile is refused; its event
// stream ends within 5 s too. Before, a revoked ADMIN key could mint a new key over its
// still-open websocket.
func TestRevokingAKeyEndsItsWebsocketsAndStreams(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	s := seed(t, dir)
	svc := startService(t, dir)
	newKey := func() (secret, id string) {
		var c struct {
			CreateAPIKey struct {
				Secret string
				APIKey struct{ ID string } `json:"apiKey"`
			} `json:"createApiKey"`
		}
		require.Empty(t, gql(t, svc.url, s.adminA, `mutation { createApiKey(name: "held", role: ADMIN) { secret apiKey { id } } }`, nil, &c))
		return c.CreateAPIKey.Secret, c.CreateAPIKey.APIKey.ID
	}
	revoke := func(id string) {
		require.Empty(t, gql(t, svc.url, s.adminA, `mutation($id: ID!) { revokeApiKey(id: $id) { id } }`, map[string]any{"id": id}, nil))
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	// The websocket: closed within 5 s of the revocation, whatever it was doing.
	wsKey, wsID := newKey()
	c := subscribeWS(t, ctx, svc.url, wsKey, "graphql-transport-ws", "")
	defer c.CloseNow()
	revoked := time.Now()
	revoke(wsID)
	mint, _ := json.Marshal(map[string]any{"query": `mutation { createApiKey(name: "minted", role: ADMIN) { secret } }`})
	_ = wsjson.Write(ctx, c, wsMessage{ID: "m", Type: "subscribe", Payload: mint})
	var err error
	for err == nil {
		var m wsMessage
		err = wsjson.Read(ctx, c, &m)
		require.NotEqual(t, "next", m.Type, "an operation after the revocation is refused: %s", m.Payload)
	}
	require.Equal(t, websocket.StatusCode(4403), websocket.CloseStatus(err), "got %v", err)
	require.Contains(t, err.Error(), "revoked")
	require.Less(t, time.Since(revoked), 5*time.Second)

	// The event stream: ended within 5 s.
	sseKey, sseID := newKey()
	resp := openEventStream(t, ctx, svc.url, sseKey, changedSub, nil)
	require.Equal(t, 200, resp.StatusCode)
	revoked = time.Now()
	revoke(sseID)
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() { // the stream's keep-alive lines, until it ends
	}
	require.Less(t, time.Since(revoked), 5*time.Second, "the stream ended")
}
