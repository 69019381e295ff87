package m365

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	abs "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoft/kiota-abstractions-go/serialization"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
	"github.com/microsoftgraph/msgraph-sdk-go/users"
)

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
}

// Attendee is an event attendee with their response.
type Attendee struct {
	Address
	Type, Response string
}

// Event is a calendar event (a single instance, occurrence or exception) as teamaccess keeps it.
type Event struct {
	ID, Subject, ICalUID, SeriesMasterID, Type, WebLink, JoinURL, Location string
	Organizer                                                              Address
	Attendees                                                              []Attendee
	Start, End                                                             time.Time
	StartTimeZone, EndTimeZone                                             string
	IsAllDay, IsCancelled                                                  bool
	Removed                                                                bool
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

var messageFields = "id,subject,from,sender,toRecipients,ccRecipients,bccRecipients,sentDateTime,receivedDateTime," +
	"conversationId,internetMessageId,webLink,hasAttachments,importance,isDraft,parentFolderId"

// MessagesDeltaURL is the first request of a mail folder's delta round, limited to messages
// received since `since` (api-reference/v1.0/api/message-delta.md); withPreview adds the body
// preview.
func (c *Client) MessagesDeltaURL(userID, folder string, since time.Time, withPreview bool) string {
	sel := messageFields
	if withPreview {
		sel += ",bodyPreview"
	}
	q := url.Values{"$select": {sel}}
	if !since.IsZero() {
		q.Set("$filter", "receivedDateTime ge "+since.UTC().Format(time.RFC3339))
	}
	return c.cfg.Cloud.GraphURL + "/users/" + url.PathEscape(userID) + "/mailFolders/" + url.PathEscape(folder) + "/messages/delta?" + q.Encode()
}

// EventsDeltaURL is the first request of a calendar view delta round over [from, to)
// (api-reference/v1.0/api/event-delta.md).
func (c *Client) EventsDeltaURL(userID string, from, to time.Time) string {
	q := url.Values{"startDateTime": {from.UTC().Format(time.RFC3339)}, "endDateTime": {to.UTC().Format(time.RFC3339)}}
	return c.cfg.Cloud.GraphURL + "/users/" + url.PathEscape(userID) + "/calendarView/delta?" + q.Encode()
}

// ContactsDeltaURL is the first request of the default contacts folder's delta round
// (api-reference/v1.0/api/contact-delta.md).
func (c *Client) ContactsDeltaURL(userID string) string {
	return c.cfg.Cloud.GraphURL + "/users/" + url.PathEscape(userID) + "/contacts/delta"
}

// deltaResponse is what every delta response shows of its paging.
type deltaResponse interface {
	GetOdataNextLink() *string
	GetOdataDeltaLink() *string
}

// pageSize asks Graph for pages of up to 100 items (Prefer: odata.maxpagesize).
const pageSize = "odata.maxpagesize=100"

// fetch gets one page of a delta round.
func (c *Client) fetch(ctx context.Context, tenantID, link string, factory serialization.ParsableFactory) (serialization.Parsable, string, string, error) {
	g, err := c.graph(tenantID)
	if err != nil {
		return nil, "", "", err
	}
	u, err := url.Parse(link)
	if err != nil {
		return nil, "", "", fmt.Errorf("delta link: %w", err)
	}
	req := abs.NewRequestInformation()
	req.Method = abs.GET
	req.SetUri(*u)
	req.Headers.TryAdd("Accept", "application/json")
	req.Headers.TryAdd("Prefer", pageSize)
	resp, err := g.adapter.Send(ctx, req, factory, abs.ErrorMappings{"XXX": odataerrors.CreateODataErrorFromDiscriminatorValue})
	if err != nil {
		return nil, "", "", graphError("delta", err)
	}
	if resp == nil {
		return nil, "", "", fmt.Errorf("delta: %w: empty response", ErrTransient)
	}
	page := resp.(deltaResponse)
	return resp, deref(page.GetOdataNextLink()), deref(page.GetOdataDeltaLink()), nil
}

// MessagesPage fetches a page of a mail folder's delta round.
func (c *Client) MessagesPage(ctx context.Context, tenantID, link string) (Page[Message], error) {
	resp, next, delta, err := c.fetch(ctx, tenantID, link, users.CreateItemMailFoldersItemMessagesDeltaGetResponseFromDiscriminatorValue)
	if err != nil {
		return Page[Message]{}, err
	}
	p := Page[Message]{NextLink: next, DeltaLink: delta}
	for _, m := range resp.(users.ItemMailFoldersItemMessagesDeltaGetResponseable).GetValue() {
		p.Items = append(p.Items, toMessage(m))
	}
	return p, nil
}

// EventsPage fetches a page of a calendar view delta round.
func (c *Client) EventsPage(ctx context.Context, tenantID, link string) (Page[Event], error) {
	resp, next, delta, err := c.fetch(ctx, tenantID, link, users.CreateItemCalendarViewDeltaGetResponseFromDiscriminatorValue)
	if err != nil {
		return Page[Event]{}, err
	}
	p := Page[Event]{NextLink: next, DeltaLink: delta}
	for _, e := range resp.(users.ItemCalendarViewDeltaGetResponseable).GetValue() {
		p.Items = append(p.Items, toEvent(e))
	}
	return p, nil
}

// ContactsPage fetches a page of a contacts delta round.
func (c *Client) ContactsPage(ctx context.Context, tenantID, link string) (Page[Contact], error) {
	resp, next, delta, err := c.fetch(ctx, tenantID, link, users.CreateItemContactsDeltaGetResponseFromDiscriminatorValue)
	if err != nil {
		return Page[Contact]{}, err
	}
	p := Page[Contact]{NextLink: next, DeltaLink: delta}
	for _, ct := range resp.(users.ItemContactsDeltaGetResponseable).GetValue() {
		p.Items = append(p.Items, toContact(ct))
	}
	return p, nil
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func removed(additional map[string]any) bool {
	_, ok := additional["@removed"]
	return ok
}

func address(r models.Recipientable) *Address {
	if r == nil || r.GetEmailAddress() == nil {
		return nil
	}
	e := r.GetEmailAddress()
	return &Address{Name: deref(e.GetName()), Address: strings.ToLower(deref(e.GetAddress()))}
}

func addresses(rs []models.Recipientable) []Address {
	out := []Address{}
	for _, r := range rs {
		if a := address(r); a != nil {
			out = append(out, *a)
		}
	}
	return out
}

func toMessage(m models.Messageable) Message {
	out := Message{ID: deref(m.GetId()), Removed: removed(m.GetAdditionalData())}
	if out.Removed {
		return out
	}
	out.Subject, out.ConversationID, out.InternetMessageID = deref(m.GetSubject()), deref(m.GetConversationId()), deref(m.GetInternetMessageId())
	out.WebLink, out.BodyPreview, out.FolderID = deref(m.GetWebLink()), deref(m.GetBodyPreview()), deref(m.GetParentFolderId())
	if imp := m.GetImportance(); imp != nil {
		out.Importance = imp.String()
	}
	out.From = address(m.GetFrom())
	out.To, out.Cc, out.Bcc = addresses(m.GetToRecipients()), addresses(m.GetCcRecipients()), addresses(m.GetBccRecipients())
	if t := m.GetSentDateTime(); t != nil {
		out.Sent = t.UTC()
	}
	if t := m.GetReceivedDateTime(); t != nil {
		out.Received = t.UTC()
	}
	if b := m.GetHasAttachments(); b != nil {
		out.HasAttachments = *b
	}
	if b := m.GetIsDraft(); b != nil {
		out.IsDraft = *b
	}
	return out
}

// localTime reads a dateTimeTimeZone as an instant.
func localTime(d models.DateTimeTimeZoneable) (time.Time, string) {
	if d == nil {
		return time.Time{}, ""
	}
	tz := deref(d.GetTimeZone())
	loc := time.UTC
	if tz != "" && tz != "UTC" {
		if l, err := time.LoadLocation(tz); err == nil {
			loc = l
		}
	}
	for _, layout := range []string{"2006-01-02T15:04:05.0000000", "2006-01-02T15:04:05", time.RFC3339Nano} {
		if t, err := time.ParseInLocation(layout, deref(d.GetDateTime()), loc); err == nil {
			return t.UTC(), tz
		}
	}
	return time.Time{}, tz
}

func toEvent(e models.Eventable) Event {
	out := Event{ID: deref(e.GetId()), Removed: removed(e.GetAdditionalData())}
	if out.Removed {
		return out
	}
	out.Subject, out.ICalUID, out.SeriesMasterID, out.WebLink = deref(e.GetSubject()), deref(e.GetICalUId()), deref(e.GetSeriesMasterId()), deref(e.GetWebLink())
	if t := e.GetTypeEscaped(); t != nil {
		out.Type = t.String()
	}
	if om := e.GetOnlineMeeting(); om != nil {
		out.JoinURL = deref(om.GetJoinUrl())
	}
	if l := e.GetLocation(); l != nil {
		out.Location = deref(l.GetDisplayName())
	}
	if o := address(e.GetOrganizer()); o != nil {
		out.Organizer = *o
	}
	for _, a := range e.GetAttendees() {
		att := Attendee{}
		if ea := a.GetEmailAddress(); ea != nil {
			att.Address = Address{Name: deref(ea.GetName()), Address: strings.ToLower(deref(ea.GetAddress()))}
		}
		if t := a.GetTypeEscaped(); t != nil {
			att.Type = t.String()
		}
		if st := a.GetStatus(); st != nil && st.GetResponse() != nil {
			att.Response = st.GetResponse().String()
		}
		out.Attendees = append(out.Attendees, att)
	}
	out.Start, out.StartTimeZone = localTime(e.GetStart())
	out.End, out.EndTimeZone = localTime(e.GetEnd())
	if b := e.GetIsAllDay(); b != nil {
		out.IsAllDay = *b
	}
	if b := e.GetIsCancelled(); b != nil {
		out.IsCancelled = *b
	}
	return out
}

func toContact(c models.Contactable) Contact {
	out := Contact{ID: deref(c.GetId()), Removed: removed(c.GetAdditionalData())}
	if out.Removed {
		return out
	}
	out.DisplayName, out.GivenName, out.Surname = deref(c.GetDisplayName()), deref(c.GetGivenName()), deref(c.GetSurname())
	out.Company, out.JobTitle = deref(c.GetCompanyName()), deref(c.GetJobTitle())
	for _, e := range c.GetEmailAddresses() {
		out.Emails = append(out.Emails, Address{Name: deref(e.GetName()), Address: strings.ToLower(deref(e.GetAddress()))})
	}
	out.Phones = append(append(out.Phones, c.GetBusinessPhones()...), c.GetHomePhones()...)
	if m := c.GetMobilePhone(); m != nil && *m != "" {
		out.Phones = append(out.Phones, *m)
	}
	return out
}
