package server

import (
	"context"
	"errors"
	"time"

	"github.com/teamaccess/teamaccess/deltasync"
	"github.com/teamaccess/teamaccess/m365"
)

// syncGraph shows the m365 client to package deltasync, in its terms.
type syncGraph struct{ c *m365.Client }

var _ deltasync.Graph = syncGraph{}

// MessagesDeltaURL implements deltasync.Graph.
func (g syncGraph) MessagesDeltaURL(userID, folder string, since time.Time, preview bool) string {
	return g.c.MessagesDeltaURL(userID, folder, since, preview)
}

// EventsDeltaURL implements deltasync.Graph.
func (g syncGraph) EventsDeltaURL(userID string, from, to time.Time) string {
	return g.c.EventsDeltaURL(userID, from, to)
}

// ContactsDeltaURL implements deltasync.Graph.
func (g syncGraph) ContactsDeltaURL(userID string) string { return g.c.ContactsDeltaURL(userID) }

// syncErr maps m365's errors onto deltasync's, keeping Microsoft's words as the message.
func syncErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, m365.ErrDeltaExpired):
		return kindError{err, deltasync.ErrDeltaExpired}
	case errors.Is(err, m365.ErrThrottled):
		return kindError{err, deltasync.ErrThrottled}
	case errors.Is(err, m365.ErrAccessDenied), errors.Is(err, m365.ErrResourceNotFound):
		return kindError{err, deltasync.ErrRefused}
	}
	return err
}

// kindError is an error of one package that also matches another package's kind, with its own
// message and chain intact (a "%w: %v" re-wrap would hide the cause from errors.Is and repeat
// the kind in the message).
type kindError struct{ err, kind error }

func (e kindError) Error() string   { return e.err.Error() }
func (e kindError) Unwrap() []error { return []error{e.err, e.kind} }

func addr(a m365.Address) deltasync.Address {
	return deltasync.Address{Name: a.Name, Address: a.Address}
}

func addrs(as []m365.Address) []deltasync.Address {
	out := make([]deltasync.Address, len(as))
	for i, a := range as {
		out[i] = addr(a)
	}
	return out
}

// MessagesPage implements deltasync.Graph.
func (g syncGraph) MessagesPage(ctx context.Context, tenantID, link string) (deltasync.Page[deltasync.Message], error) {
	p, err := g.c.MessagesPage(ctx, tenantID, link)
	if err != nil {
		return deltasync.Page[deltasync.Message]{}, syncErr(err)
	}
	out := deltasync.Page[deltasync.Message]{NextLink: p.NextLink, DeltaLink: p.DeltaLink}
	for _, m := range p.Items {
		dm := deltasync.Message{ID: m.ID, Subject: m.Subject, ConversationID: m.ConversationID, InternetMessageID: m.InternetMessageID,
			WebLink: m.WebLink, Importance: m.Importance, BodyPreview: m.BodyPreview, To: addrs(m.To), Cc: addrs(m.Cc), Bcc: addrs(m.Bcc),
			Sent: m.Sent, Received: m.Received, HasAttachments: m.HasAttachments, IsDraft: m.IsDraft, Removed: m.Removed}
		if m.From != nil {
			f := addr(*m.From)
			dm.From = &f
		}
		out.Items = append(out.Items, dm)
	}
	return out, nil
}

// EventsPage implements deltasync.Graph.
func (g syncGraph) EventsPage(ctx context.Context, tenantID, link string) (deltasync.Page[deltasync.Event], error) {
	p, err := g.c.EventsPage(ctx, tenantID, link)
	if err != nil {
		return deltasync.Page[deltasync.Event]{}, syncErr(err)
	}
	out := deltasync.Page[deltasync.Event]{NextLink: p.NextLink, DeltaLink: p.DeltaLink}
	for _, e := range p.Items {
		out.Items = append(out.Items, syncEvent(e))
	}
	return out, nil
}

func syncEvent(e m365.Event) deltasync.Event {
	de := deltasync.Event{ID: e.ID, Subject: e.Subject, SeriesMasterID: e.SeriesMasterID, Type: e.Type, WebLink: e.WebLink,
		JoinURL: e.JoinURL, Location: e.Location, ChangeKey: e.ChangeKey, Organizer: addr(e.Organizer), Start: e.Start, End: e.End,
		StartTimeZone: e.StartTimeZone, EndTimeZone: e.EndTimeZone, StartDate: e.StartDate, EndDate: e.EndDate,
		IsAllDay: e.IsAllDay, IsCancelled: e.IsCancelled, Removed: e.Removed}
	for _, a := range e.Attendees {
		de.Attendees = append(de.Attendees, deltasync.Attendee{Address: addr(a.Address), Type: a.Type, Response: a.Response})
	}
	return de
}

// Event implements deltasync.Graph.
func (g syncGraph) Event(ctx context.Context, tenantID, userID, id string) (deltasync.Event, error) {
	e, err := g.c.Event(ctx, tenantID, userID, id)
	if errors.Is(err, m365.ErrResourceNotFound) {
		return deltasync.Event{}, kindError{err, deltasync.ErrNotFound} // the item, not the mailbox
	}
	if err != nil {
		return deltasync.Event{}, syncErr(err)
	}
	return syncEvent(e), nil
}

// Instances implements deltasync.Graph.
func (g syncGraph) Instances(ctx context.Context, tenantID, userID, masterID string, from, to time.Time) ([]deltasync.Event, error) {
	es, err := g.c.Instances(ctx, tenantID, userID, masterID, from, to)
	if errors.Is(err, m365.ErrResourceNotFound) {
		return nil, kindError{err, deltasync.ErrNotFound}
	}
	if err != nil {
		return nil, syncErr(err)
	}
	out := make([]deltasync.Event, len(es))
	for i, e := range es {
		out[i] = syncEvent(e)
	}
	return out, nil
}

// ContactsPage implements deltasync.Graph.
func (g syncGraph) ContactsPage(ctx context.Context, tenantID, link string) (deltasync.Page[deltasync.Contact], error) {
	p, err := g.c.ContactsPage(ctx, tenantID, link)
	if err != nil {
		return deltasync.Page[deltasync.Contact]{}, syncErr(err)
	}
	out := deltasync.Page[deltasync.Contact]{NextLink: p.NextLink, DeltaLink: p.DeltaLink}
	for _, c := range p.Items {
		out.Items = append(out.Items, deltasync.Contact{ID: c.ID, DisplayName: c.DisplayName, GivenName: c.GivenName, Surname: c.Surname,
			Company: c.Company, JobTitle: c.JobTitle, Emails: addrs(c.Emails), Phones: c.Phones, Removed: c.Removed})
	}
	return out, nil
}
