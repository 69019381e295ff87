package server

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket/wsjson"
	"github.com/stretchr/testify/require"
)

// connectDemo walks the consent flow for the key's organisation against demo mode's graphsim.
func connectDemo(t testing.TB, base, adminKey string) {
	t.Helper()
	var link struct{ CreateConsentLink struct{ URL string } }
	require.Empty(t, gql(t, base, adminKey, `mutation { createConsentLink(input: {}) { url } }`, nil, &link))
	loc := browse(t, link.CreateConsentLink.URL, "accept")
	resp, page := get(t, base+"/consent/callback?"+loc.RawQuery)
	require.Equal(t, 200, resp.StatusCode, string(page))
}

type mailboxPage struct {
	Mailboxes struct {
		Edges []struct {
			Cursor string
			Node   struct {
				ID, DisplayName, Access, AccessReason string
				Capture, Captured                     bool
			}
		}
		PageInfo struct{ HasNextPage bool }
	}
}

func TestMailboxCoverageOverGraphQL(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	s := seed(t, dir)
	svc := startService(t, dir)
	connectDemo(t, svc.url, s.adminA)

	// Discovery starts right after consent.
	var sum struct {
		TeamAccess struct {
			MailboxSummary struct{ Total, Accessible, BlockedByPolicy, NoMailbox, MissingPermission, Errors, NotChecked int }
		}
	}
	// Every answer accounts for every user: those whose first probe has not answered are counted
	// as not checked yet, so a summary read mid-discovery does not look like a finished one.
	require.Eventually(t, func() bool {
		require.Empty(t, gql(t, svc.url, s.readerA, `{ teamAccess { mailboxSummary { total accessible blockedByPolicy noMailbox missingPermission errors notChecked } } }`, nil, &sum))
		ms := sum.TeamAccess.MailboxSummary
		require.Equal(t, ms.Total, ms.Accessible+ms.BlockedByPolicy+ms.NoMailbox+ms.MissingPermission+ms.Errors+ms.NotChecked, "%+v", ms)
		return ms.Total == 27 && ms.NotChecked == 0
	}, 30*time.Second, 50*time.Millisecond)
	require.Zero(t, sum.TeamAccess.MailboxSummary.Errors+sum.TeamAccess.MailboxSummary.MissingPermission)
	require.Equal(t, 22, sum.TeamAccess.MailboxSummary.Accessible)
	require.Equal(t, 3, sum.TeamAccess.MailboxSummary.BlockedByPolicy)
	require.Equal(t, 2, sum.TeamAccess.MailboxSummary.NoMailbox)

	var blocked mailboxPage
	require.Empty(t, gql(t, svc.url, s.readerA, `{ mailboxes(filter: {access: [BLOCKED_BY_POLICY]}, first: 2) { edges { cursor node { id displayName access accessReason } } pageInfo { hasNextPage } } }`, nil, &blocked))
	require.Len(t, blocked.Mailboxes.Edges, 2)
	require.True(t, blocked.Mailboxes.PageInfo.HasNextPage)
	require.Contains(t, blocked.Mailboxes.Edges[0].Node.AccessReason, "application access policy")
	var rest mailboxPage
	require.Empty(t, gql(t, svc.url, s.readerA, `query($after: String) { mailboxes(filter: {access: [BLOCKED_BY_POLICY]}, first: 2, after: $after) { edges { node { displayName } } pageInfo { hasNextPage } } }`,
		map[string]any{"after": blocked.Mailboxes.Edges[1].Cursor}, &rest))
	require.Len(t, rest.Mailboxes.Edges, 1)
	require.Equal(t, []string{"BAD_USER_INPUT"}, gql(t, svc.url, s.readerA, `{ mailboxes(last: 5) { edges { cursor } } }`, nil, nil))

	var other mailboxPage
	require.Empty(t, gql(t, svc.url, s.adminB, `{ mailboxes { edges { node { id } } } }`, nil, &other))
	require.Empty(t, other.Mailboxes.Edges, "another organization sees none of them")

	var found mailboxPage
	require.Empty(t, gql(t, svc.url, s.adminA, `{ mailboxes(filter: {search: "adele"}) { edges { node { id displayName capture captured } } } }`, nil, &found))
	require.Len(t, found.Mailboxes.Edges, 1)
	adele := found.Mailboxes.Edges[0].Node
	require.True(t, adele.Captured)

	// Switching capture off is admin-only, audited, and heard live.
	ctx := wsContext(t)
	c := dialGraphQL(t, ctx, svc.url, "graphql-transport-ws", s.readerA)
	payload, _ := json.Marshal(map[string]string{"query": `subscription { mailboxChanged(filter: {search: "adele"}) { id capture captured } }`})
	require.NoError(t, wsjson.Write(ctx, c, wsMessage{ID: "m", Type: "subscribe", Payload: payload}))
	require.Equal(t, []string{"FORBIDDEN"}, gql(t, svc.url, s.readerA, `mutation($id: ID!) { setMailboxCapture(id: $id, enabled: false) { id } }`, map[string]any{"id": adele.ID}, nil))
	heard := make(chan wsMessage, 16)
	go func() {
		defer close(heard)
		for {
			var m wsMessage
			if err := wsjson.Read(ctx, c, &m); err != nil {
				return
			}
			heard <- m
		}
	}()
	// The subscription starts asynchronously: switch capture off (and on again) until it hears.
	var set struct {
		SetMailboxCapture struct{ Capture, Captured bool }
	}
	for attempt := 0; ; attempt++ {
		require.Less(t, attempt, 20, "mailboxChanged never heard the capture change")
		require.Empty(t, gql(t, svc.url, s.adminA, `mutation($id: ID!, $on: Boolean!) { setMailboxCapture(id: $id, enabled: $on) { capture captured } }`,
			map[string]any{"id": adele.ID, "on": false}, &set))
		require.False(t, set.SetMailboxCapture.Captured)
		select {
		case m := <-heard:
			require.Equal(t, "next", m.Type)
			require.Contains(t, string(m.Payload), `"captured":false`)
		case <-time.After(300 * time.Millisecond):
			require.Empty(t, gql(t, svc.url, s.adminA, `mutation($id: ID!) { setMailboxCapture(id: $id, enabled: true) { capture } }`, map[string]any{"id": adele.ID}, nil))
			continue
		}
		break
	}
	var log struct {
		AuditLog struct {
			Edges []struct {
				Node struct{ Action, Summary string }
			}
		}
	}
	require.Empty(t, gql(t, svc.url, s.adminA, `{ auditLog(first: 1) { edges { node { action summary } } } }`, nil, &log))
	require.Equal(t, "mailbox.capture", log.AuditLog.Edges[0].Node.Action)
	require.True(t, strings.Contains(log.AuditLog.Edges[0].Node.Summary, "Adele Vance"))

	var re struct{ RecheckMailboxAccess []struct{ Access string } }
	require.Empty(t, gql(t, svc.url, s.adminA, `mutation($id: ID!) { recheckMailboxAccess(ids: [$id]) { access } }`, map[string]any{"id": adele.ID}, &re))
	require.Equal(t, "ACCESSIBLE", re.RecheckMailboxAccess[0].Access)
	var n struct{ Node *struct{ DisplayName string } }
	require.Empty(t, gql(t, svc.url, s.adminA, `query($id: ID!) { node(id: $id) { ... on Mailbox { displayName } } }`, map[string]any{"id": adele.ID}, &n))
	require.Equal(t, "Adele Vance", n.Node.DisplayName)
	require.Empty(t, gql(t, svc.url, s.adminB, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": adele.ID}, &n))
	require.Nil(t, n.Node)

	// Captured mailboxes sync: each round reports its health; an admin can start a resync.
	var health struct {
		Mailbox struct {
			SyncHealth []struct {
				Resource, Scope string
				LastSuccessAt   *string
				Items           int
				Backfill        struct {
					Complete      bool
					ItemsRead     int
					EstimatedDone *float64
				}
			}
		}
	}
	require.NoError(t, wsjson.Write(ctx, c, wsMessage{ID: "m", Type: "complete"}))
	require.Empty(t, gql(t, svc.url, s.adminA, `mutation($id: ID!) { setMailboxCapture(id: $id, enabled: true) { id } }`, map[string]any{"id": adele.ID}, nil))
	require.Eventually(t, func() bool {
		require.Empty(t, gql(t, svc.url, s.readerA, `query($id: ID!) { mailbox(id: $id) { syncHealth { resource scope lastSuccessAt items backfill { complete itemsRead estimatedDone } } } }`, map[string]any{"id": adele.ID}, &health))
		done := 0
		for _, h := range health.Mailbox.SyncHealth {
			if h.LastSuccessAt != nil {
				done++
			}
		}
		return done == 4
	}, 60*time.Second, 200*time.Millisecond, "inbox, sent items, calendar and contacts synced")
	items := 0
	for _, h := range health.Mailbox.SyncHealth {
		items += h.Items
		require.True(t, h.Backfill.Complete, h.Scope)
		require.Equal(t, 1.0, *h.Backfill.EstimatedDone)
		require.Equal(t, h.Items, h.Backfill.ItemsRead, "the backfill read everything so far")
	}
	require.Positive(t, items)
	var ta struct {
		TeamAccess struct {
			Backfill struct{ Resources, Complete, Capped, ItemsRead int }
		}
	}
	require.Empty(t, gql(t, svc.url, s.readerA, `{ teamAccess { backfill { resources complete capped itemsRead } } }`, nil, &ta))
	require.Equal(t, ta.TeamAccess.Backfill.Resources, ta.TeamAccess.Backfill.Complete)
	require.Positive(t, ta.TeamAccess.Backfill.ItemsRead)
	require.Zero(t, ta.TeamAccess.Backfill.Capped)
	require.Equal(t, []string{"FORBIDDEN"}, gql(t, svc.url, s.readerA, `mutation($id: ID!) { resyncMailbox(id: $id) { id } }`, map[string]any{"id": adele.ID}, nil))
	require.Empty(t, gql(t, svc.url, s.adminA, `mutation($id: ID!) { resyncMailbox(id: $id, resources: [CALENDAR]) { id } }`, map[string]any{"id": adele.ID}, nil))
	require.Empty(t, gql(t, svc.url, s.adminA, `{ auditLog(first: 1) { edges { node { action summary } } } }`, nil, &log))
	require.Equal(t, "mailbox.resync", log.AuditLog.Edges[0].Node.Action)
	require.Contains(t, log.AuditLog.Edges[0].Node.Summary, "CALENDAR")
}

// The kinds over GraphQL: the shared mailbox shows as SHARED_OR_RESOURCE and is captured; an
// admin turns the kind off (a reader may not), and it stops being captured.
func TestMailboxKindsOverGraphQL(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	s := seed(t, dir)
	svc := startService(t, dir)
	connectDemo(t, svc.url, s.adminA)
	type node struct {
		ID, Kind, Access string
		Captured         bool
	}
	find := func() node {
		var page struct {
			Mailboxes struct{ Edges []struct{ Node node } }
		}
		require.Empty(t, gql(t, svc.url, s.readerA, `{ mailboxes(first: 5, filter: {search: "sales@"}) { edges { node { id kind access captured } } } }`, nil, &page))
		if len(page.Mailboxes.Edges) == 0 {
			return node{}
		}
		return page.Mailboxes.Edges[0].Node
	}
	require.Eventually(t, func() bool { return find().Access == "ACCESSIBLE" }, 30*time.Second, 50*time.Millisecond)
	n := find()
	require.Equal(t, "SHARED_OR_RESOURCE", n.Kind)
	require.True(t, n.Captured, "the team's shared mailbox is captured")

	var ks struct {
		MailboxKindCapture []struct {
			Kind      string
			Capture   bool
			Mailboxes int
		}
	}
	require.Empty(t, gql(t, svc.url, s.readerA, `{ mailboxKindCapture { kind capture mailboxes } }`, nil, &ks))
	require.Len(t, ks.MailboxKindCapture, 4)
	require.Equal(t, "SHARED_OR_RESOURCE", ks.MailboxKindCapture[2].Kind)
	require.Equal(t, 2, ks.MailboxKindCapture[2].Mailboxes)
	require.Equal(t, []string{"FORBIDDEN"}, gql(t, svc.url, s.readerA, `mutation { setMailboxKindCapture(kind: SHARED_OR_RESOURCE, enabled: false) { kind } }`, nil, nil))
	require.Empty(t, gql(t, svc.url, s.adminA, `mutation { setMailboxKindCapture(kind: SHARED_OR_RESOURCE, enabled: false) { kind capture } }`, nil, nil))
	require.False(t, find().Captured)
	require.Equal(t, []string{"BAD_USER_INPUT"}, gql(t, svc.url, s.adminA, `mutation { setMailboxKindCapture(kind: GUEST, enabled: true) { kind } }`, nil, nil))
}
