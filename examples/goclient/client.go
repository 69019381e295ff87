// Package goclient is an example of a typed Go client of teamaccess's GraphQL API, generated
// with genqlient from operations.graphql: a field renamed or retyped in the schema fails
// generation and compilation, not a partner's back end at run time. server/clients_test.go runs
// it against a server.
package goclient

//go:generate go tool genqlient

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/Khan/genqlient/graphql"
)

// New returns a client of the API at baseURL (https://teamaccess.example.com) that sends key.
func New(baseURL, key string) graphql.Client {
	hc := &http.Client{Timeout: 30 * time.Second, Transport: bearer{key: key, next: http.DefaultTransport}}
	return graphql.NewClient(baseURL+"/graphql", hc)
}

type bearer struct {
	key  string
	next http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.key)
	return b.next.RoundTrip(r)
}

// Activity is one captured email or meeting, as this example keeps it.
type Activity struct {
	ID, Kind, Subject, Mailbox string
	OccurredAt                 time.Time
}

// AllActivities pages through the organization's activities, newest first, pageSize at a time
// (at most maxPages pages).
func AllActivities(ctx context.Context, c graphql.Client, pageSize, maxPages int) ([]Activity, error) {
	var out []Activity
	var after *string // null: the first page
	for range maxPages {
		page, err := ActivitiesPage(ctx, c, pageSize, after)
		if err != nil {
			return nil, fmt.Errorf("activities: %w", err)
		}
		conn := page.Activities
		for _, e := range conn.Edges {
			n := e.Node
			a := Activity{ID: n.GetId(), Kind: string(n.GetKind()), Subject: n.GetSubject(), OccurredAt: n.GetOccurredAt()}
			a.Mailbox = n.GetMailbox().DisplayName
			out = append(out, a)
		}
		if !conn.PageInfo.HasNextPage {
			return out, nil
		}
		end := conn.PageInfo.EndCursor
		after = &end
	}
	return out, fmt.Errorf("activities: more than %d pages", maxPages)
}
