package mailboxes

import (
	"context"
	"errors"
	"time"

	"github.com/teamaccess/teamaccess/auth"
	"github.com/teamaccess/teamaccess/store"
)

// Access is whether teamaccess may read a mailbox (the API's MailboxAccess).
type Access string

// The access classes.
const (
	Accessible        Access = "ACCESSIBLE"
	BlockedByPolicy   Access = "BLOCKED_BY_POLICY"
	NoMailbox         Access = "NO_MAILBOX"
	MissingPermission Access = "MISSING_PERMISSION"
	Errored           Access = "ERROR"
	Unknown           Access = "UNKNOWN"
)

// Mailbox is a user of the tenant and teamaccess's access to their mailbox, as the API shows it.
type Mailbox struct {
	ID                string // global id: "mbx_" and the user's directory id
	UserID            string
	DisplayName       string
	UserPrincipalName string
	Mail              *string
	JobTitle          *string
	Department        *string
	IsGuest           bool
	AccountEnabled    bool
	Access            Access
	AccessReason      string
	AccessCode        *string
	CheckedAt         *time.Time
	AccessChangedAt   *time.Time
	Capture           bool
	// Captured: accessible, enabled, and capture on: its mail, meetings and contacts are synced.
	Captured bool
}

// IsNode marks a Mailbox as a GraphQL Node.
func (Mailbox) IsNode() {}

// GetID is the Mailbox's global ID.
func (m Mailbox) GetID() string { return m.ID }

// Summary counts the tenant's mailboxes by access.
type Summary struct {
	Total, Accessible, BlockedByPolicy, NoMailbox, MissingPermission, Errors, Unknown int
}

// User is a directory user as users/delta reports it.
type User struct {
	ID, DisplayName, UserPrincipalName, Mail, JobTitle, Department, UserType string
	AccountEnabled, Removed                                                  bool
}

// Probe is one probe's answer.
type Probe struct {
	Access        Access
	Code, Message string
}

// Directory reaches Microsoft Graph for a tenant. Its errors wrap ErrDeltaExpired or
// ErrTransient where those apply.
type Directory interface {
	UsersDelta(ctx context.Context, tenantID, deltaLink string) ([]User, string, error)
	ProbeMailbox(ctx context.Context, tenantID, userID string) (Probe, error)
}

// Errors a Directory reports.
var (
	ErrDeltaExpired = errors.New("delta link expired")
	ErrTransient    = errors.New("transient Graph failure")
	ErrInvalid      = errors.New("invalid input")
	ErrNotFound     = errors.New("not found")
)

// Store is what discovery needs of the database.
type Store interface {
	Org(orgID string) store.OrgScope
	ConnectedTeamAccess(ctx context.Context) ([]store.TeamAccess, error)
}

var _ Store = (*store.Store)(nil)

// Auditor records administrative actions.
type Auditor interface {
	Record(ctx context.Context, actor auth.Actor, action, target, summary string) error
}
