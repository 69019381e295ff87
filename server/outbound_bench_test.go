package server

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/teamaccess/teamaccess/activities"
	"github.com/teamaccess/teamaccess/auth"
	"github.com/teamaccess/teamaccess/outbound"
)

// BenchmarkWebhookDelivery: from a change written to the first attempt at its delivery (p50,
// p99 over 50 changes, one at a time; target p99 under 1 s), and deliveries a second of a
// backlog of 300 changes of 20 mailboxes to a local receiver, from the first to the last,
// against a bare HTTP client posting the same bodies to it one after another, in one run
// (target at least 0.8×).
func BenchmarkWebhookDelivery(b *testing.B) {
	// The hub and the worker poll as in production (the hub is poked by each write), but for
	// the worker's, shortened from 2 s so that an enabled endpoint starts at once.
	e, svc := webhookEnvWith(b, activities.HubOptions{}, outbound.Options{Poll: 100 * time.Millisecond})
	e.spread = 20 // a burst from 20 mailboxes: deliveries of different mailboxes overlap
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
	actor := auth.CommandLine(e.org)
	ep, _, err := svc.Create(b.Context(), actor, outbound.NewEndpoint{URL: rcv.URL, Query: changedDoc})
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

		// A backlog: the burst is written while the endpoint is disabled, then it is enabled;
		// the rate is from its first delivery to its last.
		const burst = 300
		_, err := svc.Disable(b.Context(), actor, ep.ID)
		require.NoError(b, err)
		time.Sleep(100 * time.Millisecond) // the run stops at the next poll
		e.add(b, burst)
		n := count()
		_, err = svc.Enable(b.Context(), actor, ep.ID)
		require.NoError(b, err)
		for i := 0; count() < n+burst && i < 60_000; i++ { // bounded: 60 s
			time.Sleep(time.Millisecond)
		}
		mu.Lock()
		require.Equal(b, n+burst, len(arrivals))
		took := arrivals[len(arrivals)-1].Sub(arrivals[n])
		sent := append([][]byte(nil), bodies[n:n+burst]...)
		mu.Unlock()
		bare := time.Now()
		for _, body := range sent[1:] {
			resp, err := http.Post(rcv.URL, "application/json", bytes.NewReader(body))
			require.NoError(b, err)
			resp.Body.Close()
		}
		baseline := time.Since(bare)
		b.ReportMetric((burst-1)/took.Seconds(), "deliveries/s")
		b.ReportMetric((burst-1)/baseline.Seconds(), "bare-posts/s")
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
