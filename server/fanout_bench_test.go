package server

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql/handler/transport"
	coderws "github.com/coder/websocket"

	"github.com/teamaccess/teamaccess/activities"
)

// BenchmarkFanOut holds idle activityChanged subscribers over websockets (FANOUT_SUBSCRIBERS,
// 10,000 by default) and measures the memory and goroutines each costs the server and how long
// one change takes to reach all of them: on our transport (gqlws), and on gqlgen's own
// websocket transport as the baseline. The subscribers live in a second process (this test
// binary again, as TestFanOutClient), so the figures are the server's alone and each process
// stays under the 20,000 file descriptors allowed here. Each op is one change, written and
// delivered to every subscriber; p50/p99 are over all deliveries.
//
//	ulimit -n 20000; go test ./server -run '^$' -bench FanOut -benchtime 20x
func BenchmarkFanOut(b *testing.B) {
	b.Run("transport=gqlws", func(b *testing.B) { benchFanOut(b) })
	b.Run("transport=gqlgen", func(b *testing.B) { benchFanOut(b, gqlgenWebsocket) })
}

// gqlgenWebsocket serves websockets with gqlgen's own transport, configured as this service
// configured it before gqlws.
func gqlgenWebsocket(d *deps) {
	init := websocketInit(d.directory, d.limits)
	limit := int64(maxWebsocketFrame)
	d.websocket = transport.Websocket{
		KeepAlivePingInterval: 15 * time.Second,
		InitTimeout:           10 * time.Second,
		PayloadReadLimit:      &limit,
		Implementation:        transport.CoderWebsocketImplementation{AcceptOptions: coderws.AcceptOptions{InsecureSkipVerify: true}},
		InitFunc: func(ctx context.Context, p transport.InitPayload) (context.Context, *transport.InitPayload, error) {
			got, err := init(ctx, p)
			if err != nil {
				return transport.WithWebsocketCloseCode(transport.AppendCloseReason(ctx, "Forbidden"), 4403), nil, err
			}
			return got, nil, nil
		},
	}
}

func benchFanOut(b *testing.B, opts ...func(*deps)) {
	n := 10000
	if v, err := strconv.Atoi(os.Getenv("FANOUT_SUBSCRIBERS")); err == nil && v > 0 {
		n = v
	}
	e := newActivityEnv(b, activities.HubOptions{}, opts...)
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapInuse + m.StackInuse
	}
	before, goroutines := heap(), runtime.NumGoroutine()
	cmd := exec.Command(os.Args[0], "-test.run=^TestFanOutClient$", "-test.timeout=30m")
	cmd.Env = append(os.Environ(), "FANOUT_CLIENT="+e.url+" "+e.key+" "+strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	lines := bufio.NewScanner(stdout)
	lines.Buffer(make([]byte, 1<<20), 16<<20)
	next := func() string {
		if !lines.Scan() {
			b.Fatalf("the client process ended: %v", lines.Err())
		}
		return lines.Text()
	}
	for !strings.HasPrefix(next(), "ready") {
	}
	for e.hub.Subscribers() < n {
		time.Sleep(10 * time.Millisecond)
	}
	per := float64(heap()-before) / float64(n)
	perG := float64(runtime.NumGoroutine()-goroutines) / float64(n)
	if path := os.Getenv("FANOUT_HEAPPROFILE"); path != "" { // where the memory goes, subscribers connected
		if f, err := os.Create(path); err == nil {
			_ = pprof.WriteHeapProfile(f)
			f.Close()
		}
	}

	var lat []time.Duration
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		e.add(b, 1)
		// The client prints, once all n have it, every arrival time (Unix ns).
		for _, f := range strings.Fields(strings.TrimPrefix(next(), "arrived ")) {
			ns, _ := strconv.ParseInt(f, 10, 64)
			lat = append(lat, time.Unix(0, ns).Sub(start))
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	// Again once changes have gone through: what each subscriber keeps after delivering.
	after := float64(heap()-before) / float64(n)
	b.ReportMetric(per/1024, "server-KiB/subscriber")
	b.ReportMetric(after/1024, "server-KiB/subscriber-after")
	b.ReportMetric(perG, "server-goroutines/subscriber")
	b.ReportMetric(float64(lat[len(lat)/2].Milliseconds()), "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Milliseconds()), "p99-ms")
	b.ReportMetric(float64(n), "subscribers")
}

// TestFanOutClient is BenchmarkFanOut's second process: it subscribes n times, says "ready",
// then for each change prints the arrival times at all n subscribers on one line.
func TestFanOutClient(t *testing.T) {
	t.Parallel()
	args := strings.Fields(os.Getenv("FANOUT_CLIENT"))
	if len(args) != 3 {
		t.Skip("run by BenchmarkFanOut")
	}
	url, key := args[0], args[1]
	n, _ := strconv.Atoi(args[2])
	ctx := context.Background()
	conns := subscribeMany(t, ctx, url, key, n)
	type arrival struct {
		change string
		at     int64
	}
	arrived := make(chan arrival, n)
	for _, c := range conns {
		go func() {
			for {
				ch, _, err := nextChange(ctx, c)
				if err != nil {
					return
				}
				arrived <- arrival{ch.Cursor, time.Now().UnixNano()}
			}
		}()
	}
	fmt.Println("ready")
	times := map[string][]string{}
	for a := range arrived {
		times[a.change] = append(times[a.change], strconv.FormatInt(a.at, 10))
		if len(times[a.change]) == n {
			fmt.Println("arrived " + strings.Join(times[a.change], " "))
			delete(times, a.change)
		}
	}
}
