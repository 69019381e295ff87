// Package feed fans values out to live subscribers in this process: GraphQL subscriptions
// listen, domain packages publish. A publisher never waits for a subscriber: each has a small
// buffer, and a subscriber that falls behind loses its oldest undelivered values, never the
// latest.
package feed

import (
	"context"
	"sync"
)

// Hub delivers values published on a topic (an organisation id) to that topic's subscribers.
type Hub[T any] struct {
	buffer int
	mu     sync.Mutex
	subs   map[string]map[chan T]struct{}
}

// New returns a hub whose subscribers each buffer up to buffer values.
func New[T any](buffer int) *Hub[T] {
	return &Hub[T]{buffer: max(1, buffer), subs: map[string]map[chan T]struct{}{}}
}

// Subscribe returns a channel of the topic's values from now on. It is closed when ctx ends.
// Sends and the close both happen under the hub's lock, so they never race.
func (h *Hub[T]) Subscribe(ctx context.Context, topic string) <-chan T {
	ch := make(chan T, h.buffer)
	h.mu.Lock()
	if h.subs[topic] == nil {
		h.subs[topic] = map[chan T]struct{}{}
	}
	h.subs[topic][ch] = struct{}{}
	h.mu.Unlock()
	context.AfterFunc(ctx, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		delete(h.subs[topic], ch)
		if len(h.subs[topic]) == 0 {
			delete(h.subs, topic)
		}
		close(ch)
	})
	return ch
}

// Publish hands v to every subscriber of the topic without waiting; a full subscriber drops its
// oldest value to make room. It returns how many values were dropped.
func (h *Hub[T]) Publish(topic string, v T) (dropped int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs[topic] {
		select {
		case ch <- v:
			continue
		default:
		}
		select {
		case <-ch:
			dropped++
		default:
		}
		select {
		case ch <- v:
		default:
			dropped++
		}
	}
	return dropped
}

// Subscribers counts the live subscriptions of every topic.
func (h *Hub[T]) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, s := range h.subs {
		n += len(s)
	}
	return n
}
