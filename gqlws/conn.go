package gqlws

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gorilla/websocket"
)

// conn is one websocket connection. Its context is the connection's lifetime, stored because
// the operations started on it outlive any one call.
type conn struct {
	t       *Transport
	ws      *websocket.Conn
	exec    graphql.GraphExecutor
	d       dialect
	release func()

	ctx    context.Context // the connection's: operations run in contexts derived from it
	cancel context.CancelFunc

	wmu     sync.Mutex  // one writer at a time
	closing atomic.Bool // the server has sent its close frame

	mu          sync.Mutex
	initialised bool
	closed      bool
	ops         map[string]*operation
	ready       []*operation // driven operations with an event to send
	flushing    bool         // a goroutine is sending the ready operations' events
	timer       *time.Timer  // the init timeout, then the keep-alive
	recheck     *time.Timer  // Transport.Recheck's next call
	stopOnDown  func() bool  // unhooks the shutdown hook
}

// open arms the timers and limits of a new connection.
func (c *conn) open() {
	c.ws.SetReadLimit(c.t.ReadLimit)
	c.extendRead()
	c.ws.SetPongHandler(func(string) error { c.extendRead(); return nil })
	c.ws.SetCloseHandler(func(code int, _ string) error {
		// The client closes: echo its code, unless this is its answer to the server's close.
		if !c.closing.Load() {
			_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, ""), time.Now().Add(time.Second))
		}
		return nil
	})
	c.mu.Lock()
	c.timer = time.AfterFunc(c.t.InitTimeout, func() {
		c.mu.Lock()
		late := !c.initialised
		c.mu.Unlock()
		if late {
			c.close(closeInitTimeout, "Connection initialisation timeout")
		}
	})
	if c.t.Shutdown != nil {
		c.stopOnDown = context.AfterFunc(c.t.Shutdown, func() { c.close(websocket.CloseGoingAway, "server shutting down") })
	}
	c.mu.Unlock()
}

// extendRead gives the client three keep-alive intervals to send anything, a pong included.
func (c *conn) extendRead() {
	if !c.closing.Load() {
		_ = c.ws.SetReadDeadline(time.Now().Add(3 * c.t.KeepAlive))
	}
}

// read is the connection's one long-lived goroutine: it reads messages and acts on each, and
// closes the socket when reading ends, after the close handshake.
func (c *conn) read() {
	defer c.release()
	defer c.ws.Close()
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			c.closeAfterRead(err)
			return
		}
		if c.closing.Load() {
			continue // closed by the server: read on until the client's close, or a second
		}
		c.extendRead()
		var m message
		if err := json.Unmarshal(data, &m); err != nil || m.Type == "" {
			c.refuse("Invalid message received: not a JSON object with a type")
			continue
		}
		c.handle(m)
	}
}

// closeAfterRead closes the connection after its client did, or reading failed.
func (c *conn) closeAfterRead(err error) {
	var ce *websocket.CloseError
	switch {
	case errors.As(err, &ce):
		c.close(websocket.CloseNormalClosure, "")
	case errors.Is(err, websocket.ErrReadLimit):
		c.close(websocket.CloseMessageTooBig, "message too big") // gorilla has sent the close frame
		// Read the rest of the message and the client's close before closing the socket:
		// closing with unread data resets the connection, and the client may never see why.
		_, _ = io.Copy(io.Discard, io.LimitReader(c.ws.NetConn(), c.t.ReadLimit+1<<16))
	default:
		c.mu.Lock()
		closed := c.closed
		c.mu.Unlock()
		if !closed {
			c.t.Log.Debug("websocket read failed", "err", err)
		}
		c.close(websocket.CloseNormalClosure, "")
	}
}

// handle acts on one client message.
func (c *conn) handle(m message) {
	k := c.d.kindOf(m.Type)
	c.mu.Lock()
	initialised := c.initialised
	c.mu.Unlock()
	switch {
	case k == kindInit && initialised:
		if !c.d.legacy { // a legacy client's repeated init changes nothing
			c.close(closeTooManyInitReq, "Too many initialisation requests")
		}
	case k == kindInit:
		c.init(m.Payload)
	case k == kindPing:
		c.send(encode("", "pong", m.Payload))
	case k == kindPong:
	case k == kindTerminate:
		c.close(websocket.CloseNormalClosure, "terminated")
	case k == kindUnknown:
		c.refuse("Invalid message received: unknown type " + m.Type)
	case !initialised && c.d.legacy:
		c.send(encode("", "connection_error", connErrorPayload("unexpected message "+m.Type+" before connection_init")))
		c.close(websocket.CloseProtocolError, "unexpected message")
	case !initialised:
		c.close(closeUnauthorized, "Unauthorized")
	case k == kindSubscribe:
		c.subscribe(m)
	default: // kindStop
		c.stop(m.ID)
	}
}

// refuse closes the connection over a message it cannot understand.
func (c *conn) refuse(reason string) {
	if c.d.legacy {
		c.send(encode("", "connection_error", connErrorPayload(reason)))
		c.close(websocket.CloseProtocolError, "invalid message")
		return
	}
	c.close(closeBadRequest, reason)
}

// init authenticates the connection. The check runs on a goroutine of its own so that the
// reading goroutine's stack stays small.
func (c *conn) init(raw json.RawMessage) {
	var payload transport.InitPayload
	if len(raw) > 0 && string(raw) != "null" {
		if err := json.Unmarshal(raw, &payload); err != nil {
			c.refuse("Invalid message received: connection_init's payload is not an object")
			return
		}
	}
	type result struct {
		ctx context.Context
		err error
	}
	done := make(chan result, 1)
	go func() {
		ctx := c.ctx
		var err error
		if c.t.InitFunc != nil {
			ctx, err = c.t.InitFunc(c.ctx, payload)
		}
		done <- result{ctx, err}
	}()
	res := <-done
	if res.err != nil {
		code, reason := closeForbidden, closeReason(res.err.Error()) // why, not only "Forbidden"
		var ce *CloseError
		if errors.As(res.err, &ce) {
			code, reason = ce.Code, ce.Reason
		}
		if c.d.legacy {
			c.send(encode("", "connection_error", connErrorPayload(res.err.Error())))
		}
		c.close(code, reason)
		return
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.ctx, c.initialised = res.ctx, true
	c.timer.Stop()
	c.timer = time.AfterFunc(c.t.KeepAlive, c.keepAlive)
	if c.t.Recheck != nil {
		c.recheck = time.AfterFunc(c.t.RecheckEvery, c.checkAgain)
	}
	c.mu.Unlock()
	c.send(encode("", "connection_ack", nil))
	if c.d.legacy {
		c.send(encode("", "ka", nil))
	}
}

// allowed asks Transport.Recheck whether the connection may go on, and closes it if not.
func (c *conn) allowed() bool {
	if c.t.Recheck == nil {
		return true
	}
	c.mu.Lock()
	ctx := c.ctx
	c.mu.Unlock()
	err := c.t.Recheck(ctx)
	if err == nil {
		return true
	}
	code, reason := closeForbidden, closeReason(err.Error())
	var ce *CloseError
	if errors.As(err, &ce) {
		code, reason = ce.Code, closeReason(ce.Reason)
	}
	if c.d.legacy {
		c.send(encode("", "connection_error", connErrorPayload(err.Error())))
	}
	c.close(code, reason)
	return false
}

// closeReason fits a text in a close frame's reason: at most 123 bytes (RFC 6455, 5.5), cut at
// a character's boundary.
func closeReason(s string) string {
	if len(s) <= 123 {
		return s
	}
	s = s[:120]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}

// checkAgain is Transport.Recheck's timer: it comes again while the connection may go on.
func (c *conn) checkAgain() {
	if !c.allowed() {
		return
	}
	c.mu.Lock()
	if !c.closed {
		c.recheck.Reset(c.t.RecheckEvery)
	}
	c.mu.Unlock()
}

// keepAlive pings the client, and says "ka" to a legacy one, then comes again.
func (c *conn) keepAlive() {
	if c.d.legacy {
		c.send(encode("", "ka", nil))
	}
	c.wmu.Lock()
	err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.t.WriteTimeout))
	c.wmu.Unlock()
	if err != nil {
		c.close(websocket.CloseNormalClosure, "")
		return
	}
	c.mu.Lock()
	if !c.closed {
		c.timer.Reset(c.t.KeepAlive)
	}
	c.mu.Unlock()
}

// send writes one message; a failed write closes the connection.
func (c *conn) send(b []byte) bool {
	c.wmu.Lock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(c.t.WriteTimeout))
	err := c.ws.WriteMessage(websocket.TextMessage, b)
	c.wmu.Unlock()
	if err != nil {
		c.close(websocket.CloseNormalClosure, "")
		return false
	}
	return true
}

// close ends the connection once: its operations are cancelled and the close frame sent (when
// the connection still works); the reading goroutine closes the socket.
func (c *conn) close(code int, reason string) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	ops := c.ops
	c.ops, c.ready = nil, nil
	if c.recheck != nil {
		c.recheck.Stop()
	}
	if c.timer != nil {
		c.timer.Stop()
	}
	if c.stopOnDown != nil {
		c.stopOnDown()
	}
	c.mu.Unlock()
	for _, op := range ops {
		op.cancel()
	}
	c.cancel()
	c.closing.Store(true)
	if code != websocket.CloseMessageTooBig {
		// Without the write lock: a writer stuck on a client that reads nothing must not hold
		// the close up. gorilla allows a control frame beside a data frame.
		_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
	}
	// The reading goroutine closes the socket once the client has answered, or after a second.
	_ = c.ws.NetConn().SetReadDeadline(time.Now().Add(time.Second))
}
