package access

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/teamaccess/teamaccess/errkind"
	"github.com/teamaccess/teamaccess/graphdata"
)

// Status is the state of a connection.
type Status string

// The statuses (the API's TeamAccessStatus).
const (
	NotConfigured  Status = "NOT_CONFIGURED"
	PendingConsent Status = "PENDING_CONSENT"
	Active         Status = "ACTIVE"
	Degraded       Status = "DEGRADED" // connected, with required permissions missing
	Revoked        Status = "REVOKED"  // consent withdrawn or the app removed from the tenant
	Errored        Status = "ERROR"    // teamaccess's own credentials were refused
)

// RequiredPermissions are the application permissions teamaccess needs, in the order the
// admin sees them on Microsoft's consent page.
var RequiredPermissions = []string{"Calendars.Read", "User.Read.All", "Mail.Read", "Contacts.Read"}

// Provider is the only provider so far.
const Provider = "OFFICE_365"

// Problem is what went wrong last, in words an admin can act on.
type Problem struct {
	Code    string
	Message string
	At      time.Time
}

// TeamAccess is an organisation's connection as the API shows it.
type TeamAccess struct {
	OrgID               string
	Status              Status
	TenantID            *string
	ConsentedAt         *time.Time
	RequiredPermissions []string
	GrantedPermissions  []string
	MissingPermissions  []string
	ExtraPermissions    []string
	LastVerifiedAt      *time.Time
	LastError           *Problem
	ApplicationID       string
}

// ConsentLink is an admin-consent URL to send to the Microsoft 365 administrator.
type ConsentLink struct {
	URL       string
	ExpiresAt time.Time
}

// Grant is what an app-only token for a tenant shows.
type Grant = graphdata.Grant

// Verifier reaches the Microsoft identity platform (*m365.Client serves it). Its errors wrap
// ErrNotConsented, ErrTenantNotFound, ErrCredentials or ErrUnavailable.
type Verifier interface {
	ClientID() string
	ConsentURL(tenantHint, state string) string
	VerifyTenant(ctx context.Context, tenantID string) (Grant, error)
}

// Errors of the identity platform, as a Verifier reports them, and of this package.
var (
	ErrNotConsented   = graphdata.ErrNotConsented
	ErrTenantNotFound = graphdata.ErrTenantNotFound
	ErrCredentials    = graphdata.ErrCredentials
	ErrUnavailable    = graphdata.ErrUnavailable
	ErrInvalid        = errkind.ErrInvalid
	// ErrBadState: a callback whose state is missing, unknown, expired or used already.
	ErrBadState = errors.New("invalid consent state")
)

// permissions compares granted roles with the required ones.
func permissions(granted []string) (missing, extra []string) {
	missing, extra = []string{}, []string{}
	for _, r := range RequiredPermissions {
		if !slices.Contains(granted, r) {
			missing = append(missing, r)
		}
	}
	for _, g := range granted {
		if !slices.Contains(RequiredPermissions, g) {
			extra = append(extra, g)
		}
	}
	return missing, extra
}
