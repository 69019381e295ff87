package server

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/stretchr/testify/require"
)

// The whole service, in process: start on a free port, answer over HTTP and both websocket
// subprotocols, stop on SIGTERM closing open websockets, start again on the same data
// directory and find what the first run wrote. Not parallel: it signals its own process, which
// stops every service a parallel test runs in it (run in parallel, it failed others at random:
// their next request found nothing listening).
func TestServiceStopsOnSignalAndRestartsWithItsData(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	svc := startService(t, dir)
	waitReady(t, svc.url)

	require.NotEmpty(t, svc.key, "the first start prints an admin key:\n%s", svc.stdout)
	resp, r := postGraphQL(t, svc.url, svc.key, serverInfoQuery)
	require.Equal(t, 200, resp.StatusCode)
	require.Empty(t, r.Errors, svc.logs.String())
	first := decodeServerInfo(t, r.Data).ServerInfo
	require.Equal(t, "FERRETDB", first.Storage.Engine)
	require.True(t, first.Storage.Embedded)
	require.Equal(t, "teamaccess", first.Storage.Database)
	require.Equal(t, 1, first.Installation.Starts)
	require.NotEmpty(t, first.Installation.ID)
	// FerretDB has no change streams: the activity feed says it polls, rather than retrying.
	require.Eventually(t, func() bool {
		e := svc.logs.find("the database has no change streams; polling the change log")
		return e != nil && e["component"] == "activities"
	}, 5*time.Second, 10*time.Millisecond, svc.logs.String())
	require.Nil(t, svc.logs.find("the change stream failed; polling the change log until it is back"))
	_, err := time.Parse(time.RFC3339, first.StartedAt)
	require.NoError(t, err)

	ctx := wsContext(t)
	for _, proto := range []string{"graphql-transport-ws", "graphql-ws"} {
		c := dialGraphQL(t, ctx, svc.url, proto, svc.key)
		got := decodeServerInfo(t, queryOverWebsocket(t, ctx, c, proto, serverInfoQuery)).ServerInfo
		require.Equal(t, first.Installation, got.Installation, proto)
		c.Close(websocket.StatusNormalClosure, "")
	}

	// A client that stays connected is told to go when the service stops.
	idle := dialGraphQL(t, ctx, svc.url, "graphql-transport-ws", svc.key)
	closed := make(chan error, 1)
	go func() {
		var m wsMessage
		for {
			if err := wsjson.Read(ctx, idle, &m); err != nil {
				closed <- err
				return
			}
		}
	}()

	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGTERM))
	select {
	case code := <-svc.exit:
		require.Equal(t, 0, code, svc.logs.String())
	case <-time.After(15 * time.Second):
		t.Fatalf("no exit after SIGTERM:\n%s", svc.logs)
	}
	select {
	case err := <-closed:
		var ce websocket.CloseError
		require.True(t, errors.As(err, &ce), "want a close frame, got %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("the open websocket was not closed at shutdown")
	}
	require.NotNil(t, svc.logs.find("store closed"))

	again := startService(t, dir)
	waitReady(t, again.url)
	require.Empty(t, again.key, "the admin key is printed once ever:\n%s", again.stdout)
	_, r = postGraphQL(t, again.url, svc.key, serverInfoQuery)
	require.Empty(t, r.Errors)
	second := decodeServerInfo(t, r.Data).ServerInfo
	require.Equal(t, first.Installation.ID, second.Installation.ID)
	require.Equal(t, first.Installation.CreatedAt, second.Installation.CreatedAt)
	require.Equal(t, 2, second.Installation.Starts)
	require.NotEqual(t, first.StartedAt, second.StartedAt)
}
