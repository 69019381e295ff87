package graphdata

import "time"

// Address is a name and an email address.
type Address struct{ Name, Address string }

// Message is a message as teamaccess keeps it.
type Message struct {
	ID, Subject, ConversationID, InternetMessageID, WebLink, Importance, BodyPreview, FolderID string
	From                                                                                       *Address
	To, Cc, Bcc                                                                                []Address
	Sent, Received                                                                             time.Time
	HasAttachments, IsDraft                                                                    bool
	Removed                                                                                    bool
	// Sensitivity is Outlook's (personal, private, confidential; normal or "" when none or not
	// known): PidTagSensitivity, where Graph answers the extended property on delta.
	Sensitivity string
}

// Attendee is an event attendee with their response.
type Attendee struct {
	Address
	Type, Response string
}

// Event is a calendar event (a single instance, occurrence or exception) as teamaccess keeps it.
type Event struct {
	ID, Subject, ICalUID, SeriesMasterID, Type, WebLink, JoinURL, Location, ChangeKey string
	Organizer                                                                         Address
	Attendees                                                                         []Attendee
	Start, End                                                                        time.Time
	StartTimeZone, EndTimeZone                                                        string
	// StartDate and EndDate are the days Graph's wall-clock start and end show (YYYY-MM-DD): an
	// all-day event's days (the end exclusive), midnight in the event's time zone, whose
	// instant in UTC may fall on the day before.
	StartDate, EndDate    string
	IsAllDay, IsCancelled bool
	// Sensitivity is Outlook's: normal, personal, private or confidential.
	Sensitivity string
	Removed     bool
}

// Sparse reports an occurrence or exception that calendarView/delta sent with only its id,
// type, seriesMasterId, start and end (microsoft-graph-docs issue 7632): the rest is its series
// master's (an occurrence) or its own, to be read (an exception).
func (e Event) Sparse() bool {
	return !e.Removed && e.SeriesMasterID != "" && (e.Type == "occurrence" || e.Type == "exception") && e.Organizer.Address == "" && e.Subject == ""
}

// Contact is a personal contact.
type Contact struct {
	ID, DisplayName, GivenName, Surname, Company, JobTitle string
	Emails                                                 []Address
	Phones                                                 []string
	Removed                                                bool
}

// Page is one page of a delta round: its items, and either the next page's link or, at the end
// of the round, the delta link of the next round.
type Page[T any] struct {
	Items     []T
	NextLink  string
	DeltaLink string
}

// DirectoryUser is a user of the tenant as users/delta reports it.
type DirectoryUser struct {
	ID, DisplayName, UserPrincipalName, Mail, JobTitle, Department, UserType string
	AccountEnabled                                                           bool
	// Licensed: the directory lists licenses assigned to the user. Exchange Online creates
	// shared, room and equipment mailboxes disabled and unlicensed.
	Licensed bool
	// Removed is set for a user deleted from the tenant (soft or permanently).
	Removed bool
}

// Access is what one cheap read of a mailbox says of teamaccess's access to it.
type Access string

// The access classes.
const (
	Accessible        Access = "ACCESSIBLE"
	BlockedByPolicy   Access = "BLOCKED_BY_POLICY"
	NoMailbox         Access = "NO_MAILBOX"
	MissingPermission Access = "MISSING_PERMISSION"
	Errored           Access = "ERROR"
)

// Probe is what one cheap read of a mailbox showed.
type Probe struct {
	Access  Access
	Code    string // Graph's error code, if any
	Message string
}

// Grant is what a tenant's admin granted the app, as an app-only token shows it.
type Grant struct {
	TenantID  string
	Roles     []string // application permissions, sorted
	ExpiresOn time.Time
}

// SubscriptionRequest is a change-notification subscription to create
// (api-reference/v1.0/api/subscription-post-subscriptions.md).
type SubscriptionRequest struct {
	Resource, ChangeType, NotificationURL, LifecycleNotificationURL, ClientState string
	ExpiresAt                                                                    time.Time
}

// Subscription is what Graph answered to a creation or renewal: its id and the expiry it
// granted.
type Subscription struct {
	ID        string
	ExpiresAt time.Time
}

// ListedSubscription is a subscription the app holds, as Graph lists it (never with its
// clientState).
type ListedSubscription struct {
	ID, Resource, NotificationURL string
	ExpiresAt                     time.Time
}
