package server

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"
)

// streams keeps track of long-lived GraphQL connections (websockets and server-sent event
// streams). http.Server.Shutdown neither waits for hijacked websocket connections nor ends a
// stream that never finishes by itself, so on shutdown these are told to close, and waited for
// within a bound.
type streams struct {
	ctx    context.Context // cancelled when the server starts shutting down
	cancel context.CancelFunc
	mu     sync.Mutex // orders wg.Add before wg.Wait
	closed bool
	wg     sync.WaitGroup
}

func newStreams() *streams {
	ctx, cancel := context.WithCancel(context.Background())
	return &streams{ctx: ctx, cancel: cancel}
}

// isStream reports whether a request opens a long-lived connection.
func isStream(r *http.Request) bool {
	return r.Header.Get("Upgrade") != "" || strings.Contains(r.Header.Get("Accept"), "text/event-stream")
}

// track gives streaming requests a context that ends at shutdown, and lifts the server's read
// and write timeouts, which are meant for ordinary requests, from their connections.
func (s *streams) track(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isStream(r) {
			h.ServeHTTP(w, r)
			return
		}
		release, ok := s.hold()
		if !ok {
			w.Header().Set("Retry-After", "1")
			http.Error(w, "server is shutting down", http.StatusServiceUnavailable)
			return
		}
		defer release()
		rc := http.NewResponseController(w)
		_ = rc.SetReadDeadline(time.Time{})
		_ = rc.SetWriteDeadline(time.Time{})
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		stop := context.AfterFunc(s.ctx, cancel)
		defer stop()
		h.ServeHTTP(w, r.WithContext(ctx))
	})
}

// hold counts a stream open until release is called; false once shutdown has begun. A
// websocket, whose connection outlives its request, holds itself.
func (s *streams) hold() (release func(), ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, false
	}
	s.wg.Add(1)
	return s.wg.Done, true
}

// draining reports whether shutdown has begun.
func (s *streams) draining() bool { return s.ctx.Err() != nil }

// closeAll tells every stream to close and waits until they have, or ctx ends.
func (s *streams) closeAll(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
