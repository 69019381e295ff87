package deltasync

import (
	"context"
	"errors"
	"time"

	"github.com/teamaccess/teamaccess/errkind"
	"github.com/teamaccess/teamaccess/graphdata"
	"github.com/teamaccess/teamaccess/store"
)

// The package's names for the Graph data it reads (graphdata's types, not copies).
type (
	Address     = graphdata.Address
	Message     = graphdata.Message
	Attendee    = graphdata.Attendee
	Event       = graphdata.Event
	Contact     = graphdata.Contact
	Page[T any] = graphdata.Page[T]
)

// Graph reads delta rounds (*m365.Client serves it). Its errors match graphdata's kinds:
// ErrDeltaExpired (start over), ErrThrottled (Graph asked to slow down), ErrAccessDenied or
// ErrResourceNotFound (the mailbox's resource refused the read, or the item read is gone), and
// their messages are Microsoft's code and message in one line.
type Graph interface {
	MessagesDeltaURL(userID, folder string, since time.Time, withPreview bool) string
	EventsDeltaURL(userID string, from, to time.Time) string
	ContactsDeltaURL(userID string) string
	MessagesPage(ctx context.Context, tenantID, link string) (Page[Message], error)
	EventsPage(ctx context.Context, tenantID, link string) (Page[Event], error)
	ContactsPage(ctx context.Context, tenantID, link string) (Page[Contact], error)
	// Event reads one event in full (a series master, an exception); Instances the occurrences
	// and exceptions of a series in [from, to), in full.
	Event(ctx context.Context, tenantID, userID, id string) (Event, error)
	Instances(ctx context.Context, tenantID, userID, masterID string, from, to time.Time) ([]Event, error)
}

// ErrInvalid reports input the syncer cannot act on.
var ErrInvalid = errkind.ErrInvalid

// refused reports a read the mailbox's resource refused (403) or no longer has (404): its access
// changed since its last probe.
func refused(err error) bool {
	return errors.Is(err, graphdata.ErrAccessDenied) || errors.Is(err, graphdata.ErrResourceNotFound)
}

// Store is what the syncer needs of the database.
type Store interface {
	Org(orgID string) store.OrgScope
	ConnectedTeamAccess(ctx context.Context) ([]store.TeamAccess, error)
}

var _ Store = (*store.Store)(nil)

// ChangeType says what happened to an activity.
type ChangeType string

// The change types (the API's ChangeType).
const (
	Created ChangeType = "CREATED"
	Updated ChangeType = "UPDATED"
	Deleted ChangeType = "DELETED"
)

// FilteredDeltaCap is the most messages Graph returns to the first round of a messages delta
// with a $filter, ending it with a deltaLink as if it were done: "Applying $filter in a delta
// query returns only up to 5,000 messages" (concepts/delta-query-messages.md). The backfill's
// $orderby=receivedDateTime desc makes them the newest.
const FilteredDeltaCap = 5000

// Change is a stored change to an activity, for live subscribers.
type Change struct {
	Type     ChangeType
	Activity store.Activity // for DELETED, only its ids
}
