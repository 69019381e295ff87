package m365

import (
	"strings"
	"time"
)

// wire shapes of the delta pages (api-reference/v1.0/resources/message.md, event.md,
// contact.md). Pages go through the SDK's request adapter (authentication, Retry-After, error
// mapping) and are decoded straight into these: about half the CPU of the SDK's models, which
// matters for backfills of thousands of mailboxes.
type wirePage[T any] struct {
	Value     []T    `json:"value"`
	NextLink  string `json:"@odata.nextLink"`
	DeltaLink string `json:"@odata.deltaLink"`
}

type wireAddress struct {
	EmailAddress struct {
		Name    string `json:"name"`
		Address string `json:"address"`
	} `json:"emailAddress"`
}

type wireRemoved struct {
	Reason string `json:"reason"`
}

type wireMessage struct {
	ID                string        `json:"id"`
	Removed           *wireRemoved  `json:"@removed"`
	Subject           string        `json:"subject"`
	ConversationID    string        `json:"conversationId"`
	InternetMessageID string        `json:"internetMessageId"`
	WebLink           string        `json:"webLink"`
	Importance        string        `json:"importance"`
	BodyPreview       string        `json:"bodyPreview"`
	ParentFolderID    string        `json:"parentFolderId"`
	From              *wireAddress  `json:"from"`
	To                []wireAddress `json:"toRecipients"`
	Cc                []wireAddress `json:"ccRecipients"`
	Bcc               []wireAddress `json:"bccRecipients"`
	Sent              *time.Time    `json:"sentDateTime"`
	Received          *time.Time    `json:"receivedDateTime"`
	HasAttachments    bool          `json:"hasAttachments"`
	IsDraft           bool          `json:"isDraft"`
	Extended          []struct {
		ID    string `json:"id"`
		Value string `json:"value"`
	} `json:"singleValueExtendedProperties"`
}

type wireDateTime struct {
	DateTime string `json:"dateTime"`
	TimeZone string `json:"timeZone"`
}

type wireEvent struct {
	ID             string       `json:"id"`
	Removed        *wireRemoved `json:"@removed"`
	Subject        string       `json:"subject"`
	ICalUID        string       `json:"iCalUId"`
	SeriesMasterID *string      `json:"seriesMasterId"`
	Type           string       `json:"type"`
	WebLink        string       `json:"webLink"`
	OnlineMeeting  *struct {
		JoinURL string `json:"joinUrl"`
	} `json:"onlineMeeting"`
	Location *struct {
		DisplayName string `json:"displayName"`
	} `json:"location"`
	Organizer *wireAddress `json:"organizer"`
	Attendees []struct {
		wireAddress
		Type   string `json:"type"`
		Status *struct {
			Response string `json:"response"`
		} `json:"status"`
	} `json:"attendees"`
	Start       *wireDateTime `json:"start"`
	End         *wireDateTime `json:"end"`
	IsAllDay    bool          `json:"isAllDay"`
	IsCancelled bool          `json:"isCancelled"`
	ChangeKey   string        `json:"changeKey"`
	// Sensitivity is normal, personal, private or confidential (resources/event.md).
	Sensitivity string `json:"sensitivity"`
}

type wireContact struct {
	ID             string       `json:"id"`
	Removed        *wireRemoved `json:"@removed"`
	DisplayName    string       `json:"displayName"`
	GivenName      string       `json:"givenName"`
	Surname        string       `json:"surname"`
	CompanyName    *string      `json:"companyName"`
	JobTitle       *string      `json:"jobTitle"`
	EmailAddresses []struct {
		Name    string `json:"name"`
		Address string `json:"address"`
	} `json:"emailAddresses"`
	BusinessPhones []string `json:"businessPhones"`
	HomePhones     []string `json:"homePhones"`
	MobilePhone    *string  `json:"mobilePhone"`
}

func (a *wireAddress) address() *Address {
	if a == nil {
		return nil
	}
	return &Address{Name: a.EmailAddress.Name, Address: strings.ToLower(a.EmailAddress.Address)}
}

func wireAddresses(as []wireAddress) []Address {
	out := make([]Address, 0, len(as))
	for i := range as {
		out = append(out, *as[i].address())
	}
	return out
}

func (m wireMessage) message() Message {
	out := Message{ID: m.ID, Removed: m.Removed != nil}
	if out.Removed {
		return out
	}
	out.Subject, out.ConversationID, out.InternetMessageID, out.WebLink = m.Subject, m.ConversationID, m.InternetMessageID, m.WebLink
	out.Importance, out.BodyPreview, out.FolderID = m.Importance, m.BodyPreview, m.ParentFolderID
	out.From, out.To, out.Cc, out.Bcc = m.From.address(), wireAddresses(m.To), wireAddresses(m.Cc), wireAddresses(m.Bcc)
	if m.Sent != nil {
		out.Sent = m.Sent.UTC()
	}
	if m.Received != nil {
		out.Received = m.Received.UTC()
	}
	out.HasAttachments, out.IsDraft = m.HasAttachments, m.IsDraft
	for _, x := range m.Extended {
		if strings.EqualFold(x.ID, "Integer 0x36") || strings.EqualFold(x.ID, "Integer 0x0036") {
			out.Sensitivity = map[string]string{"1": "personal", "2": "private", "3": "confidential"}[x.Value]
		}
	}
	return out
}

// instant reads a dateTimeTimeZone as an instant.
func (d *wireDateTime) instant() (time.Time, string) {
	if d == nil {
		return time.Time{}, ""
	}
	loc := time.UTC
	if d.TimeZone != "" && d.TimeZone != "UTC" {
		if l, err := time.LoadLocation(d.TimeZone); err == nil {
			loc = l
		}
	}
	for _, layout := range []string{"2006-01-02T15:04:05.0000000", "2006-01-02T15:04:05", time.RFC3339Nano} {
		if t, err := time.ParseInLocation(layout, d.DateTime, loc); err == nil {
			return t.UTC(), d.TimeZone
		}
	}
	return time.Time{}, d.TimeZone
}

func (e wireEvent) event() Event {
	out := Event{ID: e.ID, Removed: e.Removed != nil}
	if out.Removed {
		return out
	}
	out.Subject, out.ICalUID, out.Type, out.WebLink = e.Subject, e.ICalUID, e.Type, e.WebLink
	if e.SeriesMasterID != nil {
		out.SeriesMasterID = *e.SeriesMasterID
	}
	if e.OnlineMeeting != nil {
		out.JoinURL = e.OnlineMeeting.JoinURL
	}
	if e.Location != nil {
		out.Location = e.Location.DisplayName
	}
	if o := e.Organizer.address(); o != nil {
		out.Organizer = *o
	}
	for _, a := range e.Attendees {
		at := Attendee{Address: *a.wireAddress.address(), Type: a.Type}
		if a.Status != nil {
			at.Response = a.Status.Response
		}
		out.Attendees = append(out.Attendees, at)
	}
	out.Start, out.StartTimeZone = e.Start.instant()
	out.End, out.EndTimeZone = e.End.instant()
	out.IsAllDay, out.IsCancelled, out.ChangeKey, out.Sensitivity = e.IsAllDay, e.IsCancelled, e.ChangeKey, e.Sensitivity
	out.StartDate, out.EndDate = e.Start.date(), e.End.date()
	return out
}

// date is the calendar day a dateTimeTimeZone's wall clock shows, in its own zone.
func (d *wireDateTime) date() string {
	if d == nil || len(d.DateTime) < len(time.DateOnly) {
		return ""
	}
	day := d.DateTime[:len(time.DateOnly)]
	if _, err := time.Parse(time.DateOnly, day); err != nil {
		return ""
	}
	return day
}

func (c wireContact) contact() Contact {
	out := Contact{ID: c.ID, Removed: c.Removed != nil}
	if out.Removed {
		return out
	}
	out.DisplayName, out.GivenName, out.Surname = c.DisplayName, c.GivenName, c.Surname
	if c.CompanyName != nil {
		out.Company = *c.CompanyName
	}
	if c.JobTitle != nil {
		out.JobTitle = *c.JobTitle
	}
	for _, e := range c.EmailAddresses {
		out.Emails = append(out.Emails, Address{Name: e.Name, Address: strings.ToLower(e.Address)})
	}
	out.Phones = append(append(out.Phones, c.BusinessPhones...), c.HomePhones...)
	if c.MobilePhone != nil && *c.MobilePhone != "" {
		out.Phones = append(out.Phones, *c.MobilePhone)
	}
	return out
}
