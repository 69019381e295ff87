package m365

import "github.com/teamaccess/teamaccess/graphdata"

// The package's names for graphdata's types and error kinds: the same types and values (type
// aliases, not copies), so that *Client's methods take and return graphdata's types and serve
// the domain packages' interfaces as they are.
type (
	Address             = graphdata.Address
	Message             = graphdata.Message
	Attendee            = graphdata.Attendee
	Event               = graphdata.Event
	Contact             = graphdata.Contact
	Page[T any]         = graphdata.Page[T]
	DirectoryUser       = graphdata.DirectoryUser
	Probe               = graphdata.Probe
	Grant               = graphdata.Grant
	SubscriptionRequest = graphdata.SubscriptionRequest
	Subscription        = graphdata.Subscription
	ListedSubscription  = graphdata.ListedSubscription
	GraphError          = graphdata.GraphError
)

// The access classes a probe finds.
const (
	AccessAccessible        = graphdata.Accessible
	AccessBlockedByPolicy   = graphdata.BlockedByPolicy
	AccessNoMailbox         = graphdata.NoMailbox
	AccessMissingPermission = graphdata.MissingPermission
	AccessError             = graphdata.Errored
)

// The kinds of failure, as graphdata declares them.
var (
	ErrTransient        = graphdata.ErrTransient
	ErrThrottled        = graphdata.ErrThrottled
	ErrAccessDenied     = graphdata.ErrAccessDenied
	ErrResourceNotFound = graphdata.ErrResourceNotFound
	ErrDeltaExpired     = graphdata.ErrDeltaExpired
	ErrNotConsented     = graphdata.ErrNotConsented
	ErrTenantNotFound   = graphdata.ErrTenantNotFound
	ErrCredentials      = graphdata.ErrCredentials
	ErrUnavailable      = graphdata.ErrUnavailable
	ErrSubscriptionGone = graphdata.ErrSubscriptionGone
	ErrRefused          = graphdata.ErrRefused
)
