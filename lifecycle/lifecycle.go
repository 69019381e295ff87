package lifecycle

import (
	"context"
	"log/slog"
	"time"

	"github.com/teamaccess/teamaccess/mailboxes"
	"github.com/teamaccess/teamaccess/store"
)

// Discovery is what the lifecycle asks of mailbox discovery (mailboxes.Service).
type Discovery interface {
	Discover(ctx context.Context, orgID, tenantID string) error
	Refused(ctx context.Context, orgID, tenantID, userID string)
	Disconnected(ctx context.Context, orgID string, purge bool) error
}

// Sync is what the lifecycle asks of delta sync (deltasync.Syncer).
type Sync interface {
	SyncNow(ctx context.Context, orgID, tenantID, userID string)
	Hold(ctx context.Context, orgID string) (release func(), err error)
}

// Notifications is what the lifecycle asks of change notifications (subscriptions.Service).
type Notifications interface {
	MailboxCaptured(ctx context.Context, orgID, tenantID, userID string, captured bool)
	Disconnected(ctx context.Context, orgID string) error
}

// Store is what the lifecycle reads and marks in the database.
type Store interface {
	Org(orgID string) store.OrgScope
}

var _ Store = (*store.Store)(nil)

// Parts are the packages the lifecycle connects.
type Parts struct {
	Discovery     Discovery
	Sync          Sync
	Notifications Notifications
}

// Lifecycle carries Team Access's events from one package to the next.
type Lifecycle struct {
	g   *Group
	st  Store
	log *slog.Logger
	p   Parts
	// settle is how long a purge waits after marking the organisation, for other processes'
	// rounds to notice (deltasync.PurgeSettle).
	settle time.Duration
}

// New returns a lifecycle that runs its work in g. The parts it connects are attached once
// they are built (Attach): they hear of it through its hooks, and it calls them.
func New(g *Group, st Store, settle time.Duration, log *slog.Logger) *Lifecycle {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Lifecycle{g: g, st: st, settle: settle, log: log}
}

// Attach gives the lifecycle the parts it connects. The service calls it once, before it
// serves anything; no hook runs before that.
func (l *Lifecycle) Attach(p Parts) { l.p = p }

// discoverTimeout bounds the discovery started by a consent.
const discoverTimeout = time.Hour

// Connected is access's OnConnect hook: a tenant just bound is discovered at once.
func (l *Lifecycle) Connected(orgID, tenantID string) {
	l.g.Go(func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, discoverTimeout)
		defer cancel()
		if err := l.p.Discovery.Discover(ctx, orgID, tenantID); err != nil && ctx.Err() == nil {
			l.log.Warn("discovering mailboxes after consent", "organization", orgID, "err", err)
		}
	})
}

// CaptureChanged is mailboxes' OnCapture hook: a mailbox captured now is synced and subscribed
// at once; one no longer captured loses its subscriptions (its data stays).
func (l *Lifecycle) CaptureChanged(ctx context.Context, orgID string, m mailboxes.Mailbox, captured bool) {
	l.log.Info("mailbox capture changed", "organization", orgID, "mailbox", m.ID, "captured", captured)
	ta, err := l.st.Org(orgID).TeamAccess(ctx)
	if err != nil || ta.TenantID == "" {
		return
	}
	if captured {
		l.g.Go(func(ctx context.Context) { l.p.Sync.SyncNow(ctx, orgID, ta.TenantID, m.UserID) })
	}
	l.g.Go(func(ctx context.Context) {
		l.p.Notifications.MailboxCaptured(ctx, orgID, ta.TenantID, m.UserID, captured)
	})
}

// Refused is deltasync's Refused hook: Graph refused a captured mailbox's round (403 or 404),
// so its access is probed at once.
func (l *Lifecycle) Refused(ctx context.Context, orgID, tenantID, userID string) {
	l.p.Discovery.Refused(ctx, orgID, tenantID, userID)
}

// Disconnecting is access's disconnect hook: the organisation's Graph subscriptions go, and
// with purge its captured data, so that no sync writes any of it back.
func (l *Lifecycle) Disconnecting(ctx context.Context, orgID, _ string, purge bool) error {
	if err := l.p.Notifications.Disconnected(ctx, orgID); err != nil {
		return err
	}
	if purge {
		return l.purge(ctx, orgID)
	}
	return l.p.Discovery.Disconnected(ctx, orgID, false)
}

// purge deletes an organisation's captured data so that no sync writes any of it back, in this
// process or another on the same database: it marks the organisation as being purged (every
// process's rounds stop writing within a second of seeing it), holds this process's rounds
// (those under way stop before their next page), waits settle for other processes' rounds to
// notice and finish a page they were writing, then deletes.
func (l *Lifecycle) purge(ctx context.Context, orgID string) error {
	marked := time.Now()
	if err := l.st.Org(orgID).MarkPurging(ctx, marked.UTC()); err != nil {
		return err
	}
	release, err := l.p.Sync.Hold(ctx, orgID)
	if err != nil {
		return err
	}
	defer release()
	select {
	case <-time.After(l.settle - time.Since(marked)):
	case <-ctx.Done():
		return ctx.Err()
	}
	return l.p.Discovery.Disconnected(ctx, orgID, true)
}
