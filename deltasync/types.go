package deltasync

import (
	"context"
	"errors"
	"time"

	"github.com/teamaccess/teamaccess/store"
)

// Address is a name and an email address.
type Address struct{ Name, Address string }

// Message is a Graph message, as the Graph interface hands it over.
type Message struct {
	ID, Subject, ConversationID, InternetMessageID, WebLink, Importance, BodyPreview string
	From                                                                             *Address
	To, Cc, Bcc                                                                      []Address
	Sent, Received                                                                   time.Time
	HasAttachments, IsDraft, Removed                                                 bool
}

// Attendee is an event attendee.
type Attendee struct {
	Address
	Type, Response string
}

// Event is a Graph calendar event. StartDate and EndDate are an all-day event's days.
type Event struct {
	ID, Subject, SeriesMasterID, Type, WebLink, JoinURL, Location, ChangeKey string
	Organizer                                                                Address
	Attendees                                                                []Attendee
	Start, End                                                               time.Time
	StartTimeZone, EndTimeZone, StartDate, EndDate                           string
	IsAllDay, IsCancelled, Removed                                           bool
	// seriesKey is the changeKey of the series master the event was completed from (series.go).
	seriesKey string
}

// sparse: an occurrence or exception the delta sent with only its id, type, series and times.
func (e Event) sparse() bool {
	return !e.Removed && e.SeriesMasterID != "" && (e.Type == "occurrence" || e.Type == "exception") && e.Organizer.Address == "" && e.Subject == ""
}

// Contact is a Graph personal contact.
type Contact struct {
	ID, DisplayName, GivenName, Surname, Company, JobTitle string
	Emails                                                 []Address
	Phones                                                 []string
	Removed                                                bool
}

// Page is a page of a delta round.
type Page[T any] struct {
	Items               []T
	NextLink, DeltaLink string
}

// Graph reads delta rounds. Its errors wrap ErrDeltaExpired (start over), ErrThrottled (Graph
// asked to slow down) or ErrRefused (the mailbox's resource answered 403 or 404), and their
// messages are Microsoft's code and message in one line.
type Graph interface {
	MessagesDeltaURL(userID, folder string, since time.Time, withPreview bool) string
	EventsDeltaURL(userID string, from, to time.Time) string
	ContactsDeltaURL(userID string) string
	MessagesPage(ctx context.Context, tenantID, link string) (Page[Message], error)
	EventsPage(ctx context.Context, tenantID, link string) (Page[Event], error)
	ContactsPage(ctx context.Context, tenantID, link string) (Page[Contact], error)
	// Event reads one event in full (a series master, an exception); Instances the occurrences
	// and exceptions of a series in [from, to), in full. A missing one wraps ErrRefused.
	Event(ctx context.Context, tenantID, userID, id string) (Event, error)
	Instances(ctx context.Context, tenantID, userID, masterID string, from, to time.Time) ([]Event, error)
}

// Errors a Graph reports.
var (
	ErrDeltaExpired = errors.New("delta link expired")
	ErrThrottled    = errors.New("throttled or unavailable")
	ErrRefused      = errors.New("the mailbox refused the read")
	// ErrNotFound: the item read (a series master, an exception) no longer exists.
	ErrNotFound = errors.New("the item no longer exists")
	ErrInvalid  = errors.New("invalid input")
)

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

// Change is a stored change to an activity, for live subscribers.
type Change struct {
	Type     ChangeType
	Activity store.Activity // for DELETED, only its ids
}
