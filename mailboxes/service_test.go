package mailboxes_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/teamaccess/teamaccess/auth"
	"github.com/teamaccess/teamaccess/graphsim"
	"github.com/teamaccess/teamaccess/m365"
	"github.com/teamaccess/teamaccess/mailboxes"
	"github.com/teamaccess/teamaccess/store"
	"github.com/teamaccess/teamaccess/testenv"
)

const (
	appID  = "0f4a2c6e-1b3d-4e5f-8a9b-0c1d2e3f4a5b"
	secret = "secret"
)

type env struct {
	sim      *graphsim.Sim
	svc      *mailboxes.Service
	st       *store.Store
	org      string
	tenant   string
	clock    time.Time
	mu       sync.Mutex
	captured map[string]bool
	// published are the batches Publish heard, by user id.
	published [][]string
}

func newEnv(t testing.TB, policyDelay time.Duration, configure ...func(*graphsim.Options)) *env {
	t.Helper()
	o := graphsim.Options{Apps: []graphsim.App{{ID: appID, Secret: secret, Name: "teamaccess",
		Permissions: []string{"Calendars.Read", "User.Read.All", "Mail.Read", "Contacts.Read"}}}, PolicyDelay: policyDelay}
	for _, c := range configure {
		c(&o)
	}
	sim := testenv.Sim(t, o)
	// TEAMACCESS_BENCH_POSTGRESQL_URL runs the embedded FerretDB on PostgreSQL (scripts/bench/discovery.sh).
	st, err := store.Open(t.Context(), store.Options{DataDir: t.TempDir(), PostgreSQLURL: os.Getenv("TEAMACCESS_BENCH_POSTGRESQL_URL"),
		Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	t.Cleanup(func() { st.Close(context.Background()) })
	cl, _ := m365.CustomCloud(sim.AuthorityURL(), sim.GraphURL())
	mc, err := m365.New(m365.Config{ClientID: appID, ClientSecret: secret, Cloud: cl, RootCAs: sim.CertPool()})
	require.NoError(t, err)
	e := &env{sim: sim, st: st, clock: time.Now(), captured: map[string]bool{}}
	dir := auth.NewDirectory(st)
	org, _ := dir.CreateOrganization(t.Context(), "Acme")
	e.org = org.ID
	e.svc = mailboxes.New(st, mc, dir, mailboxes.Options{
		Now: func() time.Time { e.mu.Lock(); defer e.mu.Unlock(); return e.clock },
		OnCapture: func(_ context.Context, _ string, m mailboxes.Mailbox, on bool) {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.captured[m.UserID] = on
		},
		Publish: func(_ context.Context, _ string, ms ...mailboxes.Mailbox) {
			e.mu.Lock()
			defer e.mu.Unlock()
			var batch []string
			for _, m := range ms {
				batch = append(batch, m.UserID)
			}
			e.published = append(e.published, batch)
		},
	})
	return e
}

func (e *env) advance(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.clock = e.clock.Add(d)
}

func (e *env) access(t *testing.T) map[string]mailboxes.Access {
	t.Helper()
	page, err := e.svc.List(t.Context(), e.org, mailboxes.Filter{}, 100, "")
	require.NoError(t, err)
	out := map[string]mailboxes.Access{}
	for _, m := range page.Mailboxes {
		out[m.UserID] = m.Access
	}
	return out
}

// discoveredDemo is an environment whose organisation has discovered graphsim's demo tenant.
func discoveredDemo(t *testing.T) (*env, graphsim.Demo) {
	t.Helper()
	e := newEnv(t, 0)
	d, err := e.sim.SeedDemo(appID)
	require.NoError(t, err)
	require.NoError(t, e.sim.GrantConsent(d.TenantID, appID))
	require.NoError(t, e.svc.Discover(t.Context(), e.org, d.TenantID))
	return e, d
}

func TestDemoTenantIsClassifiedRight(t *testing.T) {
	t.Parallel()
	e, d := discoveredDemo(t)
	got := e.access(t)
	require.Len(t, got, 27)
	for _, u := range d.Sales {
		require.Equal(t, mailboxes.Accessible, got[u], u)
		require.True(t, e.captured[u])
	}
	for _, u := range d.Blocked {
		require.Equal(t, mailboxes.BlockedByPolicy, got[u])
		require.False(t, e.captured[u])
	}
	require.Equal(t, mailboxes.NoMailbox, got[d.NoMailbox])
	require.Equal(t, mailboxes.NoMailbox, got[d.Guest], "a guest is not probed")
	sum, err := e.svc.Summary(t.Context(), e.org)
	require.NoError(t, err)
	require.Equal(t, mailboxes.Summary{Total: 27, Accessible: 22, BlockedByPolicy: 3, NoMailbox: 2}, sum)
	require.True(t, e.captured[d.Disabled], "a readable mailbox whose account is disabled is captured: its kind's policy is on")
	require.True(t, e.captured[d.Shared], "the team's shared mailbox too")

	blocked, err := e.svc.List(t.Context(), e.org, mailboxes.Filter{Access: []mailboxes.Access{mailboxes.BlockedByPolicy}}, 2, "")
	require.NoError(t, err)
	require.Len(t, blocked.Mailboxes, 2)
	require.True(t, blocked.HasNext)
	rest, err := e.svc.List(t.Context(), e.org, mailboxes.Filter{Access: []mailboxes.Access{mailboxes.BlockedByPolicy}}, 2, blocked.Cursors[1])
	require.NoError(t, err)
	require.Len(t, rest.Mailboxes, 1)
	require.False(t, rest.HasNext)
	require.Contains(t, rest.Mailboxes[0].AccessReason, "application access policy")
	found, err := e.svc.List(t.Context(), e.org, mailboxes.Filter{Search: "VANCE"}, 10, "")
	require.NoError(t, err)
	require.Len(t, found.Mailboxes, 1)
	require.Equal(t, "Adele Vance", found.Mailboxes[0].DisplayName)
}

// Each mailbox whose probe changed its access is announced once, and those of one chunk of
// probes (the first round of 4, then four rounds of the 4 at once) together: one change-log
// append for the chunk, not one for each mailbox (three processes appending to one
// organisation's log collide).
func TestAProbeChunksChangesArePublishedTogether(t *testing.T) {
	t.Parallel()
	e, _ := discoveredDemo(t)
	e.mu.Lock()
	defer e.mu.Unlock()
	seen := map[string]int{}
	for _, b := range e.published {
		require.LessOrEqual(t, len(b), 16)
		for _, u := range b {
			seen[u]++
		}
	}
	require.Len(t, seen, 27, "every mailbox is announced (the guest's too: classified without a request)")
	for u, n := range seen {
		require.Equal(t, 1, n, u)
	}
	require.Len(t, e.published, 3, "27 mailboxes: the first round of 4, a chunk of 16 and one of the other 7")
	require.Len(t, e.published[0], 4)
}

// A policy change applies after graphsim's propagation delay and is seen by the next scheduled
// re-probe; a user deleted in the tenant leaves capture; the admin's capture switch is heard.
func TestPolicyChangeDeletionAndCaptureSwitch(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 300*time.Millisecond)
	ctx := t.Context()
	e.tenant = e.sim.AddTenant(graphsim.TenantSpec{Name: "Contoso"})
	var users []string
	for i := range 4 {
		u, _ := e.sim.AddUser(e.tenant, graphsim.UserSpec{DisplayName: fmt.Sprintf("User %d", i), UPN: fmt.Sprintf("u%d@contoso.com", i)})
		users = append(users, u)
	}
	require.NoError(t, e.sim.GrantConsent(e.tenant, appID))
	require.NoError(t, e.svc.Discover(ctx, e.org, e.tenant))
	require.Equal(t, mailboxes.Accessible, e.access(t)[users[3]])

	require.NoError(t, e.sim.SetAccessPolicy(e.tenant, appID, users[:2]))
	require.NoError(t, e.svc.ProbeAllDue(ctx))
	require.Equal(t, mailboxes.Accessible, e.access(t)[users[3]], "nothing due yet; and the policy is not applied yet")
	require.Eventually(t, func() bool { return !e.sim.CanAccess(e.tenant, appID, users[3]) }, 5*time.Second, 5*time.Millisecond,
		"graphsim applies the policy")
	e.advance(mailboxes.DefaultSchedule.Readable + time.Minute)
	require.NoError(t, e.svc.ProbeAllDue(ctx)) // no connection recorded: nothing to do
	require.Equal(t, mailboxes.Accessible, e.access(t)[users[3]])
	require.NoError(t, e.st.Org(e.org).SaveTeamAccess(ctx, store.TeamAccess{Status: "ACTIVE", TenantID: e.tenant}))
	require.NoError(t, e.svc.ProbeAllDue(ctx))
	got := e.access(t)
	require.Equal(t, mailboxes.Accessible, got[users[0]])
	require.Equal(t, mailboxes.BlockedByPolicy, got[users[3]], "picked up by the scheduled re-probe")
	require.False(t, e.captured[users[3]], "capture stopped")

	require.NoError(t, e.sim.DeleteUser(e.tenant, users[1], false))
	require.NoError(t, e.svc.DiscoverAll(ctx))
	_, present := e.access(t)[users[1]]
	require.False(t, present, "a deleted user is no longer listed")
	require.False(t, e.captured[users[1]])

	m, err := e.svc.SetCapture(ctx, auth.CommandLine(e.org), "mbx_"+users[0], false)
	require.NoError(t, err)
	require.False(t, m.Captured)
	require.False(t, e.captured[users[0]])
	_, err = e.svc.SetCapture(ctx, auth.CommandLine(e.org), "mbx_nobody", false)
	require.ErrorIs(t, err, mailboxes.ErrNotFound)

	re, err := e.svc.Recheck(ctx, e.org, e.tenant, []string{"mbx_" + users[3]})
	require.NoError(t, err)
	require.Equal(t, mailboxes.BlockedByPolicy, re[0].Access)
}

// Probing through a storm of 429s ends with every mailbox classified, and never more than 4
// requests in flight on a mailbox (graphsim answers 429 MailboxConcurrency past that, and its
// request log would show it).
func TestThrottlingStorm(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	ctx := t.Context()
	e.tenant = e.sim.AddTenant(graphsim.TenantSpec{Name: "Contoso"})
	for i := range 12 {
		_, _ = e.sim.AddUser(e.tenant, graphsim.UserSpec{DisplayName: fmt.Sprintf("User %02d", i), UPN: fmt.Sprintf("u%d@contoso.com", i)})
	}
	require.NoError(t, e.sim.GrantConsent(e.tenant, appID))
	e.sim.InjectFault(graphsim.Fault{Path: "/mailFolders/inbox", Status: 429, RetryAfter: 1, Rate: 0.4, Count: 8})
	require.NoError(t, e.svc.Discover(ctx, e.org, e.tenant))
	require.NoError(t, e.st.Org(e.org).SaveTeamAccess(ctx, store.TeamAccess{Status: "ACTIVE", TenantID: e.tenant}))
	for range 5 { // probes that stayed throttled past the client's retries come back a minute later
		e.advance(time.Minute)
		require.NoError(t, e.svc.ProbeAllDue(ctx))
	}
	for u, a := range e.access(t) {
		require.Equal(t, mailboxes.Accessible, a, u)
	}
	throttled := 0
	for _, r := range e.sim.Requests() {
		if r.Status == 429 {
			throttled++
			require.NotEqual(t, "ApplicationThrottled", r.Code, "never over the mailbox's concurrency or request limits")
		}
	}
	require.Positive(t, throttled, "the storm happened")
}

// Mailbox kinds, as far as User.Read.All tells them: a shared mailbox and a room (disabled and
// unlicensed, as Exchange Online makes them) are SHARED_OR_RESOURCE, a disabled licensed account
// DISABLED_USER. Each kind has a capture policy, on by default: turning one off stops capture of
// its mailboxes and starts new ones of that kind off; a user who changes kind takes the new
// kind's policy.
func TestMailboxKindsAndTheirCapturePolicy(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	ctx := t.Context()
	d, err := e.sim.SeedDemo(appID)
	require.NoError(t, err)
	require.NoError(t, e.sim.GrantConsent(d.TenantID, appID))
	require.NoError(t, e.svc.Discover(ctx, e.org, d.TenantID))
	kind := func(u string) mailboxes.Kind {
		m, err := e.svc.Get(ctx, e.org, "mbx_"+u)
		require.NoError(t, err)
		return m.Kind
	}
	require.Equal(t, mailboxes.KindUser, kind(d.Sales[0]))
	require.Equal(t, mailboxes.KindDisabledUser, kind(d.Disabled))
	require.Equal(t, mailboxes.KindSharedOrResource, kind(d.Shared))
	require.Equal(t, mailboxes.KindSharedOrResource, kind(d.Room))
	require.Equal(t, mailboxes.KindGuest, kind(d.Guest))
	ks, err := e.svc.KindCaptures(ctx, e.org)
	require.NoError(t, err)
	require.Equal(t, []mailboxes.KindCapture{{Kind: mailboxes.KindUser, Capture: true, Mailboxes: 23}, {Kind: mailboxes.KindDisabledUser, Capture: true, Mailboxes: 1},
		{Kind: mailboxes.KindSharedOrResource, Capture: true, Mailboxes: 2}, {Kind: mailboxes.KindGuest, Capture: false, Mailboxes: 1}}, ks)

	admin := auth.CommandLine(e.org)
	ks, err = e.svc.SetKindCapture(ctx, admin, mailboxes.KindSharedOrResource, false)
	require.NoError(t, err)
	require.False(t, ks[2].Capture)
	require.False(t, e.captured[d.Shared], "capture stopped for the shared mailbox")
	require.False(t, e.captured[d.Room])
	require.True(t, e.captured[d.Sales[0]], "other kinds untouched")
	_, err = e.svc.SetKindCapture(ctx, admin, mailboxes.KindGuest, true)
	require.ErrorIs(t, err, mailboxes.ErrInvalid)

	// A mailbox of that kind found later starts with capture off; a user who left (disabled,
	// licence removed: converted to shared) takes the kind's policy too.
	later, err := e.sim.AddUser(d.TenantID, graphsim.UserSpec{DisplayName: "Support Team", UPN: "support@contoso.com", Purpose: "shared"})
	require.NoError(t, err)
	require.NoError(t, e.sim.UpdateUser(d.TenantID, d.Sales[1], func(u *graphsim.User) {
		u.AccountEnabled, u.AssignedLicenses = false, []graphsim.AssignedLicense{}
	}))
	require.NoError(t, e.svc.Discover(ctx, e.org, d.TenantID))
	m, err := e.svc.Get(ctx, e.org, "mbx_"+later)
	require.NoError(t, err)
	require.Equal(t, mailboxes.KindSharedOrResource, m.Kind)
	require.False(t, m.Capture)
	m, err = e.svc.Get(ctx, e.org, "mbx_"+d.Sales[1])
	require.NoError(t, err)
	require.Equal(t, mailboxes.KindSharedOrResource, m.Kind)
	require.False(t, m.Capture, "the converted mailbox follows its new kind's policy")
	require.False(t, e.captured[d.Sales[1]])
}

// A large tenant's first mailboxes found readable are captured (and start syncing) while the
// rest are still being probed, not after the last probe: after the first round of probes, not
// the first four.
func TestCaptureStartsWhileALargeTenantIsStillProbed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	tenant := e.sim.AddTenant(graphsim.TenantSpec{Name: "Big", Domain: "big.onmicrosoft.com"})
	for i := range 60 {
		_, err := e.sim.AddUser(tenant, graphsim.UserSpec{DisplayName: fmt.Sprintf("Seller %02d", i), UPN: fmt.Sprintf("s%02d@big.com", i)})
		require.NoError(t, err)
	}
	require.NoError(t, e.sim.GrantConsent(tenant, appID))
	e.sim.InjectFault(graphsim.Fault{Path: "/users/", Latency: 50 * time.Millisecond})
	var firstCapture time.Time
	var once sync.Once
	e.svc = mailboxes.New(e.st, mustClient(t, e.sim), auth.NewDirectory(e.st), mailboxes.Options{
		OnCapture: func(context.Context, string, mailboxes.Mailbox, bool) { once.Do(func() { firstCapture = time.Now() }) },
	})
	require.NoError(t, e.svc.Discover(t.Context(), e.org, tenant))
	var probes []time.Time
	for _, r := range e.sim.Requests() {
		if r.UserID != "" && r.UserID != "delta" {
			probes = append(probes, r.At)
		}
	}
	slices.SortFunc(probes, time.Time.Compare)
	require.Len(t, probes, 60)
	require.False(t, firstCapture.IsZero())
	require.True(t, firstCapture.Before(probes[59]), "the first capture (%v) came before the last probe (%v)", firstCapture, probes[59])
	// Four at a time, 50 ms each: the 17th probe starts 200 ms after the first, once a first
	// chunk of four rounds would have been probed.
	require.True(t, firstCapture.Before(probes[16]), "the first capture (%v) came before the fifth round of probes (%v)", firstCapture, probes[16])
}

func mustClient(t *testing.T, sim *graphsim.Sim) *m365.Client {
	cl, _ := m365.CustomCloud(sim.AuthorityURL(), sim.GraphURL())
	mc, err := m365.New(m365.Config{ClientID: appID, ClientSecret: secret, Cloud: cl, RootCAs: sim.CertPool()})
	require.NoError(t, err)
	return mc
}
