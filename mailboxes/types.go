package mailboxes

import (
	"context"
	"time"

	"github.com/teamaccess/teamaccess/auth"
	"github.com/teamaccess/teamaccess/errkind"
	"github.com/teamaccess/teamaccess/graphdata"
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
	Kind              Kind
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
type User = graphdata.DirectoryUser

// Kind is what kind of mailbox a user's is, as far as teamaccess's permissions tell (the API's
// MailboxKind). User.Read.All shows an account's state and licenses, and Exchange Online
// creates shared, room and equipment mailboxes with their accounts disabled and no license;
// only mailboxSettings' userPurpose names them apart, behind MailboxSettings.Read, which
// teamaccess does not ask for.
type Kind string

// The kinds.
const (
	KindUser             Kind = "USER"               // a person's mailbox, sign-in enabled
	KindDisabledUser     Kind = "DISABLED_USER"      // licensed, sign-in blocked: typically someone who left
	KindSharedOrResource Kind = "SHARED_OR_RESOURCE" // disabled and unlicensed: shared, room or equipment
	KindGuest            Kind = "GUEST"              // a guest: their mailbox is in their home organization
)

// Kinds lists the kinds in the order the API shows them.
var Kinds = []Kind{KindUser, KindDisabledUser, KindSharedOrResource, KindGuest}

// kindOf tells a user's mailbox kind from the directory.
func kindOf(userType string, enabled, licensed bool) Kind {
	switch {
	case userType == "Guest":
		return KindGuest
	case enabled:
		return KindUser
	case licensed:
		return KindDisabledUser
	}
	return KindSharedOrResource
}

// DefaultKindCapture is whether each kind is captured until an admin says otherwise: all of
// them, so that a team's shared sales@ mailbox and a departed seller's kept mailbox are not left
// out silently (guests have no mailbox here to capture).
var DefaultKindCapture = map[Kind]bool{KindUser: true, KindDisabledUser: true, KindSharedOrResource: true, KindGuest: false}

// KindCapture is the capture policy of one kind, with how many mailboxes have it.
type KindCapture struct {
	Kind      Kind
	Capture   bool
	Mailboxes int
}

// Probe is one probe's answer.
type Probe struct {
	Access        Access
	Code, Message string
}

// Directory reaches Microsoft Graph for a tenant (*m365.Client serves it). Its errors match
// graphdata.ErrDeltaExpired and graphdata.ErrTransient where those apply.
type Directory interface {
	UsersDelta(ctx context.Context, tenantID, deltaLink string) ([]graphdata.DirectoryUser, string, error)
	ProbeMailbox(ctx context.Context, tenantID, userID string) (graphdata.Probe, error)
}

// Errors of the service.
var (
	ErrInvalid  = errkind.ErrInvalid
	ErrNotFound = errkind.ErrNotFound
)

// Store is what discovery needs of the database.
type Store interface {
	Org(orgID string) store.OrgScope
	ConnectedTeamAccess(ctx context.Context) ([]store.TeamAccess, error)
	OrgsWithMailboxesDue(ctx context.Context, now time.Time, partitions []int) ([]string, error)
}

var _ Store = (*store.Store)(nil)

// Auditor records administrative actions.
type Auditor interface {
	Record(ctx context.Context, actor auth.Actor, action, target, summary string) error
}
