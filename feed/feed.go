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
	subs   map[string]map[chan T]func() // topic -> subscriber -> its notify (or nil)
}

// New returns a hub whose subscribers each buffer up to buffer values.
func New[T any](buffer int) *Hub[T] {
	return &Hub[T]{buffer: max(1, buffer), subs: map[string]map[chan T]func(){}}
}

// Subscribe returns a channel of the topic's values from now on. It is closed when ctx ends.
// Sends and the close both happen under the hub's lock, so they never race.
func (h *Hub[T]) Subscribe(ctx context.Context, topic string) <-chan T {
	return h.Watch(ctx, topic, nil)
}

// Watch is Subscribe that also calls notify (when not nil) after each value is put on the
// channel and after it is closed, outside the hub's lock: a reader can take values when told
// instead of waiting on the channel.
func (h *Hub[T]) Watch(ctx context.Context, topic string, notify func()) <-chan T {
	ch := make(chan T, h.buffer)
	h.mu.Lock()
	if h.subs[topic] == nil {
		h.subs[topic] = map[chan T]func(){}
	}
	h.subs[topic][ch] = notify
	h.mu.Unlock()
	context.AfterFunc(ctx, func() {
		h.mu.Lock()
		delete(h.subs[topic], ch)
		if len(h.subs[topic]) == 0 {
			delete(h.subs, topic)
		}
		close(ch)
		h.mu.Unlock()
		if notify != nil {
			notify()
		}
	})
	return ch
}

// Publish hands v to every subscriber of the topic without waiting; a full subscriber drops its
// oldest value to make room. It returns how many values were dropped.
func (h *Hub[T]) Publish(topic string, v T) (dropped int) {
	var notify []func()
	h.mu.Lock()
	for ch, n := range h.subs[topic] {
		if n != nil {
			notify = append(notify, n)
		}
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
	h.mu.Unlock()
	for _, n := range notify {
		n()
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

// Topics lists the topics that have live subscribers now.
func (h *Hub[T]) Topics() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]string, 0, len(h.subs))
	for t := range h.subs {
		out = append(out, t)
	}
	return out
}
