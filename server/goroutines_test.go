package server

import (
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Every goroutine the service starts is joined when it stops: started and stopped 20 times in
// one process (demo mode: graphsim, the embedded store, the scheduler, the activity hub, the
// notification worker, the demo generator), it leaves no more goroutines than it found.
func TestServiceLeavesNoGoroutineBehind(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the service 20 times")
	}
	dir := filepath.Join(t.TempDir(), "data")
	svc := startService(t, dir) // warm up: lazily started runtime and library goroutines
	key := svc.key              // the first start's admin key
	svc.stop(t)
	settle := func(limit int) int {
		n := runtime.NumGoroutine()
		for deadline := time.Now().Add(10 * time.Second); n > limit && time.Now().Before(deadline); n = runtime.NumGoroutine() {
			time.Sleep(50 * time.Millisecond)
		}
		return n
	}
	before := settle(0)
	for i := range 20 {
		svc := startService(t, dir)
		if i == 0 { // Team Access active from then on: discovery, syncs and subscriptions under way at each stop
			connectDemo(t, svc.url, key)
		}
		svc.stop(t)
	}
	if after := settle(before); after > before {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		t.Fatalf("%d goroutines before, %d after 20 starts and stops:\n%s", before, after, leftOver(string(buf)))
	}
}

// leftOver is the goroutine dump without the test's own goroutines.
func leftOver(dump string) string {
	var b strings.Builder
	for _, g := range strings.Split(dump, "\n\n") {
		if strings.Contains(g, "testing.(*T).Run") || strings.Contains(g, "testing.tRunner") || strings.Contains(g, "testing.(*M)") {
			continue
		}
		fmt.Fprintln(&b, g)
		fmt.Fprintln(&b)
	}
	return b.String()
}
