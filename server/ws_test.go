package server

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strconv"
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

// subscribeOverWebsocket opens a graphql-transport-ws websocket with key and subscribes to
// doc as operation "1".
func subscribeOverWebsocket(t *testing.T, ctx context.Context, base, key, doc string) *websocket.Conn {
	t.Helper()
	ws := dialGraphQL(t, ctx, base, "graphql-transport-ws", key)
	t.Cleanup(func() { _ = ws.CloseNow() })
	payload, _ := json.Marshal(map[string]string{"query": doc})
	require.NoError(t, wsjson.Write(ctx, ws, wsMessage{ID: "1", Type: "subscribe", Payload: payload}))
	return ws
}

func wsContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestOversizedWebsocketMessageClosesTheConnection(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	svc := startService(t, dir)
	ctx := wsContext(t)
	c := dialGraphQL(t, ctx, svc.url, "graphql-transport-ws", svc.key)
	big := `{"id":"1","type":"subscribe","payload":{"query":"{ viewer { role } }","x":"` + strings.Repeat("x", maxWebsocketFrame) + `"}}`
	require.NoError(t, c.Write(ctx, websocket.MessageText, []byte(big)))
	_, _, err := c.Read(ctx)
	require.Equal(t, websocket.StatusMessageTooBig, websocket.CloseStatus(err), "got %v", err)
}

func TestSubscriptionsPerConnectionAreLimited(t *testing.T) {
	t.Parallel()
	svc := startService(t, filepath.Join(t.TempDir(), "data"), "--rate-burst", "1000")
	ctx := wsContext(t)
	c := dialGraphQL(t, ctx, svc.url, "graphql-transport-ws", svc.key)
	t.Cleanup(func() { _ = c.CloseNow() }) // before the service stops: this client reads no close frame
	payload, _ := json.Marshal(map[string]string{"query": `subscription { teamAccessChanged { status } }`})
	for i := range maxSubscriptionsPerConnection {
		require.NoError(t, wsjson.Write(ctx, c, wsMessage{ID: strconv.Itoa(i), Type: "subscribe", Payload: payload}))
		require.Equal(t, "next", readWS(t, ctx, c).Type, "subscription %d", i)
	}
	require.NoError(t, wsjson.Write(ctx, c, wsMessage{ID: "extra", Type: "subscribe", Payload: payload}))
	m := readWS(t, ctx, c)
	require.Equal(t, "extra", m.ID)
	require.Contains(t, string(m.Payload), "TOO_MANY_SUBSCRIPTIONS")

	require.NoError(t, wsjson.Write(ctx, c, wsMessage{ID: "0", Type: "complete"}))
	// The place frees as soon as the server has ended subscription 0.
	for attempt := 0; ; attempt++ {
		require.Less(t, attempt, 100, "stopping a subscription never freed its place")
		id := "again-" + strconv.Itoa(attempt)
		require.NoError(t, wsjson.Write(ctx, c, wsMessage{ID: id, Type: "subscribe", Payload: payload}))
		m := readWS(t, ctx, c)
		for m.ID != id {
			m = readWS(t, ctx, c)
		}
		if m.Type == "next" {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
}
