package server

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/stretchr/testify/require"

	"github.com/teamaccess/teamaccess/auth"
	"github.com/teamaccess/teamaccess/store"
)

// seeded is an installation with two organisations, prepared before the service starts.
type seeded struct {
	orgA, orgB                string
	adminA, readerA, adminB   string // secrets
	adminAID, readerAID, bKey string // key IDs
}

func seed(t testing.TB, dataDir string) seeded {
	t.Helper()
	st, err := store.Open(t.Context(), store.Options{DataDir: dataDir, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	defer st.Close(context.Background())
	return seedStore(t, st)
}

// seedStore is seed on an open store.
func seedStore(t testing.TB, st *store.Store) seeded {
	t.Helper()
	ctx := t.Context()
	d := auth.NewDirectory(st)
	boot, err := d.Bootstrap(ctx)
	require.NoError(t, err)
	var s seeded
	s.orgA, s.adminA, s.adminAID = boot.Org.ID, boot.Secret, boot.Key.ID
	k, secret, err := d.CreateKey(ctx, auth.CommandLine(s.orgA), auth.NewKey{Name: "dashboard", Role: auth.RoleReader})
	require.NoError(t, err)
	s.readerA, s.readerAID = secret, k.ID
	b, err := d.CreateOrganization(ctx, "Other Corp")
	require.NoError(t, err)
	k, secret, err = d.CreateKey(ctx, auth.CommandLine(b.ID), auth.NewKey{Name: "other admin", Role: auth.RoleAdmin})
	require.NoError(t, err)
	s.orgB, s.adminB, s.bKey = b.ID, secret, k.ID
	return s
}

// gql runs a query with a key and decodes its data into out (if not nil); it returns the
// errors' codes.
func gql(t testing.TB, base, key, query string, vars map[string]any, out any) []string {
	t.Helper()
	resp, r := postGraphQLVars(t, base, query, vars, "Authorization", "Bearer "+key)
	require.Equal(t, 200, resp.StatusCode)
	var codes []string
	for _, e := range r.Errors {
		c, _ := e.Extensions["code"].(string)
		codes = append(codes, c)
	}
	if out != nil && len(r.Data) > 0 && string(r.Data) != "null" {
		require.NoError(t, json.Unmarshal(r.Data, out))
	}
	return codes
}

type keyList struct {
	APIKeys []struct {
		ID, Name, Role, Status, Prefix string
	} `json:"apiKeys"`
}

func countKeys(t *testing.T, base, adminKey string) int {
	var kl keyList
	require.Empty(t, gql(t, base, adminKey, `{ apiKeys { id } }`, nil, &kl))
	return len(kl.APIKeys)
}

func TestOrganisationsAndRoles(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	s := seed(t, dir)
	svc := startService(t, dir)
	require.Empty(t, svc.key, "an installation with organisations is not bootstrapped again")

	t.Run("viewer is the key's organisation", func(t *testing.T) {
		var v struct {
			Viewer struct {
				Organization struct{ ID, Name string }
				Role         string
				APIKey       struct{ ID, Name string } `json:"apiKey"`
			}
		}
		require.Empty(t, gql(t, svc.url, s.readerA, `{ viewer { organization { id name } role apiKey { id name } } }`, nil, &v))
		require.Equal(t, s.orgA, v.Viewer.Organization.ID)
		require.Equal(t, "READER", v.Viewer.Role)
		require.Equal(t, "dashboard", v.Viewer.APIKey.Name)
		require.Empty(t, gql(t, svc.url, s.adminB, `{ viewer { organization { id name } role apiKey { id name } } }`, nil, &v))
		require.Equal(t, s.orgB, v.Viewer.Organization.ID)
		require.Equal(t, "Other Corp", v.Viewer.Organization.Name)
	})

	t.Run("each organisation sees only its own", func(t *testing.T) {
		var kl keyList
		require.Empty(t, gql(t, svc.url, s.adminA, `{ apiKeys { id name role status prefix } }`, nil, &kl))
		require.Len(t, kl.APIKeys, 2)
		for _, k := range kl.APIKeys {
			require.NotEqual(t, s.bKey, k.ID)
		}
		require.Equal(t, 1, countKeys(t, svc.url, s.adminB))

		for _, id := range []string{s.bKey, s.orgB} {
			var n struct{ Node *struct{ ID string } }
			require.Empty(t, gql(t, svc.url, s.adminA, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": id}, &n))
			require.Nil(t, n.Node, "A cannot fetch B's %s", id)
		}
		var n struct{ Node *struct{ ID string } }
		require.Empty(t, gql(t, svc.url, s.adminA, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": s.readerAID}, &n))
		require.Equal(t, s.readerAID, n.Node.ID)

		codes := gql(t, svc.url, s.adminA, `mutation($id: ID!) { revokeApiKey(id: $id) { id } }`, map[string]any{"id": s.bKey}, nil)
		require.Equal(t, []string{"NOT_FOUND"}, codes)
		require.Equal(t, 1, countKeys(t, svc.url, s.adminB), "B's key still works")

		var log struct {
			AuditLog struct {
				Edges []struct{ Node struct{ Summary string } }
			}
		}
		require.Empty(t, gql(t, svc.url, s.adminB, `{ auditLog { edges { node { summary } } } }`, nil, &log))
		for _, e := range log.AuditLog.Edges {
			require.NotContains(t, e.Node.Summary, "dashboard", "B's log has none of A's actions")
		}
	})

	t.Run("a reader cannot administer", func(t *testing.T) {
		before := countKeys(t, svc.url, s.adminA)
		for _, q := range []string{
			`mutation { createApiKey(name: "sneaky", role: ADMIN) { secret } }`,
			`mutation { revokeApiKey(id: "` + s.adminAID + `") { id } }`,
			`{ apiKeys { id } }`,
			`{ auditLog { edges { cursor } } }`,
			`{ node(id: "` + s.adminAID + `") { id } }`,
		} {
			require.Equal(t, []string{"FORBIDDEN"}, gql(t, svc.url, s.readerA, q, nil, nil), q)
		}
		require.Equal(t, before, countKeys(t, svc.url, s.adminA), "nothing changed")
	})

	t.Run("bad credentials get 401 and change nothing", func(t *testing.T) {
		before := countKeys(t, svc.url, s.adminA)
		for _, h := range []string{
			"",
			"Bearer",
			"Bearer ",
			"Basic " + s.adminA,
			"Bearer " + s.adminA + " extra",
			"Bearer tak_short",
			"Bearer not-a-key",
			"Bearer " + s.adminA[:len(s.adminA)-1] + "x",
			"Bearer tak_aaaaaaaaaaaaaaaa_" + strings.Repeat("A", 43),
		} {
			header := []string{"Authorization", h}
			if h == "" {
				header = nil
			}
			resp, r := postGraphQLVars(t, svc.url, `mutation { createApiKey(name: "x", role: ADMIN) { secret } }`, nil, header...)
			require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "%q", h)
			require.Contains(t, resp.Header.Get("WWW-Authenticate"), "Bearer")
			require.Len(t, r.Errors, 1)
			require.Equal(t, "UNAUTHENTICATED", r.Errors[0].Extensions["code"])
			require.NotContains(t, r.Errors[0].Message, s.adminA[20:], "the secret is never echoed")
		}
		require.Equal(t, before, countKeys(t, svc.url, s.adminA))
	})

	t.Run("created keys work, revoked and expired ones stop at once", func(t *testing.T) {
		var c struct {
			CreateAPIKey struct {
				Secret string
				APIKey struct{ ID, Status string } `json:"apiKey"`
			} `json:"createApiKey"`
		}
		require.Empty(t, gql(t, svc.url, s.adminA, `mutation { createApiKey(name: "temp", role: READER) { secret apiKey { id status } } }`, nil, &c))
		require.Equal(t, "ACTIVE", c.CreateAPIKey.APIKey.Status)
		require.Empty(t, gql(t, svc.url, c.CreateAPIKey.Secret, `{ viewer { role } }`, nil, nil))
		require.Empty(t, gql(t, svc.url, s.adminA, `mutation($id: ID!) { revokeApiKey(id: $id) { status } }`, map[string]any{"id": c.CreateAPIKey.APIKey.ID}, nil))
		resp, r := postGraphQL(t, svc.url, c.CreateAPIKey.Secret, `{ viewer { role } }`)
		require.Equal(t, 401, resp.StatusCode)
		require.Contains(t, r.Errors[0].Message, "revoked")

		expires := time.Now().Add(1500 * time.Millisecond).UTC().Format(time.RFC3339Nano)
		require.Empty(t, gql(t, svc.url, s.adminA, `mutation($at: DateTime) { createApiKey(name: "brief", role: READER, expiresAt: $at) { secret } }`, map[string]any{"at": expires}, &c))
		require.Empty(t, gql(t, svc.url, c.CreateAPIKey.Secret, `{ viewer { role } }`, nil, nil))
		time.Sleep(time.Until(must(time.Parse(time.RFC3339Nano, expires))))
		resp, r = postGraphQL(t, svc.url, c.CreateAPIKey.Secret, `{ viewer { role } }`)
		require.Equal(t, 401, resp.StatusCode)
		require.Contains(t, r.Errors[0].Message, "expired")

		codes := gql(t, svc.url, s.adminA, `mutation { createApiKey(name: "past", role: READER, expiresAt: "2020-01-01T00:00:00Z") { secret } }`, nil, nil)
		require.Equal(t, []string{"BAD_USER_INPUT"}, codes)
	})

	t.Run("the audit log records who did what", func(t *testing.T) {
		var log struct {
			AuditLog struct {
				Edges []struct {
					Cursor string
					Node   struct{ Action, ActorKeyID, TargetID, Summary string }
				}
				PageInfo struct{ HasNextPage bool }
			}
		}
		require.Empty(t, gql(t, svc.url, s.adminA, `{ auditLog(first: 2) { edges { cursor node { action actorKeyId targetId summary } } pageInfo { hasNextPage } } }`, nil, &log))
		require.Len(t, log.AuditLog.Edges, 2)
		require.True(t, log.AuditLog.PageInfo.HasNextPage)
		newest := log.AuditLog.Edges[0].Node
		require.Equal(t, "apiKey.create", newest.Action)
		require.Equal(t, s.adminAID, newest.ActorKeyID)
		require.Contains(t, newest.Summary, `"brief"`, "the refused creation of \"past\" left no entry")
		require.Equal(t, "apiKey.revoke", log.AuditLog.Edges[1].Node.Action)
		require.Contains(t, log.AuditLog.Edges[1].Node.Summary, `"temp"`)

		codes := gql(t, svc.url, s.adminA, `{ auditLog(first: 101) { edges { cursor } } }`, nil, nil)
		require.Equal(t, []string{"BAD_USER_INPUT"}, codes)
	})

	t.Run("websockets authenticate in connection_init or by header", func(t *testing.T) {
		ctx := wsContext(t)
		c := dialGraphQL(t, ctx, svc.url, "graphql-transport-ws", s.adminB)
		var v struct {
			Viewer struct{ Organization struct{ ID string } }
		}
		require.NoError(t, json.Unmarshal(queryOverWebsocket(t, ctx, c, "graphql-transport-ws", `{ viewer { organization { id } } }`), &v))
		require.Equal(t, s.orgB, v.Viewer.Organization.ID)
		c.Close(websocket.StatusNormalClosure, "")

		h := http.Header{"Authorization": {"Bearer " + s.readerA}}
		c = openWS(t, ctx, svc.url, "graphql-transport-ws", h)
		require.NoError(t, wsjson.Write(ctx, c, wsMessage{Type: "connection_init"}))
		require.Equal(t, "connection_ack", readWS(t, ctx, c).Type)
		require.NoError(t, json.Unmarshal(queryOverWebsocket(t, ctx, c, "graphql-transport-ws", `{ viewer { organization { id } } }`), &v))
		require.Equal(t, s.orgA, v.Viewer.Organization.ID)
		c.Close(websocket.StatusNormalClosure, "")

		for _, payload := range []string{`{}`, `{"Authorization":"Bearer tak_nope"}`, `{"apiKey":"` + s.adminA + `x"}`} {
			for _, proto := range []string{"graphql-transport-ws", "graphql-ws"} {
				c := openWS(t, ctx, svc.url, proto, nil)
				require.NoError(t, wsjson.Write(ctx, c, wsMessage{Type: "connection_init", Payload: json.RawMessage(payload)}))
				var err error
				for err == nil {
					var m wsMessage
					err = wsjson.Read(ctx, c, &m)
					require.NotEqual(t, "connection_ack", m.Type, "%s %s", proto, payload)
				}
				var ce websocket.CloseError
				require.True(t, errors.As(err, &ce), "%s %s: %v", proto, payload, err)
				require.EqualValues(t, 4403, ce.Code, "%s %s", proto, payload)
				require.NotEqual(t, "Forbidden", ce.Reason, "the reason says why: %s %s", proto, payload)
				require.Contains(t, []string{"missing API key", "unknown", "invalid", "malformed"}, firstMatch(ce.Reason,
					"missing API key", "unknown", "invalid", "malformed"), "%s %s: %q", proto, payload, ce.Reason)
			}
		}

		resp, _ := get(t, svc.url+"/graphql", "Upgrade", "websocket", "Connection", "Upgrade",
			"Sec-WebSocket-Version", "13", "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==",
			"Authorization", "Bearer tak_wrong")
		require.Equal(t, 401, resp.StatusCode, "a bad key in the upgrade's header is refused before upgrading")
	})
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestRateLimitPerKey(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	s := seed(t, dir)
	svc := startService(t, dir, "--rate-limit", "0.5", "--rate-burst", "2")
	for range 2 {
		resp, _ := postGraphQL(t, svc.url, s.readerA, `{ viewer { role } }`)
		require.Equal(t, 200, resp.StatusCode)
	}
	resp, r := postGraphQL(t, svc.url, s.readerA, `{ viewer { role } }`)
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	require.Equal(t, "2", resp.Header.Get("Retry-After"), "one token every 2 s")
	require.Equal(t, "RATE_LIMITED", r.Errors[0].Extensions["code"])
	resp, _ = postGraphQL(t, svc.url, s.adminA, `{ viewer { role } }`)
	require.Equal(t, 200, resp.StatusCode, "another key has its own bucket")

	ctx := wsContext(t)
	c := dialGraphQL(t, ctx, svc.url, "graphql-transport-ws", s.adminB)
	payload, _ := json.Marshal(map[string]string{"query": `{ viewer { role } }`})
	var limited bool
	for i := range 3 {
		require.NoError(t, wsjson.Write(ctx, c, wsMessage{ID: string(rune('a' + i)), Type: "subscribe", Payload: payload}))
		m := readWS(t, ctx, c)
		if m.Type == "error" || strings.Contains(string(m.Payload), "RATE_LIMITED") {
			require.Contains(t, string(m.Payload), "RATE_LIMITED")
			limited = true
			break
		}
		require.Equal(t, "complete", readWS(t, ctx, c).Type)
	}
	require.True(t, limited, "websocket operations count against the key too")
}

// firstMatch is the first of the words that s contains, or "".
func firstMatch(s string, words ...string) string {
	for _, w := range words {
		if strings.Contains(strings.ToLower(s), strings.ToLower(w)) {
			return w
		}
	}
	return ""
}
