package server

import (
	"context"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/teamaccess/teamaccess/activities"
)

// BenchmarkFanOut holds idle activityChanged subscribers over websockets (FANOUT_SUBSCRIBERS,
// 4,000 by default: client and server share this process and its 20,000 file descriptors,
// two per connection) and measures the memory each costs and how long one change takes to
// reach all of them. Memory per subscriber counts both ends of each connection, so the server's
// share is less. Each op is one change, written and delivered to every subscriber; p99 is over
// all deliveries.
//
//	go test ./server -run '^$' -bench FanOut -benchtime 20x
func BenchmarkFanOut(b *testing.B) {
	n := 4000
	if v, err := strconv.Atoi(os.Getenv("FANOUT_SUBSCRIBERS")); err == nil && v > 0 {
		n = v
	}
	e := newActivityEnv(b, activities.HubOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapInuse + m.StackInuse
	}
	before, goroutines := heap(), runtime.NumGoroutine()
	conns := make([]*websocket.Conn, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for i := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			conns[i] = subscribeWS(b, ctx, e.url, e.key, "graphql-transport-ws", "")
		}()
	}
	wg.Wait()
	for e.hub.Subscribers() < n {
		time.Sleep(10 * time.Millisecond)
	}
	per := float64(heap()-before) / float64(n)
	perG := float64(runtime.NumGoroutine()-goroutines) / float64(n)

	// Each subscriber's reader reports when a change arrived.
	arrived := make(chan time.Time, n)
	for _, c := range conns {
		go func() {
			for {
				if _, _, err := nextChange(ctx, c); err != nil {
					return
				}
				arrived <- time.Now()
			}
		}()
	}
	var lat []time.Duration
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		e.add(b, 1)
		for range n {
			lat = append(lat, (<-arrived).Sub(start))
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(per/1024, "KiB/subscriber")
	b.ReportMetric(float64(lat[len(lat)/2].Milliseconds()), "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Milliseconds()), "p99-ms")
	b.ReportMetric(float64(n), "subscribers")
	b.ReportMetric(perG, "goroutines/subscriber")
	cancel()
	for _, c := range conns {
		_ = c.CloseNow()
	}
}
