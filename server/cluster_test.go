package server

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/teamaccess/teamaccess/graphsim"
	"github.com/teamaccess/teamaccess/partition"
	"github.com/teamaccess/teamaccess/store"
)

// cluster is several teamaccess processes (children of the test binary) on one database and
// one graphsim. On SQLite the database is opened here, an embedded FerretDB the children reach
// over the wire protocol. On PostgreSQL (pgURL) each child runs its own embedded FerretDB on
// it, as a deployment of several processes on one PostgreSQL does (--embedded-postgresql-url),
// and this process's store is one more such client.
type cluster struct {
	e     *hookEnv
	st    *store.Store
	uri   string
	pg    string
	db    string
	procs []*child
}

func newCluster(t testing.TB, e *hookEnv, pgURL, database string) *cluster {
	t.Helper()
	o := store.Options{DataDir: e.dir, Database: database, Logger: slog.New(slog.DiscardHandler)}
	if pgURL != "" {
		if database == "" {
			database = fmt.Sprintf("cluster_%d", time.Now().UnixNano())
		}
		o.DataDir, o.PostgreSQLURL, o.Database = t.TempDir(), pgURL, database
	}
	st, err := store.Open(t.Context(), o)
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close(context.Background()) })
	if pgURL != "" {
		e.seeded = seedStore(t, st)
	}
	return &cluster{e: e, st: st, uri: st.EmbeddedURI(), pg: pgURL, db: database}
}

// start runs another process; the first listens on the environment's port, which Graph's
// notifications and the consent's redirect go to.
func (c *cluster) start(t testing.TB, extra ...string) *child {
	t.Helper()
	port := c.e.port
	if len(c.procs) > 0 {
		port = freePort(t)
	}
	args := []string{"--listen", fmt.Sprintf("127.0.0.1:%d", port), "--public-url", fmt.Sprintf("http://127.0.0.1:%d", c.e.port),
		"--data-dir", t.TempDir(),
		"--m365-client-id", hookApp, "--m365-client-secret", "s", "--m365-cloud", "custom",
		"--m365-authority-url", c.e.sim.AuthorityURL(), "--m365-graph-url", c.e.sim.GraphURL(),
		"--m365-ca-file", filepath.Join(c.e.dir, "graphsim-ca.pem"), "--log-format", "json", "--shutdown-timeout", "5s"}
	if c.pg != "" {
		args = append(args, "--embedded-postgresql-url", c.pg)
	} else {
		args = append(args, "--mongodb-uri", c.uri)
	}
	if c.db != "" {
		args = append(args, "--mongodb-database", c.db)
	}
	p := startChild(t, append(args, extra...))
	c.procs = append(c.procs, p)
	return p
}

// pidOf is the pid in a lease owner's name (host/pid/random).
func pidOf(owner string) int {
	parts := strings.Split(owner, "/")
	if len(parts) != 3 {
		return 0
	}
	pid, _ := strconv.Atoi(parts[1])
	return pid
}

// held counts the live partitions by the pid of their holder.
func (c *cluster) held(t testing.TB) map[int]int {
	terms, err := c.st.LeaseTerms(t.Context(), "partition/")
	require.NoError(t, err)
	out := map[int]int{}
	for _, l := range terms {
		if l.Live(time.Now()) {
			out[pidOf(l.Owner)]++
		}
	}
	return out
}

// evenly says whether the live processes hold every partition, each within 20% of an even share.
func evenly(held map[int]int, pids ...int) bool {
	total := 0
	for _, n := range held {
		total += n
	}
	even := float64(partition.Count) / float64(len(pids))
	for _, pid := range pids {
		if float64(held[pid]) < even*0.8 || float64(held[pid]) > even*1.2 {
			return false
		}
	}
	return total == partition.Count && len(held) == len(pids)
}

// processTag is the process part of a teamaccess User-Agent ("... (process 1a2b3c4d)").
func processTag(ua string) string {
	_, after, ok := strings.Cut(ua, "(process ")
	if !ok {
		return ""
	}
	tag, _, _ := strings.Cut(after, ")")
	return tag
}

// concurrentAcrossProcesses finds a mailbox that two processes sent requests to at once.
func concurrentAcrossProcesses(reqs []graphsim.Request, mailboxes []string) string {
	known := map[string]bool{}
	for _, m := range mailboxes {
		known[m] = true
	}
	by := map[string][]graphsim.Request{}
	for _, r := range reqs {
		if known[r.UserID] {
			by[r.UserID] = append(by[r.UserID], r)
		}
	}
	for m, rs := range by {
		slices.SortFunc(rs, func(a, b graphsim.Request) int { return a.At.Compare(b.At) })
		ends := map[string]time.Time{} // process -> end of its latest request
		for _, r := range rs {
			p := processTag(r.UserAgent)
			for other, end := range ends {
				if other != p && end.After(r.At) {
					return fmt.Sprintf("mailbox %s: process %s at %s while process %s's request ran until %s", m, p, r.At.Format(time.StampMicro), other, end.Format(time.StampMicro))
				}
			}
			if end := r.At.Add(r.Took); end.After(ends[p]) {
				ends[p] = end
			}
		}
	}
	return ""
}

// Three processes on one database share the Graph work: the partitions split evenly; one is
// killed and the others take its share at once (it was of this host; otherwise when its leases
// lapse, partition's tests); no mailbox ever has requests from two processes at once, none is
// throttled, and the store ends equal to graphsim's ground truth.
//
// 24 mailboxes on the embedded FerretDB over SQLite; under scripts/bench/with-postgres.sh with
// TEAMACCESS_BENCH_MAILBOXES=300, the 300 on FerretDB over PostgreSQL.
func TestThreeProcessesShareTheGraphWork(t *testing.T) {
	t.Parallel()
	pg, n := os.Getenv("TEAMACCESS_BENCH_POSTGRESQL_URL"), 24
	if pg != "" {
		n = envInt("TEAMACCESS_BENCH_MAILBOXES", n)
	}
	e := newHookEnv(t, n, graphsim.Options{})
	for i, u := range e.users {
		for k := range 4 {
			e.mail(t, u, fmt.Sprintf("before %02d.%d", i, k))
		}
	}
	c := newCluster(t, e, pg, "")
	a, b, victim := c.start(t), c.start(t), c.start(t)
	pids := []int{a.cmd.Process.Pid, b.cmd.Process.Pid, victim.cmd.Process.Pid}
	require.Eventually(t, func() bool { return evenly(c.held(t), pids...) }, 30*time.Second, 100*time.Millisecond,
		"three processes split the partitions within 20%% of even")
	t.Logf("partitions by process: %v", c.held(t))
	e.connect(t, a.url)
	c.waitTruth(t, "after the consent")

	start := time.Now()
	require.NoError(t, victim.cmd.Process.Signal(syscall.SIGKILL))
	_ = victim.cmd.Wait()
	require.Eventually(t, func() bool { return evenly(c.held(t), pids[:2]...) }, 30*time.Second, 50*time.Millisecond,
		"the killed process's partitions are taken within 30 s")
	t.Logf("the killed process's share taken in %v: %v", time.Since(start).Round(time.Millisecond), c.held(t))
	for i, u := range e.users {
		e.mail(t, u, fmt.Sprintf("after %02d", i))
	}
	c.waitTruth(t, "after the kill")

	reqs := e.sim.Requests()
	tags := map[string]bool{}
	for _, r := range reqs {
		require.NotEqual(t, 429, r.Status, "no request is throttled: %s %s", r.Method, r.Path)
		if r.UserID != "" {
			tags[processTag(r.UserAgent)] = true
		}
	}
	require.Len(t, tags, 3, "every process read mailboxes: %v", tags)
	require.Empty(t, concurrentAcrossProcesses(reqs, e.users))
}

// waitTruth waits until the store holds graphsim's inbox messages, no more and no fewer.
func (c *cluster) waitTruth(t testing.TB, when string) {
	t.Helper()
	truth := map[string]string{}
	for _, u := range c.e.users {
		ms, err := c.e.sim.Messages(c.e.tenant, u, "inbox")
		require.NoError(t, err)
		for _, m := range ms {
			truth[u+"|"+m.ID] = m.Subject
		}
	}
	var got map[string]string
	ok := func() bool {
		got = map[string]string{}
		for _, u := range c.e.users {
			as, err := c.st.Org(c.e.seeded.orgA).LiveActivities(t.Context(), u)
			require.NoError(t, err)
			for _, a := range as {
				if a.Scope == "mail:inbox" {
					got[u+"|"+a.GraphID] = a.Subject
				}
			}
		}
		return len(got) == len(truth)
	}
	require.Eventually(t, ok, 90*time.Second, 250*time.Millisecond, "%s: the store has %d of graphsim's %d messages", when, len(got), len(truth))
	require.Equal(t, truth, got, "%s: the store equals graphsim's ground truth", when)
}
