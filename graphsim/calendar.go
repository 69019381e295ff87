package graphsim

import (
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
