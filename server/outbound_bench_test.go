package server

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/teamaccess/teamaccess/auth"
	"github.com/teamaccess/teamaccess/outbound"
)

// BenchmarkWebhookDelivery: from a change written to the first attempt at its delivery (p50,
// p99 over 50 changes, one at a time; target p99 under 1 s), and deliveries a second of a burst
// of 300 changes to a local receiver against a bare HTTP client posting the same bodies to it
// one after another, in one run (target at least 0.8×).
func BenchmarkWebhookDelivery(b *testing.B) {
	e, svc := webhookEnv(b, outbound.Options{})
	var mu sync.Mutex
	var arrivals []time.Time
	var bodies [][]byte
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(r.Body)
		mu.Lock()
		arrivals = append(arrivals, time.Now())
		bodies = append(bodies, buf.Bytes())
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	b.Cleanup(rcv.Close)
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(arrivals) }
	_, _, err := svc.Create(b.Context(), auth.CommandLine(e.org), outbound.NewEndpoint{URL: rcv.URL, Query: changedDoc})
	require.NoError(b, err)
	runWebhooks(b, svc)
	for b.Loop() {
		var lat []time.Duration
		for range 50 {
			n := count()
			written := time.Now()
			e.add(b, 1)
			for i := 0; count() == n && i < 10_000; i++ { // bounded: 10 s
				time.Sleep(time.Millisecond)
			}
			mu.Lock()
			lat = append(lat, arrivals[len(arrivals)-1].Sub(written))
			mu.Unlock()
		}
		b.ReportMetric(float64(p50(lat).Microseconds())/1000, "change-to-attempt-p50-ms")
		b.ReportMetric(float64(p99(lat).Microseconds())/1000, "change-to-attempt-p99-ms")

		const burst = 300
		n := count()
		start := time.Now()
		e.add(b, burst)
		for i := 0; count() < n+burst && i < 60_000; i++ { // bounded: 60 s
			time.Sleep(time.Millisecond)
		}
		mu.Lock()
		took := arrivals[len(arrivals)-1].Sub(start)
		sent := append([][]byte(nil), bodies[n:n+burst]...)
		mu.Unlock()
		bare := time.Now()
		for _, body := range sent {
			resp, err := http.Post(rcv.URL, "application/json", bytes.NewReader(body))
			require.NoError(b, err)
			resp.Body.Close()
		}
		baseline := time.Since(bare)
		b.ReportMetric(burst/took.Seconds(), "deliveries/s")
		b.ReportMetric(burst/baseline.Seconds(), "bare-posts/s")
		b.ReportMetric(baseline.Seconds()/took.Seconds(), "ratio")
	}
}

func p50(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	for i := range s { // small: insertion sort
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s[len(s)/2]
}
