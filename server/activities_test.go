package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/teamaccess/teamaccess/activities"
	"github.com/teamaccess/teamaccess/auth"
	"github.com/teamaccess/teamaccess/feed"
	"github.com/teamaccess/teamaccess/mailboxes"
	"github.com/teamaccess/teamaccess/resolvers"
	"github.com/teamaccess/teamaccess/store"
)

// countingMailboxes counts batched mailbox reads.
type countingMailboxes struct {
	*mailboxes.Service
	batches atomic.Int32
}

func (c *countingMailboxes) GetMany(ctx context.Context, orgID string, ids []string) (map[string]mailboxes.Mailbox, error) {
	c.batches.Add(1)
	return c.Service.GetMany(ctx, orgID, ids)
}

// countingActivities counts batched contact reads.
type countingActivities struct {
	*activities.Service
	batches atomic.Int32
}

func (c *countingActivities) ContactsByEmail(ctx context.Context, orgID string, emails []string) (map[string]activities.Contact, error) {
	c.batches.Add(1)
	return c.Service.ContactsByEmail(ctx, orgID, emails)
}

// activityEnv is the service's HTTP handler on a real store with two mailboxes, their
// activities and contacts, and a live hub.
type activityEnv struct {
	url, key, org string
	st            *store.Store
	dir           *auth.Directory
	res           *resolvers.Resolver
	graphql       http.Handler // the GraphQL handler alone, without authentication
	hub           *activities.Hub
	mailboxFeed   *feed.Hub[mailboxes.Mailbox]
	mbx           *countingMailboxes
	act           *countingActivities
	n             int
	pad           string // appended to subjects, to make changes big
	spread        int    // mailboxes add spreads activities over: u1 and u2 if 0
}

func newActivityEnv(t testing.TB, hub activities.HubOptions, opts ...func(*deps)) *activityEnv {
	t.Helper()
	return newActivityEnvWith(t, hub, store.Options{}, opts...)
}

// newActivityEnvWith is newActivityEnv on a store opened with o's monitor.
func newActivityEnvWith(t testing.TB, hub activities.HubOptions, o store.Options, opts ...func(*deps)) *activityEnv {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	o.DataDir, o.Logger = t.TempDir(), log
	if _, bench := t.(*testing.B); bench { // scripts/bench/with-postgres.sh: FerretDB on PostgreSQL
		o.PostgreSQLURL = os.Getenv("TEAMACCESS_BENCH_POSTGRESQL_URL")
		o.Database = "bench" + strconv.FormatInt(time.Now().UnixNano(), 36) // a fresh one per benchmark
	}
	st, err := store.Open(ctx, o)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close(context.Background()) })
	dir := auth.NewDirectory(st)
	boot, err := dir.Bootstrap(ctx)
	require.NoError(t, err)
	e := &activityEnv{key: boot.Secret, org: boot.Org.ID, st: st, dir: dir}
	require.NoError(t, st.Org(e.org).UpsertDirectoryUsers(ctx, "tenant-1", []store.Mailbox{
		{UserID: "u1", DisplayName: "Ann Lee", UserPrincipalName: "ann@contoso.com", Mail: "ann@contoso.com", AccountEnabled: true},
		{UserID: "u2", DisplayName: "Bob Ray", UserPrincipalName: "bob@contoso.com", Mail: "bob@contoso.com", AccountEnabled: true},
	}, time.Now()))
	_, err = st.Org(e.org).WriteContacts(ctx, []store.PersonalContact{{ID: store.ItemID(e.org, "u1", "contacts", "c1"), MailboxID: "u1",
		Scope: "contacts", GraphID: "c1", DisplayName: "Fay Buyer", Company: "Fabrikam", Emails: []string{"buyer@fabrikam.com"}, Phones: []string{}}})
	require.NoError(t, err)
	if hub.Log == nil {
		hub.Log = log
	}
	e.hub = activities.NewHub(st, hub)
	hctx, stop := context.WithCancel(ctx)
	t.Cleanup(stop)
	go e.hub.Run(hctx)
	e.mailboxFeed = feed.New[mailboxes.Mailbox](64)
	e.mbx = &countingMailboxes{Service: mailboxes.New(st, nil, dir, mailboxes.Options{Log: log, Publish: publishMailbox(e.mailboxFeed, st, e.hub, log, "", func(string) {})})}
	e.act = &countingActivities{Service: activities.New(st)}
	d := &deps{log: log, store: st, directory: dir, metrics: newMetrics(), streams: newStreams(), limits: newRateLimiter(1e6, 1e6)}
	if _, bench := t.(*testing.B); !bench {
		d.loaderWait = 50 * time.Millisecond // batches do not depend on a busy machine's scheduling
	}
	for _, o := range opts {
		o(d)
	}
	e.res = &resolvers.Resolver{Directory: dir, DB: storageDescriber{st}, Version: "test",
		Mailboxes: e.mbx, MailboxFeed: e.mailboxFeed, Activities: e.act, ActivityFeed: e.hub}
	d.graphql = newGraphQLHandler(e.res, d)
	e.graphql = d.graphql
	srv := httptest.NewServer(newHandler(d))
	t.Cleanup(srv.Close)
	e.url = srv.URL
	return e
}

var baseTime = time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)

// add stores emails (even n) and meetings (odd n) and logs them, as the delta sync does.
func (e *activityEnv) add(t testing.TB, count int) []string {
	t.Helper()
	var as []store.Activity
	var cs []store.Change
	var ids []string
	for range count {
		e.n++
		n, mbx := e.n, "u"+strconv.Itoa(1+e.n%max(e.spread, 2))
		a := store.Activity{ID: store.ItemID(e.org, mbx, "mail:inbox", fmt.Sprintf("g%05d", n)), MailboxID: mbx, Scope: "mail:inbox",
			GraphID: fmt.Sprintf("g%05d", n), Kind: "EMAIL", Direction: "INBOUND", Subject: fmt.Sprintf("Pricing %d", n) + e.pad,
			OccurredAt: baseTime.Add(time.Duration(n) * time.Minute), Participants: []store.Participant{
				{Address: "buyer@fabrikam.com", Name: "Fay", Role: "from"},
				{Address: "ann@contoso.com", Role: "to", Internal: true}}}
		if n%2 == 1 {
			a.ID, a.Scope, a.Kind, a.Direction = store.ItemID(e.org, mbx, "calendar", a.GraphID), "calendar", "MEETING", ""
			a.Start, a.End = a.OccurredAt, a.OccurredAt.Add(30*time.Minute)
			a.Participants = []store.Participant{{Address: "bob@contoso.com", Role: "organizer", Response: "organizer", Internal: true},
				{Address: "buyer@fabrikam.com", Role: "attendee", Response: "tentativelyAccepted"}}
		}
		as = append(as, a)
	}
	for i, a := range as {
		cs = append(cs, store.Change{Type: "CREATED", ActivityID: a.ID, At: time.Now(), Activity: &as[i]})
	}
	_, err := e.st.Org(e.org).WriteActivities(context.Background(), as)
	require.NoError(t, err)
	require.NoError(t, e.st.Org(e.org).AppendChanges(context.Background(), cs))
	for _, a := range as {
		ids = append(ids, a.GraphID)
	}
	e.hub.Poke()
	return ids
}

const activityPage = `query($after: String, $filter: ActivityFilter) {
  activities(first: 5, after: $after, filter: $filter) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node {
      __typename id kind occurredAt subject
      mailbox { id displayName }
      participants { email name role isInternal contact { displayName company } }
      ... on Email { direction from { email } to { email } }
      ... on Meeting { start end organizer { email response } attendees { email response } }
    } }
  }
}`

type activityNode struct {
	Typename string `json:"__typename"`
	ID       string `json:"id"`
	Kind     string `json:"kind"`
	Subject  string `json:"subject"`
	Mailbox  struct {
		ID          string `json:"id"`
		DisplayName string `json:"displayName"`
	} `json:"mailbox"`
	Participants []struct {
		Email      string `json:"email"`
		IsInternal bool   `json:"isInternal"`
		Contact    *struct {
			DisplayName string `json:"displayName"`
			Company     string `json:"company"`
		} `json:"contact"`
	} `json:"participants"`
	Direction string `json:"direction"`
	Organizer *struct {
		Email    string `json:"email"`
		Response string `json:"response"`
	} `json:"organizer"`
	Attendees []struct {
		Response string `json:"response"`
	} `json:"attendees"`
}

func TestActivitiesQueryPagesWithMailboxesAndContactsInOneBatchEach(t *testing.T) {
	t.Parallel()
	e := newActivityEnv(t, activities.HubOptions{})
	e.add(t, 12)
	var after any
	var seen []string
	for page := 0; ; page++ {
		before := [2]int32{e.mbx.batches.Load(), e.act.batches.Load()}
		_, r := postGraphQLVars(t, e.url, activityPage, map[string]any{"after": after}, "Authorization", "Bearer "+e.key)
		require.Empty(t, r.Errors)
		require.Equal(t, [2]int32{before[0] + 1, before[1] + 1}, [2]int32{e.mbx.batches.Load(), e.act.batches.Load()},
			"a page reads its mailboxes in one batch and its contacts in one batch, whatever its size")
		var d struct {
			Activities struct {
				TotalCount int
				PageInfo   struct {
					HasNextPage bool
					EndCursor   string
				}
				Edges []struct{ Node activityNode }
			}
		}
		require.NoError(t, json.Unmarshal(r.Data, &d))
		require.Equal(t, 12, d.Activities.TotalCount)
		for _, ed := range d.Activities.Edges {
			n := ed.Node
			seen = append(seen, n.Subject)
			require.Contains(t, []string{"Ann Lee", "Bob Ray"}, n.Mailbox.DisplayName)
			var buyer bool
			for _, p := range n.Participants {
				if p.Email == "buyer@fabrikam.com" {
					buyer = true
					require.False(t, p.IsInternal)
					require.NotNil(t, p.Contact)
					require.Equal(t, "Fabrikam", p.Contact.Company)
				} else {
					require.True(t, p.IsInternal)
					require.Nil(t, p.Contact)
				}
			}
			require.True(t, buyer)
			switch n.Typename {
			case "Email":
				require.Equal(t, "INBOUND", n.Direction)
			case "Meeting":
				require.Equal(t, "ORGANIZER", n.Organizer.Response)
				require.Equal(t, "TENTATIVELY_ACCEPTED", n.Attendees[0].Response)
			default:
				t.Fatalf("type %q", n.Typename)
			}
		}
		if !d.Activities.PageInfo.HasNextPage {
			break
		}
		after = d.Activities.PageInfo.EndCursor
	}
	want := []string{}
	for n := 12; n >= 1; n-- {
		want = append(want, fmt.Sprintf("Pricing %d", n))
	}
	require.Equal(t, want, seen, "newest first, each once")

	// A filter, by mailbox; node and activity by id.
	_, r := postGraphQLVars(t, e.url, `query($f: ActivityFilter) { activities(first: 100, filter: $f) { totalCount edges { node { id subject } } } }`,
		map[string]any{"f": map[string]any{"mailboxIds": []string{"mbx_u1"}, "kinds": []string{"EMAIL"}}}, "Authorization", "Bearer "+e.key)
	require.Empty(t, r.Errors)
	var f struct {
		Activities struct {
			TotalCount int
			Edges      []struct{ Node activityNode }
		}
	}
	require.NoError(t, json.Unmarshal(r.Data, &f))
	require.Equal(t, 6, f.Activities.TotalCount)
	id := f.Activities.Edges[0].Node.ID
	_, r = postGraphQLVars(t, e.url, `query($id: ID!) { activity(id: $id) { subject } node(id: $id) { id ... on Email { subject } } }`,
		map[string]any{"id": id}, "Authorization", "Bearer "+e.key)
	require.Empty(t, r.Errors)
	require.JSONEq(t, fmt.Sprintf(`{"activity":{"subject":%q},"node":{"id":%q,"subject":%q}}`,
		f.Activities.Edges[0].Node.Subject, id, f.Activities.Edges[0].Node.Subject), string(r.Data))

	// Bad input: a clear, typed error.
	for q, vars := range map[string]map[string]any{
		`query($a: String) { activities(after: $a) { totalCount } }`:          {"a": "garbage"},
		`query($f: ActivityFilter) { activities(filter: $f) { totalCount } }`: {"f": map[string]any{"mailboxIds": []string{"u1"}}},
		`{ activities(first: 1000) { totalCount } }`:                          nil,
	} {
		_, r := postGraphQLVars(t, e.url, q, vars, "Authorization", "Bearer "+e.key)
		require.Len(t, r.Errors, 1, q)
		require.Equal(t, "BAD_USER_INPUT", r.Errors[0].Extensions["code"], r.Errors[0].Message)
	}
	_, r = postGraphQLVars(t, e.url, `{ activity(id: "act_bm9uZQ") { subject } }`, nil, "Authorization", "Bearer "+e.key)
	require.Empty(t, r.Errors)
	require.JSONEq(t, `{"activity":null}`, string(r.Data))
}

const changedSub = `subscription($after: String) { activityChanged(after: $after) { type cursor activityId activity { subject } } }`

type changeMsg struct {
	Type, Cursor string
	ActivityID   string
	Activity     *struct{ Subject string }
}

// subscribeWS starts the activityChanged subscription on a new connection.
func subscribeWS(t testing.TB, ctx context.Context, url, key, proto, after string, opts ...func(*websocket.DialOptions)) *websocket.Conn {
	o := &websocket.DialOptions{Subprotocols: []string{proto}}
	for _, f := range opts {
		f(o)
	}
	c, _, err := websocket.Dial(ctx, "ws"+url[len("http"):]+"/graphql", o)
	require.NoError(t, err)
	c.SetReadLimit(1 << 20)
	init, _ := json.Marshal(map[string]string{"Authorization": "Bearer " + key})
	require.NoError(t, wsjson.Write(ctx, c, wsMessage{Type: "connection_init", Payload: init}))
	var ack wsMessage
	require.NoError(t, wsjson.Read(ctx, c, &ack))
	require.Equal(t, "connection_ack", ack.Type)
	start := "subscribe"
	if proto == "graphql-ws" {
		start = "start"
	}
	vars := map[string]any{}
	if after != "" {
		vars["after"] = after
	}
	p, _ := json.Marshal(map[string]any{"query": changedSub, "variables": vars})
	require.NoError(t, wsjson.Write(ctx, c, wsMessage{ID: "s", Type: start, Payload: p}))
	return c
}

// subscribeMany opens n activityChanged subscriptions, 32 handshakes at a time.
func subscribeMany(t testing.TB, ctx context.Context, url, key string, n int) []*websocket.Conn {
	conns := make([]*websocket.Conn, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for i := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			conns[i] = subscribeWS(t, ctx, url, key, "graphql-transport-ws", "")
		}()
	}
	wg.Wait()
	return conns
}

// nextChange reads the next change of a subscription.
func nextChange(ctx context.Context, c *websocket.Conn) (changeMsg, gqlResponse, error) {
	for {
		var m wsMessage
		if err := wsjson.Read(ctx, c, &m); err != nil {
			return changeMsg{}, gqlResponse{}, err
		}
		if m.Type != "next" && m.Type != "data" {
			if m.Type == "ka" || m.Type == "ping" || m.Type == "pong" {
				continue
			}
			return changeMsg{}, gqlResponse{}, fmt.Errorf("unexpected %s: %s", m.Type, m.Payload)
		}
		var r gqlResponse
		if err := json.Unmarshal(m.Payload, &r); err != nil {
			return changeMsg{}, r, err
		}
		var d struct{ ActivityChanged *changeMsg }
		_ = json.Unmarshal(r.Data, &d)
		if d.ActivityChanged == nil {
			return changeMsg{}, r, nil
		}
		return *d.ActivityChanged, r, nil
	}
}

func TestActivityChangedResumesAfterADisconnectOnBothWebsocketProtocols(t *testing.T) {
	t.Parallel()
	for _, proto := range []string{"graphql-transport-ws", "graphql-ws"} {
		t.Run(proto, func(t *testing.T) {
			e := newActivityEnv(t, activities.HubOptions{Interval: 10 * time.Millisecond})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c := subscribeWS(t, ctx, e.url, e.key, proto, "")
			require.Eventually(t, func() bool { return e.hub.Subscribers() == 1 }, 5*time.Second, 5*time.Millisecond)
			want := e.add(t, 10)
			var got []string
			var last string
			for range 4 {
				ch, r, err := nextChange(ctx, c)
				require.NoError(t, err)
				require.Empty(t, r.Errors)
				require.Equal(t, "CREATED", ch.Type)
				got = append(got, ch.Activity.Subject)
				last = ch.Cursor
			}
			_ = c.CloseNow() // the client drops mid-burst
			want = append(want, e.add(t, 10)...)
			c = subscribeWS(t, ctx, e.url, e.key, proto, last)
			defer c.CloseNow()
			for len(got) < len(want) {
				ch, r, err := nextChange(ctx, c)
				require.NoError(t, err)
				require.Empty(t, r.Errors)
				got = append(got, ch.Activity.Subject)
			}
			var wantSubjects []string
			for _, g := range want {
				n, _ := strconv.Atoi(g[1:])
				wantSubjects = append(wantSubjects, fmt.Sprintf("Pricing %d", n))
			}
			require.Equal(t, wantSubjects, got, "every change once, in order, across the reconnect")
		})
	}
}

func TestSlowWebsocketSubscriberGetsAResumeError(t *testing.T) {
	t.Parallel()
	e := newActivityEnv(t, activities.HubOptions{Interval: 5 * time.Millisecond, Buffer: 4})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// A client on a slow link: a small receive window, so the server's writes soon block.
	smallWindow := func(o *websocket.DialOptions) {
		o.HTTPClient = &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
				// Set before connecting, so the window is small from the start.
				return rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10) })
			}}
			return d.DialContext(ctx, network, addr)
		}}}
	}
	c := subscribeWS(t, ctx, e.url, e.key, "graphql-transport-ws", "", smallWindow)
	defer c.CloseNow()
	require.Eventually(t, func() bool { return e.hub.Subscribers() == 1 }, 5*time.Second, 5*time.Millisecond)
	// The client reads nothing while changes pour in, poll after poll: big ones, so that the
	// sockets' buffers fill soon.
	e.pad = strings.Repeat("x", 32<<10)
	deadline := time.Now().Add(60 * time.Second)
	for e.hub.Subscribers() == 1 {
		require.True(t, time.Now().Before(deadline), "never cut off after %d changes", e.n)
		e.add(t, 20)
		time.Sleep(6 * time.Millisecond)
	}
	t.Logf("cut off after %d changes, %v", e.n, time.Since(deadline.Add(-60*time.Second)))
	for {
		ch, r, err := nextChange(ctx, c)
		require.NoError(t, err)
		if len(r.Errors) > 0 {
			require.Equal(t, "SUBSCRIBER_TOO_SLOW", r.Errors[0].Extensions["code"])
			require.NotEmpty(t, r.Errors[0].Extensions["resumeAfter"])
			require.Contains(t, r.Errors[0].Message, "Subscribe again with after")
			break
		}
		require.Equal(t, "CREATED", ch.Type)
	}
	var m wsMessage
	require.NoError(t, wsjson.Read(ctx, c, &m))
	require.Equal(t, "complete", m.Type)
}

func TestThousandWebsocketSubscribersGetABurstInOrderThenLeaveNoGoroutines(t *testing.T) {
	e := newActivityEnv(t, activities.HubOptions{Interval: 20 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	require.Zero(t, subscriptionGoroutines(), "before")
	const subscribers, burst = 1000, 20
	conns := subscribeMany(t, ctx, e.url, e.key, subscribers)
	var wg sync.WaitGroup
	require.Eventually(t, func() bool { return e.hub.Subscribers() == subscribers }, 30*time.Second, 10*time.Millisecond)
	want := e.add(t, burst)
	var failures atomic.Int32
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range burst {
				ch, r, err := nextChange(ctx, c)
				if err != nil || len(r.Errors) > 0 || ch.Activity == nil || ch.Activity.Subject != "Pricing "+strconv.Itoa(mustAtoi(want[i][1:])) {
					failures.Add(1)
					return
				}
			}
		}()
	}
	wg.Wait()
	require.Zero(t, failures.Load(), "subscribers missed or reordered changes")
	for _, c := range conns {
		_ = c.Close(websocket.StatusNormalClosure, "")
	}
	require.Eventually(t, func() bool { return e.hub.Subscribers() == 0 }, 30*time.Second, 10*time.Millisecond)
	if !assert.Eventually(t, func() bool { return subscriptionGoroutines() == 0 }, 30*time.Second, 50*time.Millisecond) {
		var buf strings.Builder
		_ = pprof.Lookup("goroutine").WriteTo(&buf, 1)
		t.Fatalf("%d goroutines of subscriptions are left:\n%s", subscriptionGoroutines(), buf.String())
	}
}

// subscriptionGoroutines counts the goroutines that serve subscribers: websocket connections,
// gqlgen's subscription loops, the live feed's per-subscriber loops and HTTP connections. The
// store's connection pool, which grows under load and stays, is not one of them.
func subscriptionGoroutines() int {
	buf := make([]byte, 16<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "(*Hub).Run") || strings.Contains(g, "subscriptionGoroutines") {
			continue
		}
		for _, mark := range []string{"github.com/99designs/gqlgen", "github.com/coder/websocket", "github.com/gorilla/websocket",
			"teamaccess/activities.", "teamaccess/resolvers.", "teamaccess/gqlws.", "net/http.(*conn).serve"} {
			if strings.Contains(g, mark) {
				n++
				break
			}
		}
	}
	return n
}

func mustAtoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		panic(err)
	}
	return n
}

func TestActivityChangedOverServerSentEventsResumes(t *testing.T) {
	t.Parallel()
	e := newActivityEnv(t, activities.HubOptions{Interval: 10 * time.Millisecond})
	e.add(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The first change's cursor, from a live subscription that then ends.
	c := subscribeWS(t, ctx, e.url, e.key, "graphql-transport-ws", "")
	require.Eventually(t, func() bool { return e.hub.Subscribers() == 1 }, 5*time.Second, 5*time.Millisecond)
	e.add(t, 1)
	first, _, err := nextChange(ctx, c)
	require.NoError(t, err)
	_ = c.CloseNow()
	e.add(t, 2)

	resp := openEventStream(t, ctx, e.url, e.key, changedSub, map[string]any{"after": first.Cursor})
	require.Equal(t, "text/event-stream", strings.Split(resp.Header.Get("Content-Type"), ";")[0])
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var got []string
	for len(got) < 2 && sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok || data == "" {
			continue
		}
		var r struct {
			Data struct{ ActivityChanged changeMsg }
		}
		require.NoError(t, json.Unmarshal([]byte(data), &r), data)
		got = append(got, r.Data.ActivityChanged.Activity.Subject)
	}
	require.Equal(t, []string{"Pricing 5", "Pricing 6"}, got, "the changes after the cursor, replayed over SSE")
}

func TestContactsQueryWithTheirMailbox(t *testing.T) {
	t.Parallel()
	e := newActivityEnv(t, activities.HubOptions{})
	_, r := postGraphQLVars(t, e.url, `{ contacts(first: 10, filter: {search: "fabrikam"}) {
	  pageInfo { hasNextPage } edges { node { id displayName company emails mailbox { displayName } } } } }`, nil, "Authorization", "Bearer "+e.key)
	require.Empty(t, r.Errors)
	var d struct {
		Contacts struct {
			PageInfo struct{ HasNextPage bool }
			Edges    []struct {
				Node struct {
					ID, DisplayName, Company string
					Emails                   []string
					Mailbox                  struct{ DisplayName string }
				}
			}
		}
	}
	require.NoError(t, json.Unmarshal(r.Data, &d))
	require.Len(t, d.Contacts.Edges, 1)
	n := d.Contacts.Edges[0].Node
	require.Equal(t, "Fay Buyer", n.DisplayName)
	require.Equal(t, []string{"buyer@fabrikam.com"}, n.Emails)
	require.Equal(t, "Ann Lee", n.Mailbox.DisplayName)
	require.Regexp(t, "^con_", n.ID)
	require.False(t, d.Contacts.PageInfo.HasNextPage)
	_, r = postGraphQLVars(t, e.url, `query($id: ID!) { node(id: $id) { ... on Contact { displayName } } }`,
		map[string]any{"id": n.ID}, "Authorization", "Bearer "+e.key)
	require.Empty(t, r.Errors)
	require.JSONEq(t, `{"node":{"displayName":"Fay Buyer"}}`, string(r.Data))
}
