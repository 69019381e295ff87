package server

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/teamaccess/teamaccess/activities"
	"github.com/teamaccess/teamaccess/examples/goclient"
)

// clientsDir holds the JavaScript clients (clients/package.json); .ci/run installs them with
// npm ci and sets TEAMACCESS_REQUIRE_NODE so that these tests cannot skip there.
var clientsDir = filepath.Join("..", "clients")

func requireNode(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(clientsDir, "node_modules"))
	}
	if err != nil {
		if os.Getenv("TEAMACCESS_REQUIRE_NODE") != "" {
			t.Fatalf("TEAMACCESS_REQUIRE_NODE is set but the clients cannot run: %v (npm ci --prefix clients)", err)
		}
		t.Skip("no Node.js or no clients/node_modules: .ci/run installs them (npm ci --prefix clients) and runs this test")
	}
	return node
}

// runClient runs one of clients/*.mjs against url with key. When the script says it is
// subscribing, e makes a change every 200 ms until the script ends.
func runClient(t *testing.T, node string, e *activityEnv, script string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Dir = clientsDir
	cmd.Env = append(os.Environ(), "TEAMACCESS_URL="+e.url, "TEAMACCESS_KEY="+e.key, "TEAMACCESS_ACTIVITIES="+strconv.Itoa(e.n))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	var lines []string
	var changes sync.WaitGroup
	stop := make(chan struct{})
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if sc.Text() == "subscribing" {
			changes.Go(func() {
				for range 300 { // bounded: a minute of changes
					select {
					case <-stop:
						return
					case <-time.After(200 * time.Millisecond):
						e.add(t, 1)
					}
				}
			})
		}
	}
	err = cmd.Wait()
	close(stop)
	changes.Wait()
	report := strings.Join(lines, "\n")
	require.NoError(t, err, "%s\n%s", report, stderr.String())
	return report
}

// The clients partners use, against the API as they would call it.
func TestJavaScriptClients(t *testing.T) {
	node := requireNode(t)
	e := newActivityEnv(t, activities.HubOptions{Interval: 20 * time.Millisecond},
		func(d *deps) { d.costs = newCostLimiter(1000, 10000) })
	e.add(t, 12)
	// The typed client: types generated from the schema for its operations, compiled by tsc.
	for _, tool := range [][]string{{"graphql-codegen", "--config", "codegen.yml"}, {"tsc", "-p", "."}} {
		cmd := exec.CommandContext(t.Context(), filepath.Join("node_modules", ".bin", tool[0]), tool[1:]...)
		cmd.Dir = clientsDir
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s: %s", tool[0], out)
	}
	for _, script := range []string{"audit.mjs", "urql.mjs", "apollo.mjs", "sse.mjs", "typed/dist/main.js"} {
		t.Run(strings.Split(script, ".")[0], func(t *testing.T) {
			t.Log(runClient(t, node, e, script))
		})
	}
}

// The schema-change check (clients/schema.mjs, GraphQL Inspector): the schema against its
// committed snapshot has no breaking change, and the check fails on a deliberate one.
func TestSchemaChangesAreClassifiedAndBreakingOnesFail(t *testing.T) {
	node := requireNode(t)
	for _, args := range [][]string{{"schema.mjs", "self-test"}, {"schema.mjs", "check"}} {
		cmd := exec.CommandContext(t.Context(), node, args...)
		cmd.Dir = clientsDir
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		t.Logf("%s", out)
	}
}

// The typed Go client (examples/goclient, generated with genqlient) pages through the API.
func TestGoClientGeneratedWithGenqlient(t *testing.T) {
	t.Parallel()
	e := newActivityEnv(t, activities.HubOptions{})
	e.add(t, 12)
	c := goclient.New(e.url, e.key)
	v, err := goclient.Viewer(t.Context(), c)
	require.NoError(t, err)
	require.Equal(t, "ADMIN", string(v.Viewer.Role))
	got, err := goclient.AllActivities(t.Context(), c, 5, 10)
	require.NoError(t, err)
	require.Len(t, got, 12)
	require.Equal(t, "Pricing 12", got[0].Subject, "newest first")
	require.Equal(t, baseTime.Add(12*time.Minute), got[0].OccurredAt.UTC())
	require.NotEmpty(t, got[0].Mailbox)

	_, err = goclient.Viewer(t.Context(), goclient.New(e.url, "tak_aaaaaaaaaaaaaaaa_"+strings.Repeat("A", 43)))
	require.ErrorContains(t, err, "unknown API key")
}
