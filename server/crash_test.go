package server

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/teamaccess/teamaccess/graphsim"
	"github.com/teamaccess/teamaccess/store"
)

// TestServiceProcess is not a test: it is the child process of the crash test, teamaccess serve
// with the arguments it is given.
func TestServiceProcess(t *testing.T) {
	t.Parallel()
	raw := os.Getenv("TEAMACCESS_TEST_SERVE_ARGS")
	if raw == "" {
		t.Skip("the crash test's child process")
	}
	var args []string
	require.NoError(t, json.Unmarshal([]byte(raw), &args))
	if dir := os.Getenv("TEAMACCESS_BENCH_CHILD_PROFILES"); dir != "" {
		// A CPU profile of the process until it stops (SIGTERM), for benchmarks.
		f, err := os.CreateTemp(dir, "child-*.cpu")
		require.NoError(t, err)
		require.NoError(t, pprof.StartCPUProfile(f))
		rc := Run(context.Background(), append([]string{"serve"}, args...), func(string) string { return "" }, os.Stdout, os.Stderr)
		pprof.StopCPUProfile()
		_ = f.Close()
		os.Exit(rc)
	}
	os.Exit(Run(context.Background(), append([]string{"serve"}, args...), func(string) string { return "" }, os.Stdout, os.Stderr))
}

// child is teamaccess serve in a process of its own, to be killed.
type child struct {
	cmd  *exec.Cmd
	logs *logBuffer
	url  string
}

func startChild(t testing.TB, args []string) *child {
	t.Helper()
	raw, _ := json.Marshal(args)
	c := &child{logs: &logBuffer{}}
	c.cmd = exec.Command(os.Args[0], "-test.run=^TestServiceProcess$", "-test.count=1")
	c.cmd.Env = append(os.Environ(), "TEAMACCESS_TEST_SERVE_ARGS="+string(raw))
	if v := os.Getenv("TEAMACCESS_BENCH_CHILD_GOMAXPROCS"); v != "" {
		c.cmd.Env = append(c.cmd.Env, "GOMAXPROCS="+v)
	}
	c.cmd.Stderr = c.logs
	c.cmd.Stdout = c.logs
	require.NoError(t, c.cmd.Start())
	t.Cleanup(func() { _ = c.cmd.Process.Kill(); _ = c.cmd.Wait() })
	require.Eventually(t, func() bool {
		if e := c.logs.find("teamaccess is ready"); e != nil {
			c.url = e["listen"].(string)
			return true
		}
		return false
	}, 60*time.Second, 20*time.Millisecond, "child did not start")
	return c
}

func TestSIGKILLDuringANotificationBurstLosesNothingAcknowledged(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var acked []graphsim.Notification
	e := newHookEnv(t, 3, graphsim.Options{RetryBase: 200 * time.Millisecond, MaxDeliveryAttempts: 30,
		OnDelivered: func(_ string, items []graphsim.Notification) {
			mu.Lock()
			acked = append(acked, items...)
			mu.Unlock()
		}})
	args := e.args("--data-dir", e.dir, "--log-format", "json", "--shutdown-timeout", "5s")
	c := startChild(t, args)
	e.connect(t, c.url)
	ctx := t.Context()

	// A burst: 240 new messages over the three mailboxes, an edit of every 8th, a deletion of
	// every 12th; the process is killed a third of the way in and restarted a second later.
	var ids []string
	var killed, restarted time.Time
	for i := range 240 {
		u := e.users[i%len(e.users)]
		id := e.mail(t, u, fmt.Sprintf("burst %03d", i))
		ids = append(ids, id)
		if i%8 == 7 {
			require.NoError(t, e.sim.UpdateMessage(e.tenant, e.users[(i-4)%len(e.users)], ids[i-4], func(m *graphsim.Message) { m.Subject += " (edited)" }))
		}
		if i%12 == 11 {
			require.NoError(t, e.sim.DeleteMessage(e.tenant, e.users[(i-6)%len(e.users)], ids[i-6]))
		}
		switch i {
		case 80:
			require.NoError(t, c.cmd.Process.Signal(syscall.SIGKILL))
			_ = c.cmd.Wait()
			killed = time.Now()
		case 120:
			time.Sleep(time.Second) // down a while longer: Graph retries meanwhile
			c = startChild(t, args)
			restarted = time.Now()
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("killed at message 80, down %v", restarted.Sub(killed))
	require.NoError(t, e.sim.WaitDelivered(ctx))
	st := e.sim.DeliveryStats(fmt.Sprintf("http://127.0.0.1:%d/webhooks/graph/notifications", e.port))
	t.Logf("deliveries: %+v", st)
	require.Zero(t, st.Dropped)
	require.Positive(t, st.Failures, "deliveries failed while the process was down")

	// Graphsim's inbox messages, as the store should end up with them.
	truth := map[string]string{}
	for _, u := range e.users {
		ms, err := e.sim.Messages(e.tenant, u, "inbox")
		require.NoError(t, err)
		for _, m := range ms {
			truth[u+"|"+m.ID] = m.Subject
		}
	}
	var page struct {
		Activities struct{ TotalCount int }
	}
	require.Eventually(t, func() bool {
		require.Empty(t, gql(t, c.url, e.seeded.readerA, `{ activities(filter: {kinds: [EMAIL]}, first: 1) { totalCount } }`, nil, &page))
		return page.Activities.TotalCount == len(truth)
	}, 45*time.Second, 100*time.Millisecond, "want %d emails", len(truth))

	// The worker lease of the killed process lapses (10 s); the new one works off the rest.
	require.Eventually(t, func() bool {
		_, body := get(t, c.url+"/metrics")
		return strings.Contains(string(body), "\nteamaccess_notification_inbox_pending 0\n")
	}, 60*time.Second, 250*time.Millisecond, "the inbox is worked off")

	// Stop it and look at its store.
	require.NoError(t, c.cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, c.cmd.Wait())
	s, err := store.Open(ctx, store.Options{DataDir: e.dir, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	defer s.Close(context.Background())
	got := map[string]string{}
	for _, u := range e.users {
		as, err := s.Org(e.seeded.orgA).LiveActivities(ctx, u)
		require.NoError(t, err)
		for _, a := range as {
			require.NotContains(t, got, u+"|"+a.GraphID, "duplicate")
			got[u+"|"+a.GraphID] = a.Subject
		}
	}
	require.Equal(t, truth, got, "the store equals graphsim's ground truth")

	pending, entries, err := s.InboxEntries(ctx)
	require.NoError(t, err)
	require.Empty(t, pending, "every entry worked off")
	kept := map[string]bool{}
	for _, en := range entries {
		require.Equal(t, store.OutcomeDone, en.Outcome)
		kept[en.SubscriptionID+"|"+en.ItemID+"|"+en.ETag] = true
	}
	mu.Lock()
	defer mu.Unlock()
	for _, a := range acked {
		if a.LifecycleEvent == "" {
			k := a.SubscriptionID + "|" + fmt.Sprint(a.ResourceData["id"]) + "|" + fmt.Sprint(a.ResourceData["@odata.etag"])
			require.True(t, kept[k], "acknowledged with a 2xx but not in the inbox: %s", k)
		}
	}
	t.Logf("%d notifications acknowledged, %d inbox entries , %d emails", len(acked), len(entries), len(got))
}

// SIGKILL of the service during a burst of partner webhooks: after a restart every change is
// delivered at least once, in order per mailbox, and an event delivered twice has the same
// webhook-id.
func TestSIGKILLDuringAWebhookBurstLosesNoEvent(t *testing.T) {
	t.Parallel()
	e := newHookEnv(t, 2, graphsim.Options{})
	rcv := newReceiver(t)
	args := e.args("--data-dir", e.dir, "--log-format", "json", "--shutdown-timeout", "5s", "--webhook-allow-hosts", "127.0.0.1")
	c := startChild(t, args)
	e.connect(t, c.url)
	var created struct {
		CreateWebhookEndpoint struct{ Secret string }
	}
	require.Empty(t, gql(t, c.url, e.seeded.adminA, `mutation($u: String!) { createWebhookEndpoint(input: {url: $u,
		query: "subscription { activityChanged { type cursor activity { id subject } } }"}) { secret } }`, map[string]any{"u": rcv.srv.URL}, &created))
	rcv.mu.Lock()
	rcv.secret = created.CreateWebhookEndpoint.Secret
	rcv.mu.Unlock()

	const burst = 90
	for i := range burst {
		e.mail(t, e.users[i%len(e.users)], fmt.Sprintf("burst %03d", i))
		if i == 40 {
			require.Eventually(t, func() bool { return len(rcv.received()) > 5 }, 30*time.Second, 5*time.Millisecond, "deliveries under way")
			require.NoError(t, c.cmd.Process.Signal(syscall.SIGKILL))
			_ = c.cmd.Wait()
			c = startChild(t, args) // its lease on the endpoint lapses within 30 s
		}
		time.Sleep(5 * time.Millisecond)
	}
	type event struct {
		Data struct {
			ActivityChanged struct {
				Type, Cursor string
				Activity     struct{ ID, Subject string }
			}
		}
	}
	seen := func() (map[string]string, []string, int) { // webhook-id → cursor, subjects in order, deliveries
		byID, subjects := map[string]string{}, []string{}
		got := rcv.received()
		for _, d := range got {
			var ev event
			require.NoError(t, json.Unmarshal(d.body, &ev))
			if prev, ok := byID[d.id]; ok {
				require.Equal(t, prev, ev.Data.ActivityChanged.Cursor, "a webhook-id names one event")
				continue
			}
			byID[d.id] = ev.Data.ActivityChanged.Cursor
			if ev.Data.ActivityChanged.Type == "CREATED" {
				subjects = append(subjects, ev.Data.ActivityChanged.Activity.Subject)
			}
		}
		return byID, subjects, len(got)
	}
	require.Eventually(t, func() bool { _, s, _ := seen(); return len(s) >= burst }, 90*time.Second, 100*time.Millisecond, "every message's change delivered")
	byID, subjects, n := seen()
	for i := range burst {
		require.Contains(t, subjects, fmt.Sprintf("burst %03d", i))
	}
	// In order per mailbox: each mailbox's events, each at its first delivery, come in
	// change-log order (cursors sort as their changes do); message i went to user i%2.
	firsts := [2][]string{}
	seenID := map[string]bool{}
	for _, x := range rcv.received() {
		var ev event
		require.NoError(t, json.Unmarshal(x.body, &ev))
		var i int
		if _, err := fmt.Sscanf(ev.Data.ActivityChanged.Activity.Subject, "burst %d", &i); err != nil || seenID[x.id] {
			continue
		}
		seenID[x.id] = true
		firsts[i%2] = append(firsts[i%2], byID[x.id])
	}
	for _, f := range firsts {
		require.True(t, slices.IsSorted(f), "a mailbox's events out of order")
	}
	t.Logf("%d events, %d deliveries (%d repeated after the kill)", len(byID), n, n-len(byID))
}
