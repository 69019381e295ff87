package graphsim

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Recurring meetings, as Exchange keeps them and Graph shows them:
//   - a series master (type seriesMaster, with its recurrence) that calendarView never returns;
//   - its occurrences (type occurrence) and the occurrences changed on their own (type
//     exception), which calendarView/delta returns carrying only id, type, seriesMasterId,
//     start and end (microsoft-graph-docs issue 7632; microsoft-graph-docs-contrib issue 34
//     quotes such an item): subject, organizer and attendees are the master's, to be read from
//     it (GET /events/{id}) or from the series' instances (event-list-instances.md);
//   - an occurrence deleted on its own vanishes without any sign in the delta ("No indication
//     is given for a deleted occurrence", microsoft-graph-docs pull request 4501); only the
//     master changes (its changeKey), and the series' instances no longer list it;
//   - a change to the whole series (its subject, attendees) changes the master; the delta does
//     not announce the occurrences again.
// Options.FullExceptionsInDelta plays the field reports of exceptions that come in full.

// AddSeries adds a weekly series: master is its first meeting (its start and end set the
// time), repeated count times, a week apart. It returns the master's id and the occurrences'
// ids in order.
func (s *Sim) AddSeries(tenantID, userID string, master Event, count int) (string, []string, error) {
	if count < 1 || count > 520 {
		return "", nil, fmt.Errorf("%w: a series has 1 to 520 occurrences", ErrInvalid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, mb, err := s.mailboxLocked(tenantID, userID)
	if err != nil {
		return "", nil, err
	}
	start, end := eventSpan(&master)
	if !end.After(start) {
		return "", nil, fmt.Errorf("%w: a series' meeting ends after it starts", ErrInvalid)
	}
	master.Type, master.SeriesMasterID = "seriesMaster", nil
	master.Recurrence = &PatternedRecurrence{
		Pattern: RecurrencePattern{Type: "weekly", Interval: 1, DaysOfWeek: []string{strings.ToLower(start.Weekday().String())}, FirstDayOfWeek: "sunday"},
		Range:   RecurrenceRange{Type: "numbered", StartDate: start.Format(time.DateOnly), RecurrenceTimeZone: master.Start.TimeZone, NumberOfOccurrences: count},
	}
	id := s.addEventLocked(t, mb, userID, master)
	v, _ := mb.events.get(id)
	m := v.(*Event)
	var ids []string
	for i := range count {
		o := *m
		o.ID = id + "_OCC" + start.AddDate(0, 0, 7*i).Format("20060102")
		o.Type, o.SeriesMasterID, o.Recurrence = "occurrence", &m.ID, nil
		o.Start = DateTimeTimeZone{DateTime: start.AddDate(0, 0, 7*i).Format(localLayout), TimeZone: master.Start.TimeZone}
		o.End = DateTimeTimeZone{DateTime: end.AddDate(0, 0, 7*i).Format(localLayout), TimeZone: master.End.TimeZone}
		o.WebLink = "https://outlook.office365.com/owa/?itemid=" + o.ID + "&exvsurl=1&path=/calendar/item"
		mb.events.put(o.ID, &o)
		ids = append(ids, o.ID)
	}
	return id, ids, nil
}

// UpdateSeries changes a series' master through fn; its occurrences (not its exceptions) take
// the change, unannounced, as Exchange's do.
func (s *Sim) UpdateSeries(tenantID, userID, masterID string, fn func(e *Event)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, mb, m, err := s.masterLocked(tenantID, userID, masterID)
	if err != nil {
		return err
	}
	c := *m
	fn(&c)
	c.ID, c.Type, c.Recurrence = masterID, "seriesMaster", m.Recurrence
	c.LastModifiedDateTime, c.ChangeKey = s.nowLocked(), randomID(20)
	mb.events.put(masterID, &c)
	for _, e := range mb.events.items {
		o, ok := e.value.(*Event)
		if !ok || e.removed != "" || o.Type != "occurrence" || o.SeriesMasterID == nil || *o.SeriesMasterID != masterID {
			continue
		}
		n := c
		n.ID, n.Type, n.SeriesMasterID, n.Recurrence, n.Start, n.End, n.WebLink = o.ID, o.Type, o.SeriesMasterID, nil, o.Start, o.End, o.WebLink
		e.value, e.doc = &n, nil // in place: the delta does not announce it
	}
	s.notifyLocked(t, "events", userID, masterID, "updated")
	return nil
}

// UpdateOccurrence changes one occurrence through fn, making it an exception of its series.
func (s *Sim) UpdateOccurrence(tenantID, userID, occurrenceID string, fn func(e *Event)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, mb, o, err := s.occurrenceLocked(tenantID, userID, occurrenceID)
	if err != nil {
		return err
	}
	c := *o
	fn(&c)
	c.ID, c.Type, c.SeriesMasterID = occurrenceID, "exception", o.SeriesMasterID
	c.LastModifiedDateTime, c.ChangeKey = s.nowLocked(), randomID(20)
	mb.events.put(occurrenceID, &c)
	s.touchMasterLocked(mb, *o.SeriesMasterID)
	s.notifyLocked(t, "events", userID, occurrenceID, "updated")
	return nil
}

// DeleteOccurrence deletes one occurrence of a series. The delta gives no sign of it; the
// master changes, and the series' instances no longer list it.
func (s *Sim) DeleteOccurrence(tenantID, userID, occurrenceID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, mb, o, err := s.occurrenceLocked(tenantID, userID, occurrenceID)
	if err != nil {
		return err
	}
	delete(mb.events.items, occurrenceID)
	s.touchMasterLocked(mb, *o.SeriesMasterID)
	s.notifyLocked(t, "events", userID, *o.SeriesMasterID, "updated")
	return nil
}

// occurrenceLocked finds a live occurrence or exception of a series.
func (s *Sim) occurrenceLocked(tenantID, userID, id string) (*tenant, *mailbox, *Event, error) {
	t, mb, err := s.mailboxLocked(tenantID, userID)
	if err != nil {
		return nil, nil, nil, err
	}
	v, ok := mb.events.get(id)
	o, _ := v.(*Event)
	if !ok || o.SeriesMasterID == nil {
		return nil, nil, nil, fmt.Errorf("occurrence %s: %w", id, ErrNotFound)
	}
	return t, mb, o, nil
}

// touchMasterLocked gives a series' master a new changeKey, as a change to one of its
// instances does.
func (s *Sim) touchMasterLocked(mb *mailbox, masterID string) {
	v, ok := mb.events.get(masterID)
	if !ok {
		return
	}
	c := *v.(*Event)
	c.LastModifiedDateTime, c.ChangeKey = s.nowLocked(), randomID(20)
	mb.events.put(masterID, &c)
}

func (s *Sim) masterLocked(tenantID, userID, masterID string) (*tenant, *mailbox, *Event, error) {
	t, mb, err := s.mailboxLocked(tenantID, userID)
	if err != nil {
		return nil, nil, nil, err
	}
	v, ok := mb.events.get(masterID)
	m, _ := v.(*Event)
	if !ok || m.Type != "seriesMaster" {
		return nil, nil, nil, fmt.Errorf("series %s: %w", masterID, ErrNotFound)
	}
	return t, mb, m, nil
}

// eventInstances is GET /users/{id}/events/{id}/instances?startDateTime=…&endDateTime=…
// (api-reference/v1.0/api/event-list-instances.md): the occurrences and exceptions of a series
// in the range, in full, a page of 10 at a time by default.
func (s *Sim) eventInstances(w http.ResponseWriter, r *http.Request, c caller, u *User, mb *mailbox, masterID string) {
	if !s.requireRole(w, r, c, false, calendarRoles...) {
		return
	}
	q := r.URL.Query()
	from, err1 := time.Parse(time.RFC3339, q.Get("startDateTime"))
	to, err2 := time.Parse(time.RFC3339, q.Get("endDateTime"))
	if err1 != nil || err2 != nil || !to.After(from) {
		s.graphError(w, r, http.StatusBadRequest, "ErrorInvalidParameter", "This request requires a time window specified by the query string parameters StartDateTime and EndDateTime.")
		return
	}
	size, _ := pageSize(r, 10, 1000)
	skip, _ := strconv.Atoi(q.Get("$skip"))
	s.mu.Lock()
	v, ok := mb.events.get(masterID)
	var all []*Event
	if m, _ := v.(*Event); ok && m.Type == "seriesMaster" {
		for _, e := range mb.events.live() {
			o := e.value.(*Event)
			if o.SeriesMasterID == nil || *o.SeriesMasterID != masterID {
				continue
			}
			if a, b := eventSpan(o); a.Before(to) && b.After(from) {
				all = append(all, o)
			}
		}
	}
	s.mu.Unlock()
	if !ok {
		s.graphError(w, r, http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store.")
		return
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Start.DateTime < all[j].Start.DateTime })
	var value []map[string]any
	for i := skip; i < len(all) && i < skip+size; i++ {
		value = append(value, shape(all[i], selectFields(r), all[i].ChangeKey))
	}
	next := ""
	if skip+size < len(all) {
		next = s.link("users/"+u.ID+"/events/"+masterID+"/instances", "startDateTime", q.Get("startDateTime")) +
			"&endDateTime=" + q.Get("endDateTime") + "&$skip=" + strconv.Itoa(skip+size) + "&$top=" + strconv.Itoa(size)
	}
	s.writeCollection(w, "users('"+u.ID+"')/events('"+masterID+"')/instances", value, next, "", 0)
}

// sparseEvent reports whether calendarView/delta shows the event only by id, type,
// seriesMasterId, start and end: occurrences always, exceptions unless FullExceptionsInDelta.
func (s *Sim) sparseEvent(v any) bool {
	e, ok := v.(*Event)
	return ok && (e.Type == "occurrence" || e.Type == "exception" && !s.opts.FullExceptionsInDelta)
}

// sparseProperties is the part of an occurrence the delta shows.
func sparseProperties(all map[string]any, etag string) map[string]any {
	m := map[string]any{"@odata.type": "#microsoft.graph.event", "@odata.etag": `W/"` + etag + `"`}
	for _, k := range []string{"id", "seriesMasterId", "type", "start", "end"} {
		m[k] = all[k]
	}
	return m
}
