package graphsim

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// A simulator loaded from another's snapshot is the same world: the same tenant, users and
// consent (a token is issued), the same items, and a delta link issued before the save returns
// exactly what changed after the load.
func TestSnapshotKeepsTheWorldAndItsDeltaTokens(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, s := range []string{"Deal 1", "Deal 2", "Deal 3"} {
		_, err := f.sim.AddMessage(f.tenant, f.alice, "inbox", msg(s))
		require.NoError(t, err)
	}
	items, deltaLink, _ := f.drain(t, "/users/"+f.alice+"/mailFolders/inbox/messages/delta")
	require.Len(t, items, 3)
	var buf bytes.Buffer
	require.NoError(t, f.sim.Save(&buf))

	g := newFixture(t) // a new process: new ports, keys and certificate authority
	require.NoError(t, g.sim.Load(bytes.NewReader(buf.Bytes())))
	g.tenant, g.alice, g.joe = f.tenant, f.alice, f.joe
	g.token = g.getToken(t, f.tenant, testSecret)
	resp, _ := g.do(t, http.MethodGet, "/users/"+f.joe+"/mailFolders/inbox", nil)
	require.Equal(t, http.StatusNotFound, resp.StatusCode, "a user without a mailbox still has none")

	_, err := g.sim.AddMessage(f.tenant, f.alice, "inbox", msg("Deal 4"))
	require.NoError(t, err)
	moved := strings.Replace(deltaLink, f.sim.GraphURL(), g.sim.GraphURL(), 1)
	changes, _, _ := g.drain(t, moved)
	require.Len(t, changes, 1, "only what changed since the link was issued")
	require.Equal(t, "Deal 4", changes[0]["subject"])
	all, _, _ := g.drain(t, "/users/"+f.alice+"/mailFolders/inbox/messages/delta")
	require.Len(t, all, 4)
}
