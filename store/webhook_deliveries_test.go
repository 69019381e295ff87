package store

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// The delivery log pages the same whether attempts were written one at a time or in batches:
// newest first, each attempt once, every field kept, from any attempt's id.
func TestDeliveryLogPagesAcrossBatches(t *testing.T) {
	t.Parallel()
	s := openTemp(t, t.TempDir())
	org := s.Org("org")
	at := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	var all []WebhookDelivery // in the order recorded
	mk := func(status int, response string) WebhookDelivery {
		n := len(all)
		d := WebhookDelivery{ID: bson.NewObjectID(), EndpointID: "whe_1", EventID: fmt.Sprintf("msg_%d", n), Cursor: fmt.Sprintf("c%d", n),
			Attempt: 1 + n%3, At: at.Add(time.Duration(n) * time.Millisecond), Status: status, Latency: time.Duration(n) * time.Microsecond, Response: response}
		all = append(all, d)
		return d
	}
	batch := func(n int, response string) {
		var ds []WebhookDelivery
		for range n {
			ds = append(ds, mk(204, response))
		}
		require.NoError(t, org.InsertWebhookDeliveries(t.Context(), ds))
	}
	batch(5, "")
	require.NoError(t, org.InsertWebhookDelivery(t.Context(), mk(500, "down")))
	batch(1, "")
	batch(4, "ok")
	require.NoError(t, org.InsertWebhookDelivery(t.Context(), WebhookDelivery{ID: bson.NewObjectID(), EndpointID: "whe_other", At: at, Status: 204}))
	batch(3, "")
	for i := range all {
		all[i].OrgID = "org"
	}

	for _, limit := range []int{1, 3, 7, 100} {
		var got []WebhookDelivery
		var before bson.ObjectID
		for range len(all) + 1 { // bounded: a page holds at least one
			page, err := org.WebhookDeliveries(t.Context(), "whe_1", before, limit)
			require.NoError(t, err)
			require.LessOrEqual(t, len(page), limit)
			if len(page) == 0 {
				break
			}
			got, before = append(got, page...), page[len(page)-1].ID
		}
		require.Len(t, got, len(all), "limit %d", limit)
		for i, d := range got {
			require.Equal(t, all[len(all)-1-i], d, "limit %d, attempt %d", limit, i)
		}
	}
}

// Pruning the delivery log drops what was recorded before the time, of every organisation,
// batches by their first attempt, and keeps the rest.
func TestPruningTheDeliveryLogKeepsTheRecentAttempts(t *testing.T) {
	t.Parallel()
	s := openTemp(t, t.TempDir())
	now := time.Now()
	old, recent := bson.NewObjectIDFromTimestamp(now.Add(-31*24*time.Hour)), bson.NewObjectIDFromTimestamp(now.Add(-29*24*time.Hour))
	a := func(id bson.ObjectID, cursor string) WebhookDelivery {
		return WebhookDelivery{ID: id, EndpointID: "whe_1", EventID: "msg_" + cursor, Cursor: cursor, At: id.Timestamp(), Status: 204}
	}
	require.NoError(t, s.Org("a").InsertWebhookDelivery(t.Context(), a(old, "1")))
	require.NoError(t, s.Org("b").InsertWebhookDeliveries(t.Context(), []WebhookDelivery{a(bson.NewObjectIDFromTimestamp(now.Add(-32*24*time.Hour)), "2"), a(old, "3")}))
	require.NoError(t, s.Org("a").InsertWebhookDeliveries(t.Context(), []WebhookDelivery{a(recent, "4"), a(bson.NewObjectID(), "5")}))
	n, err := s.PruneWebhookDeliveries(t.Context(), now.Add(-30*24*time.Hour))
	require.NoError(t, err)
	require.EqualValues(t, 2, n, "documents")
	for org, want := range map[string][]string{"a": {"5", "4"}, "b": nil} {
		left, err := s.Org(org).WebhookDeliveries(t.Context(), "whe_1", bson.ObjectID{}, 10)
		require.NoError(t, err)
		var cursors []string
		for _, d := range left {
			cursors = append(cursors, d.Cursor)
		}
		require.Equal(t, want, cursors, org)
	}
}
