package m365

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
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
	// Newest first, so that a new mailbox's first page is its latest mail and a backfill runs
	// back in time: "The only supported $orderby expression is $orderby=receivedDateTime+desc.
	// If you do not include an $orderby expression, the return order is not guaranteed"
	// (concepts/delta-query-messages.md). It also decides which messages a filtered first round
	// keeps when it stops at 5,000.
	q.Set("$orderby", "receivedDateTime desc")
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
