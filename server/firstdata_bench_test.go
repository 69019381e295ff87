package server

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/teamaccess/teamaccess/deltasync"
	"github.com/teamaccess/teamaccess/graphsim"
)

// BenchmarkTimeToFirstData: a tenant of 100 mailboxes (TEAMACCESS_BENCH_MAILBOXES) of 500
// messages each, Graph answering every request after 150 ms, synced as the start of capture
// syncs them (every mailbox asked at once, as lifecycle does, 8 rounds at a time as the
// service runs them): the time until every mailbox has its
// newest page stored (its newest 50 messages and more), and until every mailbox has 500
// (targets: 60 s and 5 minutes), against a bare client reading each mailbox's newest 50 with
// one request, all at once, in the same run. Run with -benchtime 1x.
func BenchmarkTimeToFirstData(b *testing.B) {
	n := envInt("TEAMACCESS_BENCH_MAILBOXES", 100)
	e := newBenchEnv(b, n, 500, 0, 0)
	e.sim.InjectFault(graphsim.Fault{Path: "/", Latency: 150 * time.Millisecond})
	ctx := context.Background()
	for range b.N {
		// The service's defaults: 8 mailboxes' rounds at once (--sync-concurrency).
		s := deltasync.New(e.st, e.mc, deltasync.Options{Now: func() time.Time { return e.now }, MailFolders: []string{"inbox"}, Concurrency: 8, Rounds: 8})
		start := time.Now()
		var wg sync.WaitGroup
		for _, u := range e.users {
			wg.Go(func() { s.SyncNow(ctx, "org_sync", e.tenant, u) })
		}
		var first, all time.Duration
		for first == 0 || all == 0 { // bounded by the deadline below
			if time.Since(start) > 10*time.Minute {
				b.Fatalf("not done in 10 minutes (first data %v)", first)
			}
			states, err := e.st.Org("org_sync").DeltaStates(ctx, "")
			if err != nil {
				b.Fatal(err)
			}
			least, mail := int64(-1), 0
			for _, st := range states {
				if st.Scope == "mail:inbox" {
					mail++
					if least < 0 || st.RoundItems < least {
						least = st.RoundItems
					}
				}
			}
			if mail == n && least >= 50 && first == 0 {
				first = time.Since(start)
			}
			if mail == n && least >= 500 && all == 0 {
				all = time.Since(start)
			}
			time.Sleep(50 * time.Millisecond)
		}
		wg.Wait()
		// The first page was the newest: every mailbox holds its newest 50.
		for _, u := range e.users {
			acts, err := e.st.Org("org_sync").LiveActivities(ctx, u)
			if err != nil {
				b.Fatal(err)
			}
			got := map[string]bool{}
			for _, a := range acts {
				got[a.Subject] = true
			}
			for k := range 50 {
				if !got[fmt.Sprintf("m%d", k)] {
					b.Fatalf("%s lacks m%d", u, k)
				}
			}
		}

		bare := time.Now()
		var bwg sync.WaitGroup
		for _, u := range e.users {
			bwg.Go(func() {
				req, _ := http.NewRequest(http.MethodGet, e.sim.GraphURL()+"/users/"+u+"/mailFolders/inbox/messages?$top=50&$orderby=receivedDateTime%20desc", nil)
				req.Header.Set("Authorization", "Bearer "+e.token)
				resp, err := e.http.Do(req)
				if err != nil || resp.StatusCode != 200 {
					b.Errorf("bare read: %v %v", resp, err)
					return
				}
				resp.Body.Close()
			})
		}
		bwg.Wait()
		baseline := time.Since(bare)
		b.ReportMetric(first.Seconds(), "s-to-newest-page-of-every-mailbox")
		b.ReportMetric(all.Seconds(), "s-to-500-of-every-mailbox")
		b.ReportMetric(baseline.Seconds(), "s-bare-newest-50-of-every-mailbox")
		b.Logf("%d mailboxes x 500 messages, 150 ms a request: newest page of every mailbox %v, 500 of every mailbox %v; bare newest 50 of every mailbox %v",
			n, first.Round(time.Millisecond), all.Round(time.Millisecond), baseline.Round(time.Millisecond))
	}
}
