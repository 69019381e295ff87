package store

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/event"
)

// A subscription's first record (saved before Graph is asked, so that an early notification is
// known) is one insert: no upsert, which FerretDB answers with a read and then a write. A record
// that is there after all is replaced, as a save would.
func TestANewSubscriptionsRecordIsOneInsert(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var cmds []string
	mon := &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		if coll, _ := e.Command.Lookup(e.CommandName).StringValueOK(); coll == graphSubscriptionCollection {
			mu.Lock()
			cmds = append(cmds, e.CommandName)
			mu.Unlock()
		}
	}}
	s, err := Open(t.Context(), Options{DataDir: t.TempDir(), Logger: quiet(), Monitor: mon})
	require.NoError(t, err)
	defer s.Close(context.Background())
	ctx := t.Context()
	mu.Lock()
	cmds = nil // opening's own (indexes)
	mu.Unlock()

	now := time.Now().UTC().Truncate(time.Millisecond)
	g := GraphSubscription{ID: "o|m|mail:inbox", OrgID: "o", TenantID: "t", MailboxID: "m", Scope: "mail:inbox",
		ClientStateHash: []byte("hash"), UpdatedAt: now}
	require.NoError(t, s.CreateGraphSubscription(ctx, g))
	mu.Lock()
	require.Equal(t, []string{"insert"}, cmds)
	cmds = nil
	mu.Unlock()
	got, ok, err := s.PendingGraphSubscriptionByHash(ctx, []byte("hash"))
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, g.ID, got.ID)

	// Saved meanwhile by another caller: the record is replaced, not refused.
	g.ClientStateHash, g.Failures = []byte("other"), 2
	require.NoError(t, s.CreateGraphSubscription(ctx, g))
	recs, err := s.GraphSubscriptionsByID(ctx, []string{g.ID})
	require.NoError(t, err)
	require.Equal(t, []byte("other"), recs[g.ID].ClientStateHash)
	require.Equal(t, 2, recs[g.ID].Failures)
	all, err := s.GraphSubscriptions(ctx, "o")
	require.NoError(t, err)
	require.Len(t, all, 1)
}
