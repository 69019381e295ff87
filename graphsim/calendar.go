package graphsim

import (
	"fmt"
	"net/http"
	"time"
)

// localLayout is dateTimeTimeZone.dateTime's format: no offset, fractional seconds.
const localLayout = "2006-01-02T15:04:05.0000000"

// eventSpan is an event's start and end as instants.
func eventSpan(e *Event) (time.Time, time.Time) {
	return parseLocal(e.Start), parseLocal(e.End)
}

func parseLocal(d DateTimeTimeZone) time.Time {
	loc := time.UTC
	if d.TimeZone != "" && d.TimeZone != "UTC" {
		if l, err := time.LoadLocation(d.TimeZone); err == nil {
			loc = l
		}
	}
	for _, layout := range []string{localLayout, "2006-01-02T15:04:05", time.RFC3339} {
		if t, err := time.ParseInLocation(layout, d.DateTime, loc); err == nil {
			return t
		}
	}
	return time.Time{}
}

// LocalTime formats an instant as a UTC dateTimeTimeZone.
func LocalTime(t time.Time) DateTimeTimeZone {
	return DateTimeTimeZone{DateTime: t.UTC().Format(localLayout), TimeZone: "UTC"}
}

// eventsDelta is GET /users/{id}/calendarView/delta?startDateTime=…&endDateTime=…
// (api-reference/v1.0/api/event-delta.md; concepts/delta-query-events.md): both bounds are
// required on the first request and carried in the tokens after; the round returns the single
// events, occurrences and exceptions in the window, never series masters.
func (s *Sim) eventsDelta(w http.ResponseWriter, r *http.Request, c caller, u *User, mb *mailbox) {
	if !s.requireRole(w, r, c, false, calendarRoles...) {
		return
	}
	s.serveDelta(w, r, deltaRequest{
		coll: mb.events, key: "events:" + c.tenant.id + ":" + u.ID, path: "users/" + u.ID + "/calendarView/delta",
		context: "Collection(event)", defPage: 10, maxPage: 1000, removedKind: "#microsoft.graph.event", leftAsRemoved: func(v any) bool { return v.(*Event).Type != "seriesMaster" },
		sparse: s.sparseEvent,
		fresh: func(st *deltaState) bool {
			q := r.URL.Query()
			start, err1 := time.Parse(time.RFC3339, q.Get("startDateTime"))
			end, err2 := time.Parse(time.RFC3339, q.Get("endDateTime"))
			if err1 != nil || err2 != nil || !end.After(start) {
				return false
			}
			st.Start, st.End = start.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339)
			return true
		},
		keep: func(st deltaState) func(any) bool {
			start, _ := time.Parse(time.RFC3339, st.Start)
			end, _ := time.Parse(time.RFC3339, st.End)
			return func(v any) bool {
				e := v.(*Event)
				if e.Type == "seriesMaster" {
					return false
				}
				from, to := eventSpan(e)
				return from.Before(end) && to.After(start)
			}
		},
	})
}

// getEvent is GET /users/{id}/events/{id} (api-reference/v1.0/api/event-get.md).
func (s *Sim) getEvent(w http.ResponseWriter, r *http.Request, c caller, mb *mailbox, id string) {
	if !s.requireRole(w, r, c, false, calendarRoles...) {
		return
	}
	s.mu.Lock()
	v, ok := mb.events.get(id)
	s.mu.Unlock()
	if !ok {
		s.graphError(w, r, http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store.")
		return
	}
	writeJSONBody(w, http.StatusOK, shape(v, selectFields(r), etagOf(v)))
}

// AddEvent puts an event in the user's calendar and returns its id. For a series, add each
// occurrence with Type "occurrence" and the same SeriesMasterID: calendarView returns
// occurrences, never the series master (api-reference/v1.0/api/user-list-calendarview.md).
func (s *Sim) AddEvent(tenantID, userID string, e Event) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, mb, err := s.mailboxLocked(tenantID, userID)
	if err != nil {
		return "", err
	}
	return s.addEventLocked(t, mb, userID, e), nil
}

// addEventLocked fills an event's defaults, stores it and notifies its creation.
func (s *Sim) addEventLocked(t *tenant, mb *mailbox, userID string, e Event) string {
	now := s.nowLocked()
	if e.ID == "" {
		e.ID = "AAMkAGI" + randomID(40) + "AAA="
	}
	e.CreatedDateTime, e.LastModifiedDateTime, e.ChangeKey = now, now, randomID(20)
	if e.ICalUID == "" {
		e.ICalUID = "040000008200E00074C5B7101A82E008" + randomID(32)
	}
	if e.Type == "" {
		e.Type = "singleInstance"
	}
	if e.Importance == "" {
		e.Importance = "normal"
	}
	if e.ShowAs == "" {
		e.ShowAs = "busy"
	}
	if e.Attendees == nil {
		e.Attendees = []Attendee{}
	}
	if e.Categories == nil {
		e.Categories = []string{}
	}
	if e.Locations == nil {
		e.Locations = []Location{}
		if e.Location.DisplayName != "" {
			e.Locations = append(e.Locations, e.Location)
		}
	}
	if e.Sensitivity == "" {
		e.Sensitivity = "normal"
	}
	if e.OnlineMeetingProvider == "" {
		e.OnlineMeetingProvider = "unknown"
		if e.IsOnlineMeeting {
			e.OnlineMeetingProvider = "teamsForBusiness"
		}
	}
	if e.OriginalStartTimeZone == "" {
		e.OriginalStartTimeZone, e.OriginalEndTimeZone = e.Start.TimeZone, e.End.TimeZone
	}
	if e.Body.ContentType == "" {
		e.Body.ContentType = "html"
	}
	if e.ResponseStatus.Response == "" {
		e.ResponseStatus = ResponseStatus{Response: "organizer", Time: time.Time{}}
		if !e.IsOrganizer {
			e.ResponseStatus.Response = "notResponded"
		}
	}
	e.WebLink = "https://outlook.office365.com/owa/?itemid=" + e.ID + "&exvsurl=1&path=/calendar/item"
	mb.events.put(e.ID, &e)
	s.notifyLocked(t, "events", userID, e.ID, "created")
	return e.ID
}

// UpdateEvent changes an event through fn.
func (s *Sim) UpdateEvent(tenantID, userID, eventID string, fn func(e *Event)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, mb, err := s.mailboxLocked(tenantID, userID)
	if err != nil {
		return err
	}
	v, ok := mb.events.get(eventID)
	if !ok {
		return fmt.Errorf("event %s: %w", eventID, ErrNotFound)
	}
	c := *v.(*Event)
	fn(&c)
	c.ID, c.LastModifiedDateTime, c.ChangeKey = eventID, s.nowLocked(), randomID(20)
	mb.events.put(eventID, &c)
	s.notifyLocked(t, "events", userID, eventID, "updated")
	return nil
}

// DeleteEvent removes an event.
func (s *Sim) DeleteEvent(tenantID, userID, eventID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, mb, err := s.mailboxLocked(tenantID, userID)
	if err != nil {
		return err
	}
	if !mb.events.remove(eventID, "deleted") {
		return fmt.Errorf("event %s: %w", eventID, ErrNotFound)
	}
	s.notifyLocked(t, "events", userID, eventID, "deleted")
	return nil
}

// Events returns the ground truth: the user's live events.
func (s *Sim) Events(tenantID, userID string) ([]Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, mb, err := s.mailboxLocked(tenantID, userID)
	if err != nil {
		return nil, err
	}
	var out []Event
	for _, e := range mb.events.live() {
		out = append(out, *e.value.(*Event))
	}
	return out, nil
}
