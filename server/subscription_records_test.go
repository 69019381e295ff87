package server

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/event"

	"github.com/teamaccess/teamaccess/graphsim"
	"github.com/teamaccess/teamaccess/store"
)

// A mailbox's subscriptions cost the store one insert each for the record saved before Graph is
// asked, and one update for Graph's answer: not two upserts, each of which FerretDB answers
// with a read and then a write (900 reads fewer in the backfill of 300 mailboxes).
func TestANewSubscriptionIsRecordedWithAnInsertThenAnUpdate(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	writes := map[string]int{}
	mon := &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		if coll, _ := e.Command.Lookup(e.CommandName).StringValueOK(); coll == "graphSubscriptions" &&
			(e.CommandName == "insert" || e.CommandName == "update") {
			mu.Lock()
			writes[e.CommandName]++
			mu.Unlock()
		}
	}}
	n := newNotifyEnv(t, graphsim.Options{}, func(e *syncEnv) *store.Store {
		st, err := store.Open(t.Context(), store.Options{URI: e.st.EmbeddedURI(), Logger: slog.New(slog.DiscardHandler), Monitor: mon})
		require.NoError(t, err)
		t.Cleanup(func() { st.Close(context.Background()) })
		return st
	})
	mu.Lock()
	require.Equal(t, map[string]int{"insert": 8, "update": 8}, writes, "8 subscriptions of two mailboxes")
	mu.Unlock()
	recs, err := n.st.GraphSubscriptions(t.Context(), n.org)
	require.NoError(t, err)
	require.Len(t, recs, 8)
	for _, r := range recs {
		require.NotEmpty(t, r.SubscriptionID, r.ID)
		require.NotEmpty(t, r.ClientStateHash, r.ID)
	}
}
