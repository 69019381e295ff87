package graphsim

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// How fast the simulator serves a delta page of 50 messages over HTTPS, against the same client
// fetching a small JSON document from the simulator (the TLS and HTTP cost alone), in one run.
// Later benchmarks use these figures to know the simulator is not their bottleneck.
func BenchmarkDeltaPage(b *testing.B) {
	f := newFixture(&testing.T{}, func(o *Options) { o.MailboxRequests = 1 << 30 })
	defer f.sim.Close()
	for i := range 50 {
		_, _ = f.sim.AddMessage(f.tenant, f.alice, "inbox", msg(fmt.Sprint("m", i)))
	}
	get := func(b *testing.B, url string, auth bool) {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if auth {
			req.Header.Set("Authorization", "Bearer "+f.token)
			req.Header.Set("Prefer", "odata.maxpagesize=50")
		}
		resp, err := f.http.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	b.Run("baseline-openid-config", func(b *testing.B) {
		url := f.sim.AuthorityURL() + "/" + f.tenant + "/v2.0/.well-known/openid-configuration"
		start := time.Now()
		for b.Loop() {
			get(b, url, false)
		}
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
	})
	b.Run("messages-delta-50", func(b *testing.B) {
		url := f.sim.GraphURL() + "/users/" + f.alice + "/mailFolders/inbox/messages/delta"
		start := time.Now()
		for b.Loop() {
			get(b, url, true)
		}
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
	})
}

// How many change notifications a second the simulator delivers to a webhook that answers 202
// at once, against the rate at which a plain client can POST one-notification batches to the
// same webhook (the endpoint's own limit), in one run.
func BenchmarkNotificationDelivery(b *testing.B) {
	var received atomic.Int64
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok := r.URL.Query().Get("validationToken"); tok != "" {
			_, _ = io.WriteString(w, tok)
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		received.Add(1)
		w.WriteHeader(http.StatusAccepted)
	}))
	defer hook.Close()
	b.Run("baseline-plain-posts", func(b *testing.B) {
		body := []byte(`{"value":[{"subscriptionId":"x","changeType":"created","resource":"Users/a/Messages/b","clientState":"s","tenantId":"t"}]}`)
		start := time.Now()
		for b.Loop() {
			resp, err := http.Post(hook.URL, "application/json", bytes.NewReader(body))
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "notifications/s")
	})
	b.Run("simulator", func(b *testing.B) {
		f := newFixture(&testing.T{})
		defer f.sim.Close()
		resp, _ := f.subscribe(&testing.T{}, "/users/"+f.alice+"/messages", hook.URL, nil)
		if resp.StatusCode != 201 {
			b.Fatalf("subscribe: %d", resp.StatusCode)
		}
		start := time.Now()
		for b.Loop() {
			if _, err := f.sim.AddMessage(f.tenant, f.alice, "inbox", msg("n")); err != nil {
				b.Fatal(err)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := f.sim.WaitDelivered(ctx); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "notifications/s")
	})
}
