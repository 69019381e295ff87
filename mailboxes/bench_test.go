package mailboxes_test

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/teamaccess/teamaccess/graphsim"
)

// Discovering and classifying a whole tenant (10,000 users; TEAMACCESS_BENCH_USERS to change it)
// against graphsim, on the embedded store: wall time, the Graph requests made against the
// minimum (one users/delta page per 100 users, one probe per non-guest user), and peak heap of
// the process (graphsim and the embedded database included). Run with -benchtime 1x.
// TEAMACCESS_BENCH_LATENCY (a duration, say 150ms) has Graph answer every request that late.
func BenchmarkDiscoverTenant(b *testing.B) {
	n := 10000
	if v, err := strconv.Atoi(os.Getenv("TEAMACCESS_BENCH_USERS")); err == nil && v > 0 {
		n = v
	}
	for range b.N {
		b.StopTimer()
		e := newEnv(b, time.Nanosecond)
		e.tenant = e.sim.AddTenant(graphsim.TenantSpec{Name: "Big"})
		allowed := make([]string, 0, n)
		for i := range n {
			u, err := e.sim.AddUser(e.tenant, graphsim.UserSpec{DisplayName: fmt.Sprintf("User %05d", i), UPN: fmt.Sprintf("u%05d@big.com", i), NoMailbox: i%50 == 0})
			if err != nil {
				b.Fatal(err)
			}
			if i%10 != 0 {
				allowed = append(allowed, u)
			}
		}
		if err := e.sim.GrantConsent(e.tenant, appID); err != nil {
			b.Fatal(err)
		}
		if err := e.sim.SetAccessPolicy(e.tenant, appID, allowed); err != nil {
			b.Fatal(err)
		}
		if d, err := time.ParseDuration(os.Getenv("TEAMACCESS_BENCH_LATENCY")); err == nil && d > 0 {
			e.sim.InjectFault(graphsim.Fault{Path: "/", Latency: d})
		}
		before := len(e.sim.Requests())
		var peak atomic.Uint64
		stop := make(chan struct{})
		go func() {
			var ms runtime.MemStats
			for {
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > peak.Load() {
					peak.Store(ms.HeapInuse)
				}
				select {
				case <-stop:
					return
				case <-time.After(50 * time.Millisecond):
				}
			}
		}()
		start := time.Now()
		b.StartTimer()
		if err := e.svc.Discover(b.Context(), e.org, e.tenant); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		wall := time.Since(start)
		close(stop)
		requests := len(e.sim.Requests()) - before
		minimum := (n+99)/100 + n
		sum, err := e.svc.Summary(b.Context(), e.org)
		if err != nil || sum.Total != n || sum.Unknown != 0 {
			b.Fatalf("not every mailbox was classified: %+v %v", sum, err)
		}
		b.ReportMetric(wall.Seconds(), "wall-s")
		b.ReportMetric(float64(requests), "graph-requests")
		b.ReportMetric(float64(minimum), "minimum-requests")
		b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MiB")
		b.Logf("%d users: %v, %d Graph requests (minimum %d), peak heap %.0f MiB, %+v", n, wall, requests, minimum, float64(peak.Load())/(1<<20), sum)
	}
}
