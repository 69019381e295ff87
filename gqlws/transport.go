// Package gqlws serves GraphQL over websockets, in both subprotocols clients speak
// (graphql-transport-ws and the legacy graphql-ws), as a gqlgen transport.
//
// It exists for what an idle subscriber costs. gqlgen's own websocket transport keeps, per
// connection, the HTTP server's goroutine, a keep-alive goroutine and the HTTP server's 8 KiB of
// buffers, and per subscription a goroutine waiting on the resolver's channel: some 60 KiB for
// a connection with one subscription. Here a connection holds one goroutine waiting to read (a
// fresh one with a small stack), small read buffers, write buffers only while a message is
// written, timers instead of goroutines for keep-alives, and no goroutine per subscription whose
// resolver lets the transport drive it (see Driver): it is woken when an event is ready.
package gqlws

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gorilla/websocket"
)

// Transport is the gqlgen transport. Its zero value works; the fields tune it.
type Transport struct {
	// Context gives a connection its base context from the upgrade request; context.Background
	// if nil. The request's own context ends when the upgrade is done, so what a connection
	// needs from it (an identity the request carried) is copied here.
	Context func(r *http.Request) context.Context
	// InitFunc checks connection_init's payload and returns the context the connection's
	// operations run in. An error refuses the connection: closed with the code and reason of a
	// *CloseError, 4403 Forbidden otherwise, with the error's text sent first as
	// connection_error on the legacy protocol.
	InitFunc func(ctx context.Context, payload transport.InitPayload) (context.Context, error)
	// Recheck, if set, says whether the connection may go on: it is called with the
	// connection's context every RecheckEvery (5 s if zero), and before every operation
	// starts. An error closes the connection as InitFunc's does (a revoked or expired key).
	Recheck      func(ctx context.Context) error
	RecheckEvery time.Duration
	// InitTimeout is how long a client has to send connection_init (10 s if zero).
	InitTimeout time.Duration
	// KeepAlive is how often the server pings an idle connection (15 s if zero); a connection
	// that answers nothing for three intervals is closed. Legacy clients also get "ka" messages.
	KeepAlive time.Duration
	// ReadLimit bounds one message from the client (1 MiB if zero); a bigger one closes the
	// connection with 1009.
	ReadLimit int64
	// WriteTimeout bounds one write to the client (10 s if zero); a client that reads nothing
	// for that long is disconnected.
	WriteTimeout time.Duration
	// Hold, if set, is called when a connection opens: it returns what to call when the
	// connection closes, or false to refuse it (the server is shutting down).
	Hold func() (release func(), ok bool)
	// Shutdown, when done, closes every connection with 1001 Going Away.
	Shutdown context.Context
	// Log reports connections that end with an error; slog.Default() if nil.
	Log *slog.Logger
}

var _ graphql.Transport = Transport{}

// CloseError refuses a connection with a close code and reason.
type CloseError struct {
	Code   int
	Reason string
	Err    error // what the client is told, on the legacy protocol
}

func (e *CloseError) Error() string { return e.Err.Error() }
func (e *CloseError) Unwrap() error { return e.Err }

// Supports implements graphql.Transport: websocket upgrade requests.
func (t Transport) Supports(r *http.Request) bool {
	return r.Header.Get("Upgrade") != ""
}

// writeBuffers are shared by all connections: a connection holds one only while it writes.
var writeBuffers = &sync.Pool{}

// Do implements graphql.Transport: it upgrades the connection, hands it to a goroutine of its
// own and returns, so the HTTP server's goroutine and buffers are freed.
func (t Transport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	release := func() {}
	if t.Hold != nil {
		var ok bool
		if release, ok = t.Hold(); !ok {
			w.Header().Set("Retry-After", "1")
			http.Error(w, "server is shutting down", http.StatusServiceUnavailable)
			return
		}
	}
	up := websocket.Upgrader{
		ReadBufferSize:  512,
		WriteBufferPool: writeBuffers,
		Subprotocols:    []string{transportWS, legacyWS},
		// Callers authenticate with an API key in connection_init or a header, never with
		// cookies, so a page on another origin gains nothing a script of its own could not do:
		// frontends on any origin may connect.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	ws, err := up.Upgrade(w, r, nil) // answers the request itself when it fails
	if err != nil {
		release()
		return
	}
	ctx := context.Background()
	if t.Context != nil {
		ctx = t.Context(r)
	}
	c := &conn{t: t.withDefaults(), ws: ws, exec: exec, d: dialect{legacy: ws.Subprotocol() != transportWS}, release: release}
	c.ctx, c.cancel = context.WithCancel(ctx)
	c.open()
	go c.read()
}

func (t Transport) withDefaults() *Transport {
	if t.InitTimeout <= 0 {
		t.InitTimeout = 10 * time.Second
	}
	if t.KeepAlive <= 0 {
		t.KeepAlive = 15 * time.Second
	}
	if t.RecheckEvery <= 0 {
		t.RecheckEvery = 5 * time.Second
	}
	if t.ReadLimit <= 0 {
		t.ReadLimit = 1 << 20
	}
	if t.WriteTimeout <= 0 {
		t.WriteTimeout = 10 * time.Second
	}
	if t.Log == nil {
		t.Log = slog.Default()
	}
	return &t
}
