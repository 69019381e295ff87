package deltasync_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/teamaccess/teamaccess/deltasync"
	"github.com/teamaccess/teamaccess/graphsim"
)

// A weekly meeting as Graph really shows it: calendarView/delta sends its occurrences with only
// id, type, seriesMasterId, start and end, never the master, and nothing when one occurrence is
// deleted. Every occurrence is captured with the master's subject, organizer and attendees; an
// exception keeps its own changes; a deleted occurrence does not stay; an edit of the whole
// series reaches every occurrence but the exception. The requests per series are counted.
func TestRecurringMeetingIsCapturedWholeAndKeptInStep(t *testing.T) {
	t.Parallel()
	for name, full := range map[string]bool{"bare exceptions": false, "full exceptions": true} {
		t.Run(name, func(t *testing.T) { recurringMeeting(t, graphsim.Options{FullExceptionsInDelta: full}) })
	}
}

func recurringMeeting(t *testing.T, opts graphsim.Options) {
	e := newEnv(t, opts)
	ctx := t.Context()
	first := e.now.Add(24 * time.Hour).Truncate(time.Hour)
	master, occ, err := e.sim.AddSeries(e.tenant, e.alice, graphsim.Event{Subject: "Weekly pipeline review",
		Start: graphsim.LocalTime(first), End: graphsim.LocalTime(first.Add(30 * time.Minute)), IsOrganizer: true,
		Organizer: graphsim.Recipient{EmailAddress: graphsim.EmailAddress{Name: "Alice Adams", Address: "alice@contoso.com"}},
		Attendees: []graphsim.Attendee{{Type: "required", EmailAddress: customer, Status: graphsim.ResponseStatus{Response: "accepted"}}},
	}, 10)
	require.NoError(t, err)
	s := deltasync.New(e.st, e.mc, deltasync.Options{Now: func() time.Time { return e.now }})
	seriesRequests := func() (masters, instances int) {
		for _, r := range e.sim.Requests() {
			switch {
			case strings.HasSuffix(r.Path, "/events/"+master):
				masters++
			case strings.HasSuffix(r.Path, "/events/"+master+"/instances"):
				instances++
			}
		}
		return masters, instances
	}

	require.NoError(t, s.SyncMailbox(ctx, e.org, e.tenant, e.alice))
	got := e.meetings(t)
	require.Len(t, got, 10)
	for i, id := range occ {
		a := got[id]
		require.Equal(t, "Weekly pipeline review", a.Subject, "occurrence %d has its master's subject", i)
		require.Equal(t, master, a.SeriesID)
		require.Equal(t, first.AddDate(0, 0, 7*i), a.Start.UTC(), "its own time")
		require.Len(t, a.Participants, 2, "the organizer and the attendee")
		require.Equal(t, "alice@contoso.com", a.Participants[0].Address)
		require.Equal(t, customer.Address, a.Participants[1].Address)
	}
	m, i := seriesRequests()
	require.Equal(t, [2]int{1, 0}, [2]int{m, i}, "the first round reads the master once for ten occurrences")

	// One occurrence moved and renamed (an exception), another deleted: the delta shows only the
	// exception, bare; the master's changeKey moves on.
	moved := first.AddDate(0, 0, 14).Add(2 * time.Hour)
	require.NoError(t, e.sim.UpdateOccurrence(e.tenant, e.alice, occ[2], func(ev *graphsim.Event) {
		ev.Subject = "Pipeline review (moved for the offsite)"
		ev.Start, ev.End = graphsim.LocalTime(moved), graphsim.LocalTime(moved.Add(time.Hour))
	}))
	require.NoError(t, e.sim.DeleteOccurrence(e.tenant, e.alice, occ[5]))
	require.NoError(t, s.SyncMailbox(ctx, e.org, e.tenant, e.alice))
	got = e.meetings(t)
	require.Len(t, got, 9)
	require.NotContains(t, got, occ[5], "the deleted occurrence is gone")
	require.Equal(t, "Pipeline review (moved for the offsite)", got[occ[2]].Subject)
	require.Equal(t, moved, got[occ[2]].Start.UTC())
	require.Equal(t, "Weekly pipeline review", got[occ[3]].Subject)
	m, i = seriesRequests()
	require.Equal(t, [2]int{2, 1}, [2]int{m, i}, "one master read and one instances read for the change")

	// The whole series renamed: no delta item at all. The master is checked once SeriesCheck has
	// passed (an hour by default), and its occurrences are read again.
	require.NoError(t, e.sim.UpdateSeries(e.tenant, e.alice, master, func(ev *graphsim.Event) { ev.Subject = "Weekly forecast call" }))
	require.NoError(t, s.SyncMailbox(ctx, e.org, e.tenant, e.alice))
	require.Equal(t, "Weekly pipeline review", e.meetings(t)[occ[0]].Subject, "not checked again within the hour")
	m, _ = seriesRequests()
	require.Equal(t, 2, m, "an idle round reads no master")
	e.now = e.now.Add(61 * time.Minute)
	require.NoError(t, s.SyncMailbox(ctx, e.org, e.tenant, e.alice))
	got = e.meetings(t)
	require.Len(t, got, 9)
	for _, k := range []int{0, 1, 3, 4, 6, 7, 8, 9} {
		require.Equal(t, "Weekly forecast call", got[occ[k]].Subject, "occurrence %d", k)
	}
	require.Equal(t, "Pipeline review (moved for the offsite)", got[occ[2]].Subject, "the exception keeps its own subject")
	m, i = seriesRequests()
	require.Equal(t, [2]int{3, 2}, [2]int{m, i})
}

// All-day events: Graph gives them as midnight in the event's own time zone; their days are
// read from that wall clock, never from the instant in UTC, which falls on the day before east
// of Greenwich.
func TestAllDayMeetingKeepsItsDays(t *testing.T) {
	t.Parallel()
	e := newEnv(t, graphsim.Options{})
	day := e.now.AddDate(0, 0, 3).Format(time.DateOnly)
	next := e.now.AddDate(0, 0, 4).Format(time.DateOnly)
	_, err := e.sim.AddEvent(e.tenant, e.alice, graphsim.Event{Subject: "Customer offsite", IsAllDay: true,
		Start:     graphsim.DateTimeTimeZone{DateTime: day + "T00:00:00.0000000", TimeZone: "Asia/Tokyo"},
		End:       graphsim.DateTimeTimeZone{DateTime: next + "T00:00:00.0000000", TimeZone: "Asia/Tokyo"},
		Organizer: graphsim.Recipient{EmailAddress: graphsim.EmailAddress{Name: "Alice Adams", Address: "alice@contoso.com"}}})
	require.NoError(t, err)
	s := deltasync.New(e.st, e.mc, deltasync.Options{Now: func() time.Time { return e.now }})
	require.NoError(t, s.SyncMailbox(t.Context(), e.org, e.tenant, e.alice))
	as, err := e.st.Org(e.org).LiveActivities(t.Context(), e.alice)
	require.NoError(t, err)
	require.Len(t, as, 1)
	require.True(t, as[0].IsAllDay)
	require.Equal(t, day, as[0].StartDate)
	require.Equal(t, next, as[0].EndDate, "the day after the last, as Graph gives it")
	require.NotEqual(t, day, as[0].Start.UTC().Format(time.DateOnly), "the UTC instant is the day before")
}
