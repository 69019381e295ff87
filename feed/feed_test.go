package feed

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestTopicsAreSeparateAndClosedWithTheirContext(t *testing.T) {
	h := New[int](4)
	ctxA, cancelA := context.WithCancel(context.Background())
	a := h.Subscribe(ctxA, "org_a")
	ctxB, cancelB := context.WithCancel(context.Background())
	defer cancelB()
	b := h.Subscribe(ctxB, "org_b")
	h.Publish("org_a", 1)
	h.Publish("org_b", 2)
	require.Equal(t, 1, <-a)
	require.Equal(t, 2, <-b)
	select {
	case v := <-a:
		t.Fatalf("org_a got org_b's value %d", v)
	default:
	}
	cancelA()
	_, open := <-a
	require.False(t, open)
	require.Equal(t, 1, h.Subscribers())
}

// A subscriber that does not read never blocks the publisher, and keeps the latest values.
func TestSlowSubscriberNeverBlocksAndKeepsTheLatest(t *testing.T) {
	h := New[int](2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := h.Subscribe(ctx, "t")
	done := make(chan struct{})
	go func() {
		for i := range 1000 {
			h.Publish("t", i)
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("publisher blocked")
	}
	require.Equal(t, 998, <-ch)
	require.Equal(t, 999, <-ch)
}

// Many subscribers come and go with no goroutine left behind.
func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	h := New[int](1)
	var wg sync.WaitGroup
	for range 1024 {
		ctx, cancel := context.WithCancel(context.Background())
		ch := h.Subscribe(ctx, "t")
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range ch {
			}
		}()
		h.Publish("t", 1)
		cancel()
	}
	wg.Wait()
	require.Zero(t, h.Subscribers())
	require.Eventually(t, func() bool { return runtime.NumGoroutine() <= before+2 }, 5*time.Second, 10*time.Millisecond)
}

func BenchmarkPublish(b *testing.B) {
	h := New[int](16)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for range 100 {
		ch := h.Subscribe(ctx, "t")
		go func() {
			for range ch {
			}
		}()
	}
	for b.Loop() {
		h.Publish("t", 1)
	}
}

// A watcher is told of each value once it is on its channel, and of the close, so it can read
// without waiting on the channel.
func TestWatchNotifiesAfterEachValueAndTheClose(t *testing.T) {
	h := New[int](4)
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var seen []int
	var ch <-chan int
	ch = h.Watch(ctx, "org", func() {
		mu.Lock()
		defer mu.Unlock()
		select {
		case v, ok := <-ch:
			if !ok {
				v = -1
			}
			seen = append(seen, v)
		default:
			t.Error("notified with nothing on the channel")
		}
	})
	h.Publish("org", 1)
	h.Publish("other", 9)
	h.Publish("org", 2)
	cancel()
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(seen) == 3 }, time.Second, time.Millisecond)
	require.Equal(t, []int{1, 2, -1}, seen)
}
