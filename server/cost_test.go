package server

import (
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/teamaccess/teamaccess/activities"
	"github.com/teamaccess/teamaccess/store"
)

type costedResponse struct {
	gqlResponse
	Extensions struct {
		Cost *cost `json:"cost"`
	} `json:"extensions"`
}

func postCosted(t *testing.T, url, key, query string) (http.Header, costedResponse) {
	t.Helper()
	resp, raw := postGraphQLRaw(t, url, query, nil, "Authorization", "Bearer "+key)
	var out costedResponse
	require.NoError(t, json.Unmarshal(raw, &out), string(raw))
	require.NoError(t, json.Unmarshal(raw, &out.gqlResponse))
	return resp.Header, out
}

func TestEveryResponseSaysWhatItCostAndAKeyPaysInPoints(t *testing.T) {
	r := &reads{}
	e := newActivityEnvWith(t, activities.HubOptions{}, store.Options{Monitor: r.monitor()},
		func(d *deps) { d.costs = newCostLimiter(1, 5000) })
	e.add(t, 20)

	// A page asked for 50 and got 20: charged for what came back.
	h, out := postCosted(t, e.url, e.key, `{ activities(first: 50) { edges { node { id } } } }`)
	require.Empty(t, out.Errors)
	c := out.Extensions.Cost
	require.NotNil(t, c)
	require.Equal(t, 5000, c.Limit)
	require.Equal(t, 1.0, c.RestoreRate)
	require.Equal(t, 175, c.Requested, "25 for the store query and 3 for each of 50 items")
	require.Equal(t, 2+20*2+25, c.Actual, "activities, edges, 20 nodes with their id, one store query")
	require.InDelta(t, 5000-c.Actual, c.Remaining, 2)
	require.Equal(t, "5000", h.Get("X-RateLimit-Limit"))
	require.Equal(t, strconv.Itoa(c.Remaining), h.Get("X-RateLimit-Remaining"))
	require.Equal(t, strconv.Itoa(5000-c.Remaining), h.Get("X-RateLimit-Used"))
	reset, err := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64)
	require.NoError(t, err)
	require.InDelta(t, time.Now().Add(time.Duration(5000-c.Remaining)*time.Second).Unix(), reset, 3)

	// The heaviest request runs once; the bucket cannot pay for a second, which is refused
	// before any store query, saying when to come back.
	_, out = postCosted(t, e.url, e.key, heavyQuery())
	require.Empty(t, out.Errors)
	require.Greater(t, out.Extensions.Cost.Actual, 3750)
	r.resetMax()
	before := r.total()
	_, out = postCosted(t, e.url, e.key, heavyQuery())
	require.Len(t, out.Errors, 1)
	require.Equal(t, "RATE_LIMITED", out.Errors[0].Extensions["code"])
	require.Contains(t, out.Errors[0].Message, "this operation costs")
	require.Greater(t, out.Errors[0].Extensions["retryAfterSeconds"], float64(3000))
	require.Equal(t, 0, out.Extensions.Cost.Actual)
	require.Equal(t, before, r.total(), "a refused operation read nothing")
}
