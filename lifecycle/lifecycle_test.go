package lifecycle_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/teamaccess/teamaccess/lifecycle"
	"github.com/teamaccess/teamaccess/mailboxes"
	"github.com/teamaccess/teamaccess/store"
	"github.com/teamaccess/teamaccess/testenv"
)

// recorder is the parts the lifecycle connects, recording what it asks of them: the lifecycle's
// own behaviour is which part hears of what, in which order, under which context.
type recorder struct {
	mu    sync.Mutex
	calls []string
	held  bool
	block chan struct{} // Discover waits on it, or on its context
}

func (r *recorder) add(c string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, c)
}

func (r *recorder) seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string{}, r.calls...)
}

func (r *recorder) Discover(ctx context.Context, org, tenant string) error {
	r.add("discover " + org + " " + tenant)
	if r.block != nil {
		select {
		case <-r.block:
		case <-ctx.Done():
			r.add("discover stopped")
		}
	}
	return nil
}
func (r *recorder) Refused(_ context.Context, org, tenant, user string) { r.add("probe " + user) }
func (r *recorder) Disconnected(_ context.Context, org string, purge bool) error {
	r.mu.Lock()
	held := r.held
	r.mu.Unlock()
	r.add("delete " + org + map[bool]string{true: " purge", false: ""}[purge] + map[bool]string{true: " (held)", false: ""}[held])
	return nil
}
func (r *recorder) SyncNow(_ context.Context, org, tenant, user string) {
	r.add("sync " + tenant + " " + user)
}
func (r *recorder) Hold(context.Context, string) (func(), error) {
	r.mu.Lock()
	r.held = true
	r.mu.Unlock()
	return func() { r.mu.Lock(); r.held = false; r.mu.Unlock() }, nil
}
func (r *recorder) MailboxCaptured(_ context.Context, org, tenant, user string, captured bool) {
	r.add("subscriptions " + user + map[bool]string{true: " on", false: " off"}[captured])
}

// notifications adapts the recorder's subscription side (Disconnected is taken by discovery).
type notifications struct{ r *recorder }

func (n notifications) MailboxCaptured(ctx context.Context, org, tenant, user string, captured bool) {
	n.r.MailboxCaptured(ctx, org, tenant, user, captured)
}
func (n notifications) Disconnected(_ context.Context, org string) error {
	n.r.add("unsubscribe " + org)
	return nil
}

func newLifecycle(t *testing.T) (*lifecycle.Lifecycle, *lifecycle.Group, context.CancelFunc, *recorder, *store.Store) {
	t.Helper()
	st := testenv.Store(t)
	require.NoError(t, st.Org("org_a").SaveTeamAccess(t.Context(), store.TeamAccess{OrgID: "org_a", Status: "ACTIVE", TenantID: "tenant-a"}))
	ctx, cancel := context.WithCancel(context.Background())
	g := lifecycle.NewGroup(ctx)
	r := &recorder{}
	l := lifecycle.New(g, st, 50*time.Millisecond, nil)
	l.Attach(lifecycle.Parts{Discovery: r, Sync: r, Notifications: notifications{r}})
	return l, g, cancel, r, st
}

// A consent starts discovery in the group; a mailbox captured is synced and subscribed with the
// tenant the store names; one no longer captured loses its subscriptions only; a refused round
// is probed.
func TestEventsReachTheRightParts(t *testing.T) {
	t.Parallel()
	l, g, cancel, r, _ := newLifecycle(t)
	l.Connected("org_a", "tenant-a")
	l.CaptureChanged(t.Context(), "org_a", mailboxes.Mailbox{ID: "mbx_u1", UserID: "u1"}, true)
	l.CaptureChanged(t.Context(), "org_a", mailboxes.Mailbox{ID: "mbx_u2", UserID: "u2"}, false)
	l.Refused(t.Context(), "org_a", "tenant-a", "u3")
	cancel()
	g.Wait()
	require.ElementsMatch(t, []string{"discover org_a tenant-a", "sync tenant-a u1", "subscriptions u1 on", "subscriptions u2 off", "probe u3"}, r.seen())

	l.Connected("org_a", "tenant-a") // after the service's context ended, nothing starts
	g.Wait()
	require.Len(t, r.seen(), 5)
}

// An organisation without a tenant starts nothing on a capture change.
func TestCaptureWithoutATenantDoesNothing(t *testing.T) {
	t.Parallel()
	l, g, cancel, r, _ := newLifecycle(t)
	l.CaptureChanged(t.Context(), "org_b", mailboxes.Mailbox{ID: "mbx_u1", UserID: "u1"}, true)
	cancel()
	g.Wait()
	require.Empty(t, r.seen())
}

// Work in the group ends with the service's context, and Wait joins it.
func TestGroupWorkStopsWithTheService(t *testing.T) {
	t.Parallel()
	l, g, cancel, r, _ := newLifecycle(t)
	r.block = make(chan struct{})
	l.Connected("org_a", "tenant-a")
	require.Eventually(t, func() bool { return len(r.seen()) == 1 }, 5*time.Second, time.Millisecond)
	cancel()
	g.Wait()
	require.Equal(t, []string{"discover org_a tenant-a", "discover stopped"}, r.seen())
}

// A disconnect unsubscribes first; with purge it marks the organisation, holds its syncs, waits
// the settling time, and deletes while they are held; without, it only forgets the mailboxes.
func TestDisconnectWithAndWithoutPurge(t *testing.T) {
	t.Parallel()
	l, _, cancel, r, st := newLifecycle(t)
	defer cancel()
	start := time.Now()
	require.NoError(t, l.Disconnecting(t.Context(), "org_a", "tenant-a", true))
	require.GreaterOrEqual(t, time.Since(start), 50*time.Millisecond, "the purge waited for other processes' rounds")
	require.Equal(t, []string{"unsubscribe org_a", "delete org_a purge (held)"}, r.seen())
	ta, err := st.Org("org_a").TeamAccess(t.Context())
	require.NoError(t, err)
	require.NotNil(t, ta.PurgingAt, "marked for every process's syncs")

	require.NoError(t, l.Disconnecting(t.Context(), "org_a", "tenant-a", false))
	require.Equal(t, []string{"unsubscribe org_a", "delete org_a purge (held)", "unsubscribe org_a", "delete org_a"}, r.seen())
}
