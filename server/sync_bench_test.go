package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/teamaccess/teamaccess/deltasync"
	"github.com/teamaccess/teamaccess/graphsim"
	"github.com/teamaccess/teamaccess/m365"
	"github.com/teamaccess/teamaccess/store"
)

// benchEnv is a tenant of n mailboxes seeded with the given numbers of items each, the sync
// stack over it, and a bare HTTP client with a token for the baselines.
type benchEnv struct {
	sim    *graphsim.Sim
	st     *store.Store
	mc     *m365.Client
	tenant string
	users  []string
	token  string
	http   *http.Client
	now    time.Time
	// baseTook is how long the last baseline took, reading back excluded.
	baseTook time.Duration
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func newBenchEnv(b *testing.B, n, messages, meetings, contacts int) *benchEnv {
	b.Helper()
	sim, err := graphsim.Start(graphsim.Options{MailboxRequests: 1 << 30, Apps: []graphsim.App{{ID: syncApp, Secret: "s", Name: "teamaccess",
		Permissions: []string{"Calendars.Read", "User.Read.All", "Mail.Read", "Contacts.Read"}}}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(sim.Close)
	st, err := store.Open(context.Background(), store.Options{DataDir: b.TempDir(), PostgreSQLURL: os.Getenv("TEAMACCESS_BENCH_POSTGRESQL_URL"),
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close(context.Background()) })
	cl, _ := m365.CustomCloud(sim.AuthorityURL(), sim.GraphURL())
	mc, _ := m365.New(m365.Config{ClientID: syncApp, ClientSecret: "s", Cloud: cl, RootCAs: sim.CertPool()})
	e := &benchEnv{sim: sim, st: st, mc: mc, http: sim.HTTPClient(), now: time.Now().UTC()}
	e.tenant = sim.AddTenant(graphsim.TenantSpec{Name: "Bench", Domain: "bench.onmicrosoft.com"})
	var mbs []store.Mailbox
	for i := range n {
		upn := fmt.Sprintf("u%04d@bench.com", i)
		u, _ := sim.AddUser(e.tenant, graphsim.UserSpec{DisplayName: fmt.Sprintf("User %04d", i), UPN: upn})
		e.users = append(e.users, u)
		mbs = append(mbs, store.Mailbox{UserID: u, DisplayName: upn, UserPrincipalName: upn, Mail: upn, AccountEnabled: true})
		me := graphsim.EmailAddress{Address: upn}
		for k := range messages {
			_, _ = sim.AddMessage(e.tenant, u, "inbox", graphsim.Message{Subject: fmt.Sprintf("m%d", k), ReceivedDateTime: e.now.Add(-time.Duration(k) * time.Hour),
				From: &graphsim.Recipient{EmailAddress: customer}, ToRecipients: []graphsim.Recipient{{EmailAddress: me}}})
		}
		for k := range meetings {
			start := e.now.Add(time.Duration(k-meetings/2) * 12 * time.Hour)
			_, _ = sim.AddEvent(e.tenant, u, graphsim.Event{Subject: fmt.Sprintf("e%d", k), Start: graphsim.LocalTime(start), End: graphsim.LocalTime(start.Add(time.Hour)),
				Organizer: graphsim.Recipient{EmailAddress: me}, Attendees: []graphsim.Attendee{{Type: "required", EmailAddress: customer}}})
		}
		for k := range contacts {
			_, _ = sim.AddContact(e.tenant, u, graphsim.Contact{DisplayName: fmt.Sprintf("c%d", k), EmailAddresses: []graphsim.EmailAddress{customer}})
		}
	}
	if err := sim.GrantConsent(e.tenant, syncApp); err != nil {
		b.Fatal(err)
	}
	for _, org := range []string{"org_sync", "org_base"} {
		if err := st.Org(org).UpsertDirectoryUsers(context.Background(), e.tenant, mbs, e.now); err != nil {
			b.Fatal(err)
		}
	}
	resp, err := e.http.PostForm(sim.AuthorityURL()+"/"+e.tenant+"/oauth2/v2.0/token", url.Values{"grant_type": {"client_credentials"},
		"client_id": {syncApp}, "client_secret": {"s"}, "scope": {"https://graph.microsoft.com/.default"}})
	if err != nil {
		b.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	e.token = tok.AccessToken
	return e
}

// bareRound follows a delta round with a plain HTTP client and JSON decoding: the Graph side of
// the baseline. It returns the items of every page.
func (e *benchEnv) bareRound(b *testing.B, link string) [][]map[string]any {
	var pages [][]map[string]any
	for link != "" {
		req, _ := http.NewRequest(http.MethodGet, link, nil)
		req.Header.Set("Authorization", "Bearer "+e.token)
		req.Header.Set("Prefer", "odata.maxpagesize=100")
		resp, err := e.http.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		var body struct {
			Value []map[string]any `json:"value"`
			Next  string           `json:"@odata.nextLink"`
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			b.Fatalf("status %d: %v", resp.StatusCode, err)
		}
		pages = append(pages, body.Value)
		link = body.Next
	}
	return pages
}

// baseline fetches every round of every mailbox with a bare client and bulk-writes the very
// documents the syncer stored (read back from org_sync, rewritten for org_base) in batches of
// one page, 4 mailboxes at a time: the limit the syncer is held to.
func (e *benchEnv) baseline(b *testing.B) int {
	ctx := context.Background()
	src, dst := e.st.Org("org_sync"), e.st.Org("org_base")
	docs, contacts := map[string][]store.Activity{}, map[string][]store.PersonalContact{}
	for _, u := range e.users { // read back before the clock starts
		acts, err := src.LiveActivities(ctx, u)
		if err != nil {
			b.Fatal(err)
		}
		cs, err := src.LiveContacts(ctx, u)
		if err != nil {
			b.Fatal(err)
		}
		docs[u], contacts[u] = acts, cs
	}
	b.ResetTimer()
	start := time.Now()
	defer func() { e.baseTook = time.Since(start) }()
	var total atomic.Int64
	e.parallel(func(u string) {
		links := []string{
			e.mc.MessagesDeltaURL(u, "inbox", e.now.Add(-90*24*time.Hour), false), e.mc.MessagesDeltaURL(u, "sentitems", e.now.Add(-90*24*time.Hour), false),
			e.mc.EventsDeltaURL(u, e.now.Add(-90*24*time.Hour).Truncate(time.Hour), e.now.Add(180*24*time.Hour).Truncate(time.Hour)), e.mc.ContactsDeltaURL(u),
		}
		for _, l := range links {
			for _, page := range e.bareRound(b, l) {
				total.Add(int64(len(page)))
			}
		}
		acts := docs[u]
		for len(acts) > 0 {
			k := min(len(acts), 100)
			batch := acts[:k]
			for i := range batch {
				batch[i].ID = strings.Replace(batch[i].ID, "org_sync", "org_base", 1)
			}
			if _, err := dst.WriteActivities(ctx, batch); err != nil {
				b.Fatal(err)
			}
			acts = acts[k:]
		}
		cs := contacts[u]
		for i := range cs {
			cs[i].ID = strings.Replace(cs[i].ID, "org_sync", "org_base", 1)
		}
		if _, err := dst.WriteContacts(ctx, cs); err != nil {
			b.Fatal(err)
		}
	})
	return int(total.Load())
}

func (e *benchEnv) parallel(f func(user string)) {
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for _, u := range e.users {
		sem <- struct{}{}
		wg.Add(1)
		go func() { defer func() { <-sem; wg.Done() }(); f(u) }()
	}
	wg.Wait()
}

// The backfill of 100 mailboxes × (500 messages + 200 meetings + 100 contacts)
// (TEAMACCESS_BENCH_MAILBOXES to change the 100), against the same pages fetched bare plus the
// same number of documents bulk-written, in one run. Run with -benchtime 1x.
func BenchmarkBackfill(b *testing.B) {
	n := envInt("TEAMACCESS_BENCH_MAILBOXES", 100)
	e := newBenchEnv(b, n, 500, 200, 100)
	for range b.N {
		s := deltasync.New(e.st, e.mc, deltasync.Options{Now: func() time.Time { return e.now }})
		start := time.Now()
		var errs sync.Map
		e.parallel(func(u string) {
			if err := s.SyncMailbox(context.Background(), "org_sync", e.tenant, u); err != nil {
				errs.Store(u, err)
			}
		})
		took := time.Since(start)
		errs.Range(func(k, v any) bool { b.Fatalf("%v: %v", k, v); return false })

		items := e.baseline(b)
		base := e.baseTook
		if os.Getenv("TEAMACCESS_BENCH_AGAIN") != "" { // the syncer again, warm, into another organization
			for _, org := range []string{"org_sync2"} {
				mbs, _ := e.st.Org("org_sync").Mailboxes(context.Background(), store.MailboxQuery{})
				_ = e.st.Org(org).UpsertDirectoryUsers(context.Background(), e.tenant, mbs, e.now)
				s2 := deltasync.New(e.st, e.mc, deltasync.Options{Now: func() time.Time { return e.now }})
				start = time.Now()
				e.parallel(func(u string) { _ = s2.SyncMailbox(context.Background(), org, e.tenant, u) })
				b.Logf("warm syncer: %v", time.Since(start))
			}
		}
		b.ReportMetric(float64(items)/base.Seconds(), "baseline-items/s")
		b.ReportMetric(float64(items)/took.Seconds(), "sync-items/s")
		b.ReportMetric(took.Seconds()/base.Seconds(), "sync/baseline")
		b.Logf("%d mailboxes, %d items: baseline %v (%.0f items/s), syncer %v (%.0f items/s), ratio %.2f",
			n, items, base.Round(time.Millisecond), float64(items)/base.Seconds(), took.Round(time.Millisecond), float64(items)/took.Seconds(), took.Seconds()/base.Seconds())
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Steady state: 1,000 idle mailboxes (TEAMACCESS_BENCH_MAILBOXES to change it) polled on
// schedule, one poll of every round of every mailbox per cycle: CPU and heap per cycle, against
// the same delta requests made by a bare client, in one run. Run with -benchtime 1x.
func BenchmarkSteadyState(b *testing.B) {
	n := envInt("TEAMACCESS_BENCH_MAILBOXES", 1000)
	e := newBenchEnv(b, n, 1, 1, 1)
	s := deltasync.New(e.st, e.mc, deltasync.Options{Now: func() time.Time { return e.now }})
	links := make(map[string][]string, n)
	e.parallel(func(u string) { _ = s.SyncMailbox(context.Background(), "org_sync", e.tenant, u) }) // the backfill
	for _, u := range e.users {
		states, _ := e.st.Org("org_sync").DeltaStates(context.Background(), u)
		for _, st := range states {
			links[u] = append(links[u], st.Link)
		}
	}
	for range b.N {
		runtime.GC()
		cpu, start := cpuTime(), time.Now()
		var mu sync.Mutex
		e.parallel(func(u string) {
			mu.Lock()
			ls := links[u]
			mu.Unlock()
			for _, l := range ls {
				e.bareRound(b, l)
			}
		})
		baseCPU, baseWall := cpuTime()-cpu, time.Since(start)

		var peak uint64
		cpu, start = cpuTime(), time.Now()
		const cycles = 3
		for range cycles {
			e.parallel(func(u string) { _ = s.SyncMailbox(context.Background(), "org_sync", e.tenant, u) })
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
		syncCPU, syncWall := (cpuTime()-cpu)/cycles, time.Since(start)/cycles
		b.ReportMetric(baseCPU.Seconds(), "baseline-cpu-s/cycle")
		b.ReportMetric(syncCPU.Seconds(), "sync-cpu-s/cycle")
		b.ReportMetric(float64(peak)/(1<<20), "heap-MiB")
		b.Logf("%d idle mailboxes, %d rounds: bare client %v CPU (%v wall) a cycle; syncer %v CPU (%v wall) a cycle; heap %.0f MiB",
			n, 4*n, baseCPU.Round(time.Millisecond), baseWall.Round(time.Millisecond), syncCPU.Round(time.Millisecond), syncWall.Round(time.Millisecond), float64(peak)/(1<<20))
	}
}
