// Package resolvers implements the GraphQL schema. Resolvers are thin: they read arguments,
// call a domain package through the small interfaces declared here, and map the result. The
// Resolver struct is where server.Run injects those dependencies.
package resolvers

import (
	"context"
	"time"

	"github.com/teamaccess/teamaccess/access"
	"github.com/teamaccess/teamaccess/activities"
	"github.com/teamaccess/teamaccess/attention"
	"github.com/teamaccess/teamaccess/auth"
	"github.com/teamaccess/teamaccess/deltasync"
	"github.com/teamaccess/teamaccess/graph"
	"github.com/teamaccess/teamaccess/mailboxes"
	"github.com/teamaccess/teamaccess/store"
	"github.com/teamaccess/teamaccess/subscriptions"
)

// Resolver is the root resolver.
type Resolver struct {
	// Version and GoVersion describe this build; StartedAt is when the process started.
	Version   string
	GoVersion string
	StartedAt time.Time
	// DemoMode: Microsoft is graphsim.
	DemoMode bool
	// DB describes the database.
	DB StorageDescriber
	// Directory holds organisations, API keys and the audit log.
	Directory Directory
	// TeamAccess is the Microsoft 365 connection; TeamAccessFeed its live changes.
	Access         TeamAccessService
	TeamAccessFeed interface {
		Watch(ctx context.Context, orgID string, notify func()) <-chan access.TeamAccess
	}
	// Mailboxes are the tenant's users and access to their mailboxes; MailboxFeed their changes.
	Mailboxes   MailboxService
	MailboxFeed interface {
		Watch(ctx context.Context, orgID string, notify func()) <-chan mailboxes.Mailbox
	}
	// Activities reads captured mail, meetings and contacts; ActivityFeed streams their changes.
	Activities   ActivityService
	ActivityFeed interface {
		Subscribe(ctx context.Context, orgID string, f *activities.Filter, after string, drive activities.Driver) (<-chan *activities.Event, error)
		// Follow streams the change log's mailbox or Team Access entries (for webhooks).
		Follow(ctx context.Context, orgID, kind, after string) (<-chan *activities.Event, error)
	}
	// Sync is the delta sync of captured mailboxes; Audit records admin actions.
	Sync  SyncService
	Audit deltasync.Auditor
	// Notifications are the Graph change-notification subscriptions.
	Notifications NotificationService
	// Webhooks are the partners' outbound webhook endpoints.
	Webhooks WebhookService
	// Privacy is the capture policies, erasure and retention.
	Privacy PrivacyService
	// Attention lists what needs an organisation's admin.
	Attention interface {
		Issues(ctx context.Context, orgID string) ([]attention.Issue, error)
		Totals(ctx context.Context, orgID string) (store.Totals, error)
	}
	// Now is the clock; time.Now if nil.
	Now func() time.Time
}

// TeamAccessService is what the resolvers need of access.Service.
type TeamAccessService interface {
	Status(ctx context.Context, orgID string) (access.TeamAccess, error)
	CreateConsentLink(ctx context.Context, actor auth.Actor, tenantHint string) (access.ConsentLink, error)
	Disconnect(ctx context.Context, actor auth.Actor, purge bool) (access.TeamAccess, error)
}

var _ TeamAccessService = (*access.Service)(nil)

// MailboxService is what the resolvers need of mailboxes.Service.
type MailboxService interface {
	List(ctx context.Context, orgID string, f mailboxes.Filter, first int, after string) (mailboxes.Page, error)
	Get(ctx context.Context, orgID, id string) (mailboxes.Mailbox, error)
	Summary(ctx context.Context, orgID string) (mailboxes.Summary, error)
	SetCapture(ctx context.Context, actor auth.Actor, id string, enabled bool) (mailboxes.Mailbox, error)
	KindCaptures(ctx context.Context, orgID string) ([]mailboxes.KindCapture, error)
	SetKindCapture(ctx context.Context, actor auth.Actor, kind mailboxes.Kind, enabled bool) ([]mailboxes.KindCapture, error)
	Recheck(ctx context.Context, orgID, tenantID string, ids []string) ([]mailboxes.Mailbox, error)
	GetMany(ctx context.Context, orgID string, ids []string) (map[string]mailboxes.Mailbox, error)
	PrimaryDomain(ctx context.Context, orgID string) (string, error)
}

// ActivityService is what the resolvers need of activities.Service.
type ActivityService interface {
	List(ctx context.Context, orgID string, f *activities.Filter, p activities.Page) (activities.Result, error)
	Count(ctx context.Context, orgID string, f *activities.Filter) (int, error)
	Get(ctx context.Context, orgID, id string) (activities.View, error)
	ContactsByEmail(ctx context.Context, orgID string, emails []string) (map[string]activities.Contact, error)
	Contacts(ctx context.Context, orgID string, f *activities.ContactFilter, p activities.Page) (activities.ContactResult, error)
	GetContact(ctx context.Context, orgID, id string) (*activities.Contact, error)
}

var _ ActivityService = (*activities.Service)(nil)

var _ MailboxService = (*mailboxes.Service)(nil)

// SyncService is what the resolvers need of deltasync.Syncer.
type SyncService interface {
	Health(ctx context.Context, orgID, userID string) ([]deltasync.Health, error)
	Backfill(ctx context.Context, orgID string) (deltasync.BackfillSummary, error)
	Resync(ctx context.Context, audit deltasync.Auditor, actor auth.Actor, tenantID, userID string, resources []string) error
}

var _ SyncService = (*deltasync.Syncer)(nil)

// NotificationService is what the resolvers need of subscriptions.Service.
type NotificationService interface {
	OrgSummary(ctx context.Context, orgID string) (subscriptions.Summary, error)
	MailboxHealth(ctx context.Context, orgID, userID string) ([]subscriptions.Health, error)
}

var _ NotificationService = (*subscriptions.Service)(nil)

// StorageDescriber tells what database the server uses and which installation it holds.
type StorageDescriber interface {
	Storage(ctx context.Context) (*graph.Storage, error)
	Installation(ctx context.Context) (*graph.Installation, error)
}

// Directory is what the resolvers need of auth.Directory. Every method takes the caller's
// organisation; the resolvers take it from the authenticated identity only.
type Directory interface {
	Organization(ctx context.Context, orgID string) (auth.Organization, error)
	Key(ctx context.Context, orgID, id string) (auth.Key, error)
	Keys(ctx context.Context, orgID string) ([]auth.Key, error)
	CreateKey(ctx context.Context, actor auth.Actor, spec auth.NewKey) (auth.Key, string, error)
	RevokeKey(ctx context.Context, actor auth.Actor, id string) (auth.Key, error)
	AuditLog(ctx context.Context, orgID string, first int, after string) (auth.AuditPage, error)
	AuditEntry(ctx context.Context, orgID, id string) (auth.AuditEntry, error)
}

var _ Directory = (*auth.Directory)(nil)

func (r *Resolver) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// New returns the executable schema's configuration: the resolvers, the @hasRole directive, and
// the cost of list fields for the complexity limit.
func New(r *Resolver) graph.Config {
	cfg := graph.Config{Resolvers: r}
	cfg.Directives.HasRole = HasRole
	setComplexity(&cfg.Complexity)
	return cfg
}

// pageSize is the number of items a connection field may return.
func pageSize(first *int, def int) int {
	if first == nil {
		return def
	}
	if *first < 1 {
		return 1
	}
	return *first
}
