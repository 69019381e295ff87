// Package activities is the read side of captured mail, meetings and contacts: the views the
// GraphQL API serves, Relay pagination over the store's keyset queries, and the live feed of
// changes that every process reads from the store's change log.
package activities

import (
	"encoding/base64"
	"strings"
	"time"

	"github.com/teamaccess/teamaccess/store"
)

// The enums below are the API's (ActivityKind, Direction, ResponseType, ParticipantRole,
// ChangeType); gqlgen binds them as strings and validates their values.

// Kind is what an activity is: EMAIL or MEETING.
type Kind string

// The kinds.
const (
	KindEmail   Kind = "EMAIL"
	KindMeeting Kind = "MEETING"
)

// Direction is an email's direction from the tenant's point of view.
type Direction string

// Response is a meeting attendee's answer.
type Response string

// Role is what a participant is to an activity.
type Role string

// ChangeType is what happened to an activity.
type ChangeType string

// The change types.
const (
	Created ChangeType = "CREATED"
	Updated ChangeType = "UPDATED"
	Deleted ChangeType = "DELETED"
)

// Participant is a person on an activity.
type Participant struct {
	Email      string
	Name       *string
	Role       Role
	IsInternal bool
	Response   *Response
}

// Email is a captured email.
type Email struct {
	ID                string
	Kind              Kind
	MailboxID         string // the mailbox's global id
	OccurredAt        time.Time
	Subject           *string
	Participants      []Participant
	From              *Participant
	To, Cc, Bcc       []Participant
	Direction         Direction
	ConversationID    *string
	InternetMessageID *string
	WebLink           *string
	HasAttachments    bool
	Importance        *string
	BodyPreview       *string
	SentAt            *time.Time
	ReceivedAt        *time.Time
}

// Meeting is a captured meeting or occurrence.
type Meeting struct {
	ID               string
	Kind             Kind
	MailboxID        string
	OccurredAt       time.Time
	Subject          *string
	Participants     []Participant
	Organizer        *Participant
	Attendees        []Participant
	Start, End       time.Time
	StartTimeZone    *string
	EndTimeZone      *string
	IsAllDay         bool
	StartDate        *string
	EndDate          *string
	SeriesID         *string
	OnlineMeetingURL *string
	Location         *string
	IsCancelled      bool
	WebLink          *string
}

// Contact is a captured personal contact.
type Contact struct {
	ID          string
	MailboxID   string
	DisplayName string
	GivenName   *string
	Surname     *string
	Company     *string
	JobTitle    *string
	Emails      []string
	Phones      []string
}

// IsNode marks the GraphQL Node interface.
func (Email) IsNode() {}

// IsActivity marks the GraphQL Activity interface.
func (Email) IsActivity() {}

// IsNode marks the GraphQL Node interface.
func (Meeting) IsNode() {}

// IsActivity marks the GraphQL Activity interface.
func (Meeting) IsActivity() {}

// IsNode marks the GraphQL Node interface.
func (Contact) IsNode() {}

// The global id prefixes.
const (
	activityPrefix = "act_"
	contactPrefix  = "con_"
	mailboxPrefix  = "mbx_"
)

// GlobalID is an activity's (or contact's) API id: the store id without its organisation,
// which the caller's key supplies again, so an id never reaches another organisation's data.
func globalID(prefix, storeID string) string {
	_, rest, _ := strings.Cut(storeID, "|")
	return prefix + base64.RawURLEncoding.EncodeToString([]byte(rest))
}

// storeID reads a global id back into the organisation's store id.
func storeID(prefix, orgID, id string) (string, bool) {
	enc, ok := strings.CutPrefix(id, prefix)
	if !ok {
		return "", false
	}
	raw, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil || len(raw) == 0 {
		return "", false
	}
	return orgID + "|" + string(raw), true
}

func opt(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func participant(p store.Participant) Participant {
	v := Participant{Email: p.Address, Name: opt(p.Name), Role: Role(strings.ToUpper(p.Role)), IsInternal: p.Internal}
	if p.Response != "" {
		r := responseOf(p.Response)
		v.Response = &r
	}
	return v
}

// responseOf maps Graph's responseStatus.response (camelCase) to the enum.
func responseOf(s string) Response {
	switch strings.ToLower(s) {
	case "organizer":
		return "ORGANIZER"
	case "tentativelyaccepted":
		return "TENTATIVELY_ACCEPTED"
	case "accepted":
		return "ACCEPTED"
	case "declined":
		return "DECLINED"
	case "notresponded":
		return "NOT_RESPONDED"
	}
	return "NONE"
}

// View is an Email or a Meeting.
type View interface {
	IsActivity()
	IsNode()
}

// ToView maps a stored activity to its API view.
func ToView(a store.Activity) View {
	ps := make([]Participant, len(a.Participants))
	for i, p := range a.Participants {
		ps[i] = participant(p)
	}
	mbx := mailboxPrefix + a.MailboxID
	if a.Kind == string(KindMeeting) {
		m := Meeting{ID: globalID(activityPrefix, a.ID), Kind: KindMeeting, MailboxID: mbx, OccurredAt: a.OccurredAt,
			Subject: opt(a.Subject), Participants: ps, Attendees: []Participant{}, Start: a.Start, End: a.End,
			StartTimeZone: opt(a.StartTimeZone), EndTimeZone: opt(a.EndTimeZone), IsAllDay: a.IsAllDay,
			StartDate: opt(a.StartDate), EndDate: opt(a.EndDate), SeriesID: opt(a.SeriesID), OnlineMeetingURL: opt(a.OnlineMeetingURL), Location: opt(a.Location),
			IsCancelled: a.IsCancelled, WebLink: opt(a.WebLink)}
		for i := range ps {
			switch ps[i].Role {
			case "ORGANIZER":
				m.Organizer = &ps[i]
			default:
				m.Attendees = append(m.Attendees, ps[i])
			}
		}
		return &m
	}
	e := Email{ID: globalID(activityPrefix, a.ID), Kind: KindEmail, MailboxID: mbx, OccurredAt: a.OccurredAt,
		Subject: opt(a.Subject), Participants: ps, To: []Participant{}, Cc: []Participant{}, Bcc: []Participant{},
		Direction: Direction(a.Direction), ConversationID: opt(a.ConversationID), InternetMessageID: opt(a.InternetMessageID),
		WebLink: opt(a.WebLink), HasAttachments: a.HasAttachments, Importance: opt(a.Importance),
		BodyPreview: opt(a.BodyPreview), SentAt: optTime(a.SentAt), ReceivedAt: optTime(a.ReceivedAt)}
	if e.Direction == "" {
		e.Direction = "INTERNAL"
	}
	for i := range ps {
		switch ps[i].Role {
		case "FROM":
			e.From = &ps[i]
		case "TO":
			e.To = append(e.To, ps[i])
		case "CC":
			e.Cc = append(e.Cc, ps[i])
		case "BCC":
			e.Bcc = append(e.Bcc, ps[i])
		}
	}
	return &e
}

// ContactView maps a stored contact to its API view.
func ContactView(c store.PersonalContact) Contact {
	v := Contact{ID: globalID(contactPrefix, c.ID), MailboxID: mailboxPrefix + c.MailboxID, DisplayName: c.DisplayName,
		GivenName: opt(c.GivenName), Surname: opt(c.Surname), Company: opt(c.Company), JobTitle: opt(c.JobTitle),
		Emails: c.Emails, Phones: c.Phones}
	if v.Emails == nil {
		v.Emails = []string{}
	}
	if v.Phones == nil {
		v.Phones = []string{}
	}
	return v
}
