package gqlws

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/stretchr/testify/require"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/teamaccess/teamaccess/feed"
)

// tickFeed is the test's event source: a driven subscription (ticks) takes its numbers through
// pull, a plain one (plain) gets them from a goroutine.
type tickFeed struct {
	mu     sync.Mutex
	subs   map[*tickSub]struct{}
	plains map[chan int]struct{}
}

type tickSub struct {
	mu     sync.Mutex
	queue  []int
	ended  bool
	closed bool
	ch     chan int
	wake   func()
}

func (s *tickSub) pull() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) > 0 {
		s.ch <- s.queue[0]
		s.queue = s.queue[1:]
		return true
	}
	if s.ended && !s.closed {
		s.closed = true
		close(s.ch)
		return true
	}
	return false
}

// publish gives every subscriber v; end finishes every driven stream.
func (f *tickFeed) publish(v int, end bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for s := range f.subs {
		s.mu.Lock()
		if end {
			s.ended = true
		} else {
			s.queue = append(s.queue, v)
		}
		s.mu.Unlock()
		s.wake()
	}
	for ch := range f.plains {
		ch <- v
	}
}

func (f *tickFeed) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subs) + len(f.plains)
}

var testSchema = gqlparser.MustLoadSchema(&ast.Source{Input: `
	type Query { hello: String! }
	type Subscription { ticks: Int!, plain: Int! }
`})

// newTestHandler serves testSchema over t.
func newTestHandler(f *tickFeed, tr Transport) *handler.Server {
	srv := handler.New(&graphql.ExecutableSchemaMock{
		SchemaFunc: func() *ast.Schema { return testSchema },
		ComplexityFunc: func(context.Context, string, string, int, map[string]any) (int, bool) {
			return 1, true
		},
		ExecFunc: func(ctx context.Context) graphql.ResponseHandler {
			oc := graphql.GetOperationContext(ctx)
			if oc.Operation.Operation != ast.Subscription {
				return graphql.OneShot(&graphql.Response{Data: []byte(`{"hello":"world"}`)})
			}
			field := oc.Operation.SelectionSet[0].(*ast.Field).Name
			var ch chan int
			if drive := feed.DriverFrom(ctx); drive != nil && field == "ticks" {
				s := &tickSub{ch: make(chan int, 1)}
				s.wake = drive(s.pull)
				f.mu.Lock()
				f.subs[s] = struct{}{}
				f.mu.Unlock()
				context.AfterFunc(ctx, func() {
					f.mu.Lock()
					delete(f.subs, s)
					f.mu.Unlock()
				})
				ch = s.ch
			} else {
				ch = make(chan int, 16)
				f.mu.Lock()
				f.plains[ch] = struct{}{}
				f.mu.Unlock()
				context.AfterFunc(ctx, func() {
					f.mu.Lock()
					delete(f.plains, ch)
					f.mu.Unlock()
				})
			}
			return func(ctx context.Context) *graphql.Response {
				select {
				case v, ok := <-ch:
					if !ok {
						return nil
					}
					return &graphql.Response{Data: []byte(`{"` + field + `":` + strconv.Itoa(v) + `}`)}
				case <-ctx.Done():
					return nil
				}
			}
		},
	})
	srv.AddTransport(tr)
	return srv
}

type env struct {
	url  string
	feed *tickFeed
}

func newEnv(t *testing.T, tr Transport) *env {
	f := &tickFeed{subs: map[*tickSub]struct{}{}, plains: map[chan int]struct{}{}}
	if tr.InitFunc == nil {
		tr.InitFunc = func(ctx context.Context, p transport.InitPayload) (context.Context, error) {
			if p.Authorization() != "Bearer good" {
				return nil, errors.New("bad key")
			}
			return ctx, nil
		}
	}
	srv := httptest.NewServer(newTestHandler(f, tr))
	t.Cleanup(srv.Close)
	return &env{url: "ws" + strings.TrimPrefix(srv.URL, "http"), feed: f}
}

func (e *env) dial(t *testing.T, proto string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, e.url, &websocket.DialOptions{Subprotocols: []string{proto}})
	require.NoError(t, err)
	c.SetReadLimit(1 << 20)
	t.Cleanup(func() { _ = c.CloseNow() })
	return c
}

// open dials and initialises.
func (e *env) open(t *testing.T, proto string) *websocket.Conn {
	t.Helper()
	c := e.dial(t, proto)
	write(t, c, message{Type: "connection_init", Payload: json.RawMessage(`{"Authorization":"Bearer good"}`)})
	require.Equal(t, "connection_ack", read(t, c).Type)
	return c
}

func write(t *testing.T, c *websocket.Conn, m message) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, wsjson.Write(ctx, c, m))
}

// read returns the next message other than a keep-alive.
func read(t *testing.T, c *websocket.Conn) message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		var m message
		require.NoError(t, wsjson.Read(ctx, c, &m))
		if m.Type != "ka" {
			return m
		}
	}
}

// closed waits for the server to close the connection and returns the code and reason.
func closed(t *testing.T, c *websocket.Conn) (websocket.StatusCode, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for {
		if _, _, err := c.Read(ctx); err != nil {
			var ce websocket.CloseError
			require.True(t, errors.As(err, &ce), "want a close frame, got %v", err)
			return ce.Code, ce.Reason
		}
	}
}

func subscribe(id, query string) message {
	p, _ := json.Marshal(map[string]string{"query": query})
	return message{ID: id, Type: "subscribe", Payload: p}
}

func TestQueriesAndSubscriptionsOnBothProtocols(t *testing.T) {
	e := newEnv(t, Transport{})
	for _, proto := range []string{transportWS, legacyWS} {
		t.Run(proto, func(t *testing.T) {
			start, next := "subscribe", "next"
			if proto == legacyWS {
				start, next = "start", "data"
			}
			c := e.open(t, proto)
			m := subscribe("q", `{ hello }`)
			m.Type = start
			write(t, c, m)
			got := read(t, c)
			require.Equal(t, message{ID: "q", Type: next, Payload: json.RawMessage(`{"data":{"hello":"world"}}`)}, got)
			require.Equal(t, message{ID: "q", Type: "complete"}, read(t, c))

			for _, field := range []string{"ticks", "plain"} {
				m = subscribe(field, `subscription { `+field+` }`)
				m.Type = start
				write(t, c, m)
				require.Eventually(t, func() bool { return e.feed.count() == 1 }, 5*time.Second, time.Millisecond)
				for i := range 3 {
					e.feed.publish(i, false)
				}
				for i := range 3 {
					got := read(t, c)
					require.Equal(t, field, got.ID)
					require.Equal(t, next, got.Type)
					require.JSONEq(t, `{"data":{"`+field+`":`+strconv.Itoa(i)+`}}`, string(got.Payload), "in order")
				}
				if field == "ticks" { // the stream ends on the server's side
					e.feed.publish(0, true)
					require.Equal(t, message{ID: field, Type: "complete"}, read(t, c))
				} else { // the client stops it
					stop := message{ID: field, Type: "complete"}
					if proto == legacyWS {
						stop.Type = "stop"
					}
					write(t, c, stop)
					if proto == legacyWS {
						require.Equal(t, message{ID: field, Type: "complete"}, read(t, c))
					}
				}
				require.Eventually(t, func() bool { return e.feed.count() == 0 }, 5*time.Second, time.Millisecond, "the resolver's context ended")
			}
		})
	}
}

func TestProtocolViolationsCloseWithTheDocumentedCodes(t *testing.T) {
	e := newEnv(t, Transport{InitTimeout: 300 * time.Millisecond})
	init := message{Type: "connection_init", Payload: json.RawMessage(`{"Authorization":"Bearer good"}`)}
	cases := []struct {
		name   string
		send   []message
		code   websocket.StatusCode
		reason string
	}{
		{"subscribe before connection_init", []message{subscribe("1", `{ hello }`)}, closeUnauthorized, "Unauthorized"},
		{"two connection_init", []message{init, init}, closeTooManyInitReq, "Too many initialisation requests"},
		{"a running id again", []message{init, subscribe("1", `subscription { ticks }`), subscribe("1", `subscription { ticks }`)}, closeDuplicateID, "Subscriber for 1 already exists"},
		{"an unknown type", []message{init, {Type: "start"}}, closeBadRequest, "Invalid message received: unknown type start"},
		{"no connection_init in time", nil, closeInitTimeout, "Connection initialisation timeout"},
		{"a wrong key", []message{{Type: "connection_init", Payload: json.RawMessage(`{"Authorization":"Bearer bad"}`)}}, closeForbidden, "bad key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := e.dial(t, transportWS)
			for _, m := range tc.send {
				write(t, c, m)
			}
			code, reason := closed(t, c)
			require.Equal(t, tc.code, code)
			require.Equal(t, tc.reason, reason)
		})
	}
	t.Run("not JSON", func(t *testing.T) {
		c := e.dial(t, transportWS)
		require.NoError(t, c.Write(context.Background(), websocket.MessageText, []byte("hello")))
		code, _ := closed(t, c)
		require.EqualValues(t, closeBadRequest, code)
	})
	t.Run("legacy: a wrong key is told why", func(t *testing.T) {
		c := e.dial(t, legacyWS)
		write(t, c, message{Type: "connection_init", Payload: json.RawMessage(`{"Authorization":"Bearer bad"}`)})
		m := read(t, c)
		require.Equal(t, "connection_error", m.Type)
		require.JSONEq(t, `{"message":"bad key"}`, string(m.Payload))
		code, _ := closed(t, c)
		require.EqualValues(t, closeForbidden, code)
	})
}

func TestInvalidOperationsGetAnErrorAndTheConnectionLives(t *testing.T) {
	e := newEnv(t, Transport{})
	c := e.open(t, transportWS)
	write(t, c, subscribe("bad", `{ nope }`))
	m := read(t, c)
	require.Equal(t, "error", m.Type)
	require.Equal(t, "bad", m.ID)
	require.Contains(t, string(m.Payload), `Cannot query field \"nope\"`)
	write(t, c, message{Type: "ping", Payload: json.RawMessage(`{"n":1}`)})
	require.Equal(t, message{Type: "pong", Payload: json.RawMessage(`{"n":1}`)}, read(t, c))
	write(t, c, subscribe("bad", `{ hello }`)) // an id is free again once its operation ended
	require.Equal(t, "next", read(t, c).Type)
}

func TestOversizedMessageCloses1009(t *testing.T) {
	e := newEnv(t, Transport{ReadLimit: 1024})
	c := e.open(t, transportWS)
	write(t, c, subscribe("big", `{ hello }`+strings.Repeat(" ", 2048)))
	code, _ := closed(t, c)
	require.Equal(t, websocket.StatusMessageTooBig, code)
}

func TestShutdownClosesConnectionsAndReleasesThem(t *testing.T) {
	down, shutdown := context.WithCancel(context.Background())
	var mu sync.Mutex
	open, refuse := 0, false
	e := newEnv(t, Transport{Shutdown: down, Hold: func() (func(), bool) {
		mu.Lock()
		defer mu.Unlock()
		if refuse {
			return nil, false
		}
		open++
		return func() { mu.Lock(); open--; mu.Unlock() }, true
	}})
	c := e.open(t, transportWS)
	write(t, c, subscribe("t", `subscription { ticks }`))
	require.Eventually(t, func() bool { return e.feed.count() == 1 }, 5*time.Second, time.Millisecond)
	mu.Lock()
	refuse = true
	mu.Unlock()
	shutdown()
	code, _ := closed(t, c)
	require.Equal(t, websocket.StatusGoingAway, code)
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return open == 0 }, 5*time.Second, time.Millisecond)
	require.Eventually(t, func() bool { return e.feed.count() == 0 }, 5*time.Second, time.Millisecond)

	_, resp, err := websocket.Dial(context.Background(), e.url, &websocket.DialOptions{Subprotocols: []string{transportWS}})
	require.Error(t, err)
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "no new connection while shutting down")
}

// An idle connection with a driven subscription costs one goroutine, reading; delivering to
// it starts one only while there is something to write; and nothing is left once it closes.
func TestDrivenSubscriptionsHoldNoGoroutineWhileIdle(t *testing.T) {
	e := newEnv(t, Transport{})
	const n = 200
	before := runtime.NumGoroutine()
	conns := make([]*websocket.Conn, n)
	for i := range conns {
		conns[i] = e.open(t, transportWS)
		write(t, conns[i], subscribe("t", `subscription { ticks }`))
	}
	require.Eventually(t, func() bool { return e.feed.count() == n }, 10*time.Second, time.Millisecond)
	// The client's own goroutines: coder/websocket runs none per idle connection.
	settle := func(want int) int {
		var got int
		for range 200 {
			if got = runtime.NumGoroutine(); got <= want {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		return got
	}
	require.LessOrEqual(t, settle(before+n), before+n, "one goroutine per connection")
	for round := range 3 {
		e.feed.publish(round, false)
		for _, c := range conns {
			m := read(t, c)
			require.JSONEq(t, `{"data":{"ticks":`+strconv.Itoa(round)+`}}`, string(m.Payload))
		}
	}
	require.LessOrEqual(t, settle(before+n), before+n, "the writers are gone once idle")
	for _, c := range conns {
		require.NoError(t, c.Close(websocket.StatusNormalClosure, ""))
	}
	require.Eventually(t, func() bool { return e.feed.count() == 0 }, 10*time.Second, time.Millisecond)
	require.LessOrEqual(t, settle(before), before, "no goroutine left")
}

// A client that stops a subscription while its events pour in gets at most the few already on
// their way, and the connection goes on serving its next subscription.
func TestStoppingASubscriptionMidStreamLeavesTheConnectionWorking(t *testing.T) {
	e := newEnv(t, Transport{})
	c := e.open(t, transportWS)
	for round := range 20 {
		a, b := "a"+strconv.Itoa(round), "b"+strconv.Itoa(round)
		write(t, c, subscribe(a, `subscription { ticks }`))
		require.Eventually(t, func() bool { return e.feed.count() == 1 }, 5*time.Second, time.Millisecond)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := range 200 {
				e.feed.publish(i, false)
			}
		}()
		write(t, c, message{ID: a, Type: "complete"})
		<-done
		require.Eventually(t, func() bool { return e.feed.count() == 0 }, 5*time.Second, time.Millisecond)
		write(t, c, subscribe(b, `subscription { ticks }`))
		require.Eventually(t, func() bool { return e.feed.count() == 1 }, 5*time.Second, time.Millisecond)
		e.feed.publish(-1, false)
		for {
			m := read(t, c)
			if m.ID == b {
				require.JSONEq(t, `{"data":{"ticks":-1}}`, string(m.Payload))
				break
			}
			require.Equal(t, a, m.ID, "only the stopped subscription's last events before it")
		}
		write(t, c, message{ID: b, Type: "complete"})
		require.Eventually(t, func() bool { return e.feed.count() == 0 }, 5*time.Second, time.Millisecond)
	}
}
