package m365

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	abs "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
)

var messageFields = "id,subject,from,sender,toRecipients,ccRecipients,bccRecipients,sentDateTime,receivedDateTime," +
	"conversationId,internetMessageId,webLink,hasAttachments,importance,isDraft,parentFolderId"

// sensitivityExpand reads PidTagSensitivity (0x0036, [MS-OXPROPS] 2.1011) with each message:
// Graph v1.0 has no message property for it (microsoft-graph-docs issue 8359), and message-delta.md
// documents $expand on delta. Field reports say delta with $expand answers 500 (issues 1993,
// 2270): MessagesPage then starts the round again without it, and the client leaves it out.
const sensitivityExpand = "singleValueExtendedProperties($filter=id eq 'Integer 0x0036')"

// MessagesDeltaURL is the first request of a mail folder's delta round, limited to messages
// received since `since` (api-reference/v1.0/api/message-delta.md); withPreview adds the body
// preview.
func (c *Client) MessagesDeltaURL(userID, folder string, since time.Time, withPreview bool) string {
	sel := messageFields
	if withPreview {
		sel += ",bodyPreview"
	}
	q := url.Values{"$select": {sel}}
	if !c.noDeltaExpand.Load() {
		q.Set("$expand", sensitivityExpand)
	}
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

// pageSize asks Graph for pages of up to 100 items (Prefer: odata.maxpagesize).
const pageSize = "odata.maxpagesize=100"

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

// fetch gets one page of a delta round as JSON and decodes it.
func fetch[T any](ctx context.Context, c *Client, tenantID, link string) (wirePage[T], error) {
	var page wirePage[T]
	err := c.getJSON(ctx, tenantID, link, "delta", &page)
	return page, err
}

// getJSON GETs a Graph URL through the SDK's request adapter and decodes the answer into out.
func (c *Client) getJSON(ctx context.Context, tenantID, link, op string, out any) error {
	g, err := c.graph(tenantID)
	if err != nil {
		return err
	}
	u, err := c.rebase(link)
	if err != nil {
		return fmt.Errorf("%s link: %w", op, err)
	}
	req := abs.NewRequestInformation()
	req.Method = abs.GET
	req.SetUri(*u)
	req.Headers.TryAdd("Accept", "application/json")
	req.Headers.TryAdd("Prefer", pageSize)
	body, err := g.adapter.SendPrimitive(ctx, req, "[]byte", abs.ErrorMappings{"XXX": odataerrors.CreateODataErrorFromDiscriminatorValue})
	if err != nil {
		return graphError(op, err)
	}
	raw, _ := body.([]byte)
	if err := json.Unmarshal(raw, out); err != nil {
		return &GraphError{Op: op, Message: "unreadable answer: " + oneLine(err.Error())}
	}
	return nil
}

// MessagesPage fetches a page of a mail folder's delta round. A round's first request with the
// sensitivity $expand that Graph answers with a server error is sent again without it, and so
// are the client's later rounds.
func (c *Client) MessagesPage(ctx context.Context, tenantID, link string) (Page[Message], error) {
	w, err := fetch[wireMessage](ctx, c, tenantID, link)
	var ge *GraphError
	if err != nil && errors.As(err, &ge) && ge.Status >= 500 {
		if u, perr := url.Parse(link); perr == nil && u.Query().Has("$expand") {
			c.noDeltaExpand.Store(true)
			q := u.Query()
			q.Del("$expand")
			u.RawQuery = q.Encode()
			w, err = fetch[wireMessage](ctx, c, tenantID, u.String())
		}
	}
	if err != nil {
		return Page[Message]{}, err
	}
	p := Page[Message]{NextLink: w.NextLink, DeltaLink: w.DeltaLink, Items: make([]Message, 0, len(w.Value))}
	for _, m := range w.Value {
		p.Items = append(p.Items, m.message())
	}
	return p, nil
}

// EventsPage fetches a page of a calendar view delta round.
func (c *Client) EventsPage(ctx context.Context, tenantID, link string) (Page[Event], error) {
	w, err := fetch[wireEvent](ctx, c, tenantID, link)
	if err != nil {
		return Page[Event]{}, err
	}
	p := Page[Event]{NextLink: w.NextLink, DeltaLink: w.DeltaLink, Items: make([]Event, 0, len(w.Value))}
	for _, e := range w.Value {
		p.Items = append(p.Items, e.event())
	}
	return p, nil
}

// Event reads one event in full (api-reference/v1.0/api/event-get.md): a series master, or an
// exception the delta sent bare. A 404 matches ErrResourceNotFound.
func (c *Client) Event(ctx context.Context, tenantID, userID, id string) (Event, error) {
	var w wireEvent
	err := c.getJSON(ctx, tenantID, c.cfg.Cloud.GraphURL+"/users/"+url.PathEscape(userID)+"/events/"+url.PathEscape(id), "event", &w)
	return w.event(), err
}

// Instances reads the occurrences and exceptions of a series that fall in [from, to), in full
// (api-reference/v1.0/api/event-list-instances.md), following every page.
func (c *Client) Instances(ctx context.Context, tenantID, userID, masterID string, from, to time.Time) ([]Event, error) {
	q := url.Values{"startDateTime": {from.UTC().Format(time.RFC3339)}, "endDateTime": {to.UTC().Format(time.RFC3339)}}
	link := c.cfg.Cloud.GraphURL + "/users/" + url.PathEscape(userID) + "/events/" + url.PathEscape(masterID) + "/instances?" + q.Encode()
	var out []Event
	for pages := 0; link != ""; pages++ {
		if pages == maxInstancePages {
			return nil, &GraphError{Op: "instances", Message: "more than " + fmt.Sprint(maxInstancePages) + " pages"}
		}
		var w wirePage[wireEvent]
		if err := c.getJSON(ctx, tenantID, link, "instances", &w); err != nil {
			return nil, err
		}
		for _, e := range w.Value {
			out = append(out, e.event())
		}
		link = w.NextLink
	}
	return out, nil
}

// maxInstancePages bounds one series' instances: 100 pages of up to 100.
const maxInstancePages = 100

// ContactsPage fetches a page of a contacts delta round.
func (c *Client) ContactsPage(ctx context.Context, tenantID, link string) (Page[Contact], error) {
	w, err := fetch[wireContact](ctx, c, tenantID, link)
	if err != nil {
		return Page[Contact]{}, err
	}
	p := Page[Contact]{NextLink: w.NextLink, DeltaLink: w.DeltaLink, Items: make([]Contact, 0, len(w.Value))}
	for _, ct := range w.Value {
		p.Items = append(p.Items, ct.contact())
	}
	return p, nil
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

// rebase points a stored link (a delta or next link Graph issued) at the configured Graph
// endpoint. Graph's links always name the endpoint that issued them, so for Microsoft's clouds
// this changes nothing; it matters where the endpoint moved under links already stored: a custom
// cloud's new address, or graphsim restarted on another port in demo mode.
func (c *Client) rebase(link string) (*url.URL, error) {
	u, err := url.Parse(link)
	if err != nil {
		return nil, err
	}
	base, err := url.Parse(c.cfg.Cloud.GraphURL)
	if err != nil {
		return nil, err
	}
	u.Scheme, u.Host = base.Scheme, base.Host
	return u, nil
}
