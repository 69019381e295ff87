package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/teamaccess/teamaccess/graphsim"
	"github.com/teamaccess/teamaccess/store"
	"github.com/teamaccess/teamaccess/subscriptions"
)

// nullSyncer stands in for deltasync in the intake benchmark: the worker leases, groups and
// completes entries as in production, without Graph.
type nullSyncer struct{ rounds atomic.Int64 }

func (*nullSyncer) Scopes() []string { return []string{"mail:inbox"} }
func (n *nullSyncer) SyncScopes(context.Context, string, string, string, []string) error {
	n.rounds.Add(1)
	return nil
}

// intakeEnv is the webhook endpoint on a real HTTP server over the embedded store, with ten
// subscriptions whose clientStates are known.
type intakeEnv struct {
	st     *store.Store
	url    string
	subs   []string
	states []string
	client *http.Client
}

func newIntakeEnv(b *testing.B, h func(*subscriptions.Service) http.Handler) *intakeEnv {
	st := openBenchStore(b)
	e := &intakeEnv{st: st}
	for i := range 10 {
		id, state := fmt.Sprintf("9f1c0d2e-0000-4000-8000-%012d", i), fmt.Sprintf("state-%02d-%s", i, "k3y")
		hash := subscriptions.HashClientState(state)
		if err := st.SaveGraphSubscription(b.Context(), store.GraphSubscription{ID: fmt.Sprintf("org|u%d|mail:inbox", i), OrgID: "org", TenantID: "t",
			MailboxID: fmt.Sprintf("u%d", i), Scope: "mail:inbox", SubscriptionID: id, ClientStateHash: hash, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
			b.Fatal(err)
		}
		e.subs, e.states = append(e.subs, id), append(e.states, state)
	}
	svc := subscriptions.New(st, nil, &nullSyncer{}, subscriptions.Options{BaseURL: "https://example.com", Log: slog.New(slog.DiscardHandler)})
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	if os.Getenv("INTAKE_ONLY") != "" {
		svc.RunIntake(ctx)
	} else {
		go svc.Run(ctx)
	}
	srv := httptest.NewServer(h(svc))
	b.Cleanup(srv.Close)
	e.url = srv.URL + subscriptions.NotificationPath
	e.client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}}
	return e
}

// openBenchStore is the embedded store on SQLite, or on PostgreSQL under
// scripts/bench/with-postgres.sh (a fresh database each time).
func openBenchStore(b *testing.B) *store.Store {
	o := store.Options{DataDir: b.TempDir(), Logger: slog.New(slog.DiscardHandler)}
	if url := os.Getenv("TEAMACCESS_BENCH_POSTGRESQL_URL"); url != "" {
		o.PostgreSQLURL, o.Database = url, "bench"+strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	st, err := store.Open(b.Context(), o)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close(context.Background()) })
	return st
}

// body is a delivery of n notifications, as Graph sends them.
func (e *intakeEnv) body(n, seq int) []byte {
	items := make([]map[string]any, n)
	for i := range items {
		k := (seq + i) % len(e.subs)
		id := fmt.Sprintf("AAMkAGI2TG93AAA=%d-%d", seq, i)
		items[i] = map[string]any{"subscriptionId": e.subs[k], "clientState": e.states[k], "changeType": "created",
			"subscriptionExpirationDateTime": "2030-01-01T00:00:00Z", "tenantId": "84bd8158-6d4d-4958-8b9f-9d6445542f95",
			"resource": "Users/u/Messages/" + id, "resourceData": map[string]any{"@odata.type": "#Microsoft.Graph.Message",
				"@odata.id": "Users/u/Messages/" + id, "@odata.etag": `W/"CQAAABYAAAD"`, "id": id}}
	}
	out, _ := json.Marshal(map[string]any{"value": items})
	return out
}

func (e *intakeEnv) post(body []byte) error {
	resp, err := e.client.Post(e.url, "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// closedLoop sends deliveries from `clients` goroutines as fast as they are answered until n
// notifications went, and reports notifications/s and the acknowledgement latencies.
func closedLoop(b *testing.B, clients, batch int, send func(seq int) error) {
	var mu sync.Mutex
	var lat []time.Duration
	var next atomic.Int64
	var failed atomic.Pointer[error]
	deliveries := max(b.N/batch, clients)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for {
				seq := int(next.Add(1))
				if seq > deliveries {
					break
				}
				t := time.Now()
				if err := send(seq * batch); err != nil {
					failed.CompareAndSwap(nil, &err)
					return
				}
				mine = append(mine, time.Since(t))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	report(b, start, &failed, lat, deliveries*batch)
}

// report stops the clock, fails on the first error and reports the rate and latencies.
func report(b *testing.B, start time.Time, failed *atomic.Pointer[error], lat []time.Duration, notifications int) {
	elapsed := time.Since(start)
	b.StopTimer()
	if err := failed.Load(); err != nil {
		b.Fatal(*err)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(notifications)/elapsed.Seconds(), "notifications/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(0, "ns/op")
}

// openLoop sends deliveries at a fixed rate of notifications per second, whatever the answers'
// pace (as Graph does), until n notifications went, and reports the latencies.
func openLoop(b *testing.B, rate, batch int, send func(seq int) error) {
	deliveries := max(b.N/batch, 1)
	every := time.Second * time.Duration(batch) / time.Duration(rate)
	lat := make([]time.Duration, deliveries)
	var failed atomic.Pointer[error]
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for i := range deliveries {
		if d := time.Until(start.Add(time.Duration(i) * every)); d > 0 {
			time.Sleep(d)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.Now()
			if err := send(i * batch); err != nil {
				failed.CompareAndSwap(nil, &err)
			}
			lat[i] = time.Since(t)
		}()
	}
	wg.Wait()
	report(b, start, &failed, lat, deliveries*batch)
}

// BenchmarkWebhookIntake measures change notifications acknowledged per second and the
// acknowledgement latency, batches of 1 and 100, 32 concurrent deliveries, on the embedded store
// (FerretDB on SQLite), against two limits measured in the same run: a handler that only reads
// the body and answers 202 (the HTTP limit of the machine) and the store's raw bulk insert of
// the same entries (one InsertMany per delivery, 32 at a time). The rate-2000 runs deliver at a
// fixed 2,000 notifications/s, as Graph would, and report the latency at that load (target p99 <
// 100 ms). One iteration is one notification.
//
//	go test ./server -run '^$' -bench WebhookIntake -benchtime 20000x
func BenchmarkWebhookIntake(b *testing.B) {
	readOnly := func(*subscriptions.Service) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.WriteHeader(http.StatusAccepted)
		})
	}
	intake := func(s *subscriptions.Service) http.Handler {
		return handleGraphWebhook(s, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	}
	const clients = 32
	for _, batch := range []int{1, 100} {
		b.Run(fmt.Sprintf("batch=%d/intake", batch), func(b *testing.B) {
			e := newIntakeEnv(b, intake)
			closedLoop(b, clients, batch, func(seq int) error { return e.post(e.body(batch, seq)) })
		})
		b.Run(fmt.Sprintf("batch=%d/baseline-read-only-handler", batch), func(b *testing.B) {
			e := newIntakeEnv(b, readOnly)
			closedLoop(b, clients, batch, func(seq int) error { return e.post(e.body(batch, seq)) })
		})
		b.Run(fmt.Sprintf("batch=%d/baseline-raw-insert", batch), func(b *testing.B) {
			e := newIntakeEnv(b, readOnly)
			closedLoop(b, clients, batch, func(seq int) error {
				es := make([]store.InboxEntry, batch)
				for i := range es {
					es[i] = store.InboxEntry{ID: bson.NewObjectID(), ReceivedAt: time.Now(), NotBefore: time.Now(), OrgID: "org", TenantID: "t", MailboxID: "u1",
						Scope: "mail:inbox", SubscriptionID: e.subs[0], ChangeType: "created", ItemID: fmt.Sprint(seq + i), ETag: `W/"CQAAABYAAAD"`}
				}
				return e.st.InsertInbox(context.Background(), es)
			})
		})
		b.Run(fmt.Sprintf("batch=%d/intake-rate-2000", batch), func(b *testing.B) {
			e := newIntakeEnv(b, intake)
			openLoop(b, 2000, batch, func(seq int) error { return e.post(e.body(batch, seq)) })
		})
	}
}

// BenchmarkNotificationToSubscriber measures the latency from a change in graphsim (a new
// message) to a GraphQL activityChanged subscriber, through the whole path: Graph's change
// notification, the webhook, the inbox, the worker, the delta round, the change log, the live
// hub and the websocket. Five mailboxes, messages at 50/s over them, the service in process on
// the embedded store; the scheduled sync waits an hour, so only notifications bring changes.
// Target: p99 under 2 s. One iteration is one message.
//
//	go test ./server -run '^$' -bench NotificationToSubscriber -benchtime 500x
func BenchmarkNotificationToSubscriber(b *testing.B) {
	e := newHookEnv(b, 5, graphsim.Options{})
	svc := startService(b, e.dir, e.args()...)
	e.connect(b, svc.url)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := subscribeWS(b, ctx, svc.url, e.seeded.readerA, "graphql-transport-ws", "")
	defer c.CloseNow()
	time.Sleep(300 * time.Millisecond)

	var mu sync.Mutex
	sent := map[string]time.Time{}
	var lat []time.Duration
	got := make(chan struct{}, b.N)
	go func() {
		for {
			m, _, err := nextChange(ctx, c)
			if err != nil {
				return
			}
			if m.Type != "CREATED" || m.Activity == nil {
				continue
			}
			mu.Lock()
			if at, ok := sent[m.Activity.Subject]; ok {
				lat = append(lat, time.Since(at))
				delete(sent, m.Activity.Subject)
				got <- struct{}{}
			}
			mu.Unlock()
		}
	}()
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		if d := time.Until(start.Add(time.Duration(i) * 20 * time.Millisecond)); d > 0 {
			time.Sleep(d)
		}
		subject := fmt.Sprintf("latency %06d", i)
		mu.Lock()
		sent[subject] = time.Now()
		mu.Unlock()
		e.mail(b, e.users[i%len(e.users)], subject)
	}
	timeout := time.After(60 * time.Second)
	for range b.N {
		select {
		case <-got:
		case <-timeout:
			b.Fatalf("%d of %d changes never reached the subscriber", len(sent), b.N)
		}
	}
	b.StopTimer()
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
	b.ReportMetric(0, "ns/op")
}
