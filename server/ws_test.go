package server

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/stretchr/testify/require"
)

// wsMessage is a message of either GraphQL websocket subprotocol.
type wsMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// dialGraphQL opens a websocket to /graphql with the subprotocol and completes its
// connection_init handshake.
func dialGraphQL(t *testing.T, ctx context.Context, base, subprotocol, key string) *websocket.Conn {
	t.Helper()
	c := openWS(t, ctx, base, subprotocol, nil)
	payload, _ := json.Marshal(map[string]string{"Authorization": "Bearer " + key})
	require.NoError(t, wsjson.Write(ctx, c, wsMessage{Type: "connection_init", Payload: payload}))
	ack := readWS(t, ctx, c)
	require.Equal(t, "connection_ack", ack.Type, string(ack.Payload))
	return c
}

// openWS opens a websocket to /graphql without the GraphQL handshake.
func openWS(t *testing.T, ctx context.Context, base, subprotocol string, header http.Header) *websocket.Conn {
	t.Helper()
	c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/graphql",
		&websocket.DialOptions{Subprotocols: []string{subprotocol}, HTTPHeader: header})
	require.NoError(t, err)
	require.Equal(t, subprotocol, resp.Header.Get("Sec-WebSocket-Protocol"))
	return c
}

// readWS reads the next message that is not a keep-alive.
func readWS(t *testing.T, ctx context.Context, c *websocket.Conn) wsMessage {
	t.Helper()
	for {
		var m wsMessage
		require.NoError(t, wsjson.Read(ctx, c, &m))
		if m.Type != "ka" && m.Type != "ping" && m.Type != "pong" {
			return m
		}
	}
}

// queryOverWebsocket runs one operation over an open websocket and returns its data.
func queryOverWebsocket(t *testing.T, ctx context.Context, c *websocket.Conn, subprotocol, query string) json.RawMessage {
	t.Helper()
	start, next := "subscribe", "next"
	if subprotocol == "graphql-ws" { // the legacy subscriptions-transport-ws protocol
		start, next = "start", "data"
	}
	payload, _ := json.Marshal(map[string]string{"query": query})
	require.NoError(t, wsjson.Write(ctx, c, wsMessage{ID: "1", Type: start, Payload: payload}))
	m := readWS(t, ctx, c)
	require.Equal(t, next, m.Type, string(m.Payload))
	require.Equal(t, "1", m.ID)
	var r gqlResponse
	require.NoError(t, json.Unmarshal(m.Payload, &r))
	require.Empty(t, r.Errors)
	done := readWS(t, ctx, c)
	require.Equal(t, "complete", done.Type)
	return r.Data
}

func wsContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestOversizedWebsocketMessageClosesTheConnection(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	svc := startService(t, dir)
	ctx := wsContext(t)
	c := dialGraphQL(t, ctx, svc.url, "graphql-transport-ws", svc.key)
	big := `{"id":"1","type":"subscribe","payload":{"query":"{ viewer { role } }","x":"` + strings.Repeat("x", maxWebsocketFrame) + `"}}`
	require.NoError(t, c.Write(ctx, websocket.MessageText, []byte(big)))
	_, _, err := c.Read(ctx)
	require.Equal(t, websocket.StatusMessageTooBig, websocket.CloseStatus(err), "got %v", err)
}
