package server

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/teamaccess/teamaccess/auth"
	"github.com/teamaccess/teamaccess/deltasync"
	"github.com/teamaccess/teamaccess/graphdata"
	"github.com/teamaccess/teamaccess/graphsim"
	"github.com/teamaccess/teamaccess/mailboxes"
)

// A captured mailbox that an application access policy leaves out after capture: its next delta
// round answers 403 ErrorAccessDenied "Access to OData is disabled." (Microsoft's documented
// text, concepts/auth-limit-mailbox-access.md). That is not throttling: the sync health shows
// Microsoft's code and message in one line and counts nothing as throttled, and the mailbox is
// probed at once, so it shows BLOCKED_BY_POLICY with Microsoft's words and stops being captured
// within that sync, not at its next scheduled probe.
func TestMailboxMovedOutOfThePolicyShowsBlockedWithinOneSync(t *testing.T) {
	t.Parallel()
	e := newSyncEnv(t)
	ctx := t.Context()
	e.mail(t, e.alice, "inbox", "Pricing", e.now.Add(-time.Hour))
	dir := auth.NewDirectory(e.st)
	captured := map[string]bool{}
	mbx := mailboxes.New(e.st, e.mc, dir, mailboxes.Options{
		OnCapture: func(_ context.Context, _ string, m mailboxes.Mailbox, on bool) { captured[m.UserID] = on },
	})
	require.NoError(t, mbx.Discover(ctx, e.org, e.tenant))
	syncer := deltasync.New(e.st, e.graph, deltasync.Options{Now: func() time.Time { return e.now }, Refused: mbx.Refused})
	require.NoError(t, syncer.SyncMailbox(ctx, e.org, e.tenant, e.alice))

	require.NoError(t, e.sim.SetAccessPolicy(e.tenant, syncApp, []string{e.bob}))
	e.sim.Advance(31 * time.Minute) // the policy applies (graphsim's delay is 30 minutes)
	err := syncer.SyncMailbox(ctx, e.org, e.tenant, e.alice)
	require.ErrorIs(t, err, graphdata.ErrAccessDenied)
	require.NotErrorIs(t, err, graphdata.ErrThrottled)

	health, err := syncer.Health(ctx, e.org, e.alice)
	require.NoError(t, err)
	require.NotEmpty(t, health)
	for _, h := range health {
		require.Zero(t, h.Throttled, "%s: a 403 is not throttling", h.Scope)
		require.NotNil(t, h.LastError, h.Scope)
		require.Contains(t, *h.LastError, "403 ErrorAccessDenied: Access to OData is disabled.", h.Scope)
		require.NotContains(t, *h.LastError, "\n", "one line")
	}
	m, err := mbx.Get(ctx, e.org, "mbx_"+e.alice)
	require.NoError(t, err)
	require.Equal(t, mailboxes.BlockedByPolicy, m.Access)
	require.Contains(t, m.AccessReason, "Access to OData is disabled.")
	require.False(t, m.Captured)
	require.False(t, captured[e.alice], "capture stopped")
	b, err := mbx.Get(ctx, e.org, "mbx_"+e.bob)
	require.NoError(t, err)
	require.Equal(t, mailboxes.Accessible, b.Access, "the mailbox inside the policy is untouched")
}

// The same with the wordings the field reports: the RAOP text, and RBAC for Applications'
// generic "Access is denied", which only the token's roles tell from a missing permission.
func TestMailboxOutOfScopeIsBlockedWhateverTheWording(t *testing.T) {
	t.Parallel()
	for _, denial := range []graphsim.PolicyDenial{graphsim.DenialRAOP, graphsim.DenialRBAC} {
		t.Run(string(denial), func(t *testing.T) {
			e := newSyncEnvWith(t, graphsim.Options{PolicyDenial: denial})
			ctx := t.Context()
			mbx := mailboxes.New(e.st, e.mc, auth.NewDirectory(e.st), mailboxes.Options{})
			require.NoError(t, e.sim.SetAccessPolicy(e.tenant, syncApp, []string{e.bob}))
			e.sim.Advance(31 * time.Minute)
			require.NoError(t, mbx.Discover(ctx, e.org, e.tenant))
			m, err := mbx.Get(ctx, e.org, "mbx_"+e.alice)
			require.NoError(t, err)
			require.Equal(t, mailboxes.BlockedByPolicy, m.Access, m.AccessReason)
		})
	}
}

// Graph refusing lifetimes over 4,230 minutes, as implementers reported in 2026
// (microsoft-graph-docs-contrib issue 7726), while the docs say 10,080: every captured mailbox
// still gets all its subscriptions, at the ceiling Graph named (one refused POST in all, then the
// ceiling is remembered), and they are renewed before they end, once each, not every minute.
func TestSubscriptionsAreMadeUnderTheLifetimeCeilingGraphNames(t *testing.T) {
	t.Parallel()
	n := newNotifyEnv(t, graphsim.Options{OutlookMaxLifetime: 4230 * time.Minute}, nil) // asserts 8 subscriptions for two mailboxes
	ctx := t.Context()
	require.Equal(t, 9, n.requests("POST", "/subscriptions"), "one refusal, then eight at the ceiling")
	for _, s := range n.sim.Subscriptions() {
		require.WithinDuration(t, n.sim.Now().Add(4220*time.Minute), s.ExpirationDateTime, time.Minute, s.Resource)
	}
	hs, err := n.subs.MailboxHealth(ctx, n.org, n.alice)
	require.NoError(t, err)
	for _, h := range hs {
		require.Equal(t, "ACTIVE", h.State, h.Scope)
	}
	contacts := n.subscription(t, n.alice, "/contacts")
	n.advance(t, time.Hour)
	require.NoError(t, n.subs.EnsureMailbox(ctx, n.org, n.tenant, n.alice))
	require.Zero(t, n.requests("PATCH", "/subscriptions/"+contacts.ID), "70 hours left: not due")
	n.advance(t, 36*time.Hour)
	require.NoError(t, n.subs.EnsureMailbox(ctx, n.org, n.tenant, n.alice))
	require.NoError(t, n.subs.EnsureMailbox(ctx, n.org, n.tenant, n.alice))
	require.Equal(t, 1, n.requests("PATCH", "/subscriptions/"+contacts.ID), "renewed once, past half its life")
	after := n.subscription(t, n.alice, "/contacts")
	require.WithinDuration(t, n.sim.Now().Add(4220*time.Minute), after.ExpirationDateTime, time.Minute)
}
