package graphsim

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A delta round trip as concepts/delta-query-messages.md describes it: pages of 10 with
// nextLinks, a deltaLink, then only the changes, deletions as @removed.
func TestMessagesDeltaRoundTrip(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var ids []string
	for i := range 25 {
		id, err := f.sim.AddMessage(f.tenant, f.alice, "inbox", msg(fmt.Sprintf("Deal %02d", i)))
		require.NoError(t, err)
		ids = append(ids, id)
	}
	_, err := f.sim.AddMessage(f.tenant, f.alice, "sentitems", msg("elsewhere"))
	require.NoError(t, err)

	items, deltaLink, pages := f.drain(t, "/users/"+f.alice+"/mailFolders/inbox/messages/delta?$select=subject,from,receivedDateTime")
	require.Len(t, items, 25)
	require.Equal(t, 3, pages, "10 a page by default")
	for _, it := range items {
		require.Contains(t, it, "subject")
		require.Contains(t, it, "@odata.etag")
		require.NotContains(t, it, "body", "$select is carried through the skip token")
	}

	require.NoError(t, f.sim.UpdateMessage(f.tenant, f.alice, ids[3], func(m *Message) { m.IsRead = true }))
	require.NoError(t, f.sim.DeleteMessage(f.tenant, f.alice, ids[4]))
	newID, _ := f.sim.AddMessage(f.tenant, f.alice, "inbox", msg("New deal"))

	changes, next, _ := f.drain(t, deltaLink)
	require.Len(t, changes, 3)
	byID := map[string]map[string]any{}
	for _, c := range changes {
		byID[c["id"].(string)] = c
	}
	require.Equal(t, map[string]any{"reason": "deleted"}, byID[ids[4]]["@removed"])
	require.Equal(t, "#microsoft.graph.message", byID[ids[4]]["@odata.type"])
	require.Equal(t, "Deal 03", byID[ids[3]]["subject"])
	require.Equal(t, "New deal", byID[newID]["subject"])

	none, _, _ := f.drain(t, next)
	require.Empty(t, none, "nothing changed since")

	resp, body := f.do(t, http.MethodGet, "/users/"+f.alice+"/mailFolders/inbox/messages/delta", nil, "Prefer", "odata.maxpagesize=50")
	require.Equal(t, "odata.maxpagesize=50", resp.Header.Get("Preference-Applied"))
	require.Len(t, body["value"], 25)
}

// An item that changes while a round is being paged must not push an unchanged one out of the
// round: it comes again in the next round (a replay), and nothing is lost.
func TestChangesDuringPagingLoseNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var ids []string
	for i := range 6 {
		id, _ := f.sim.AddMessage(f.tenant, f.alice, "inbox", msg(fmt.Sprint(i)))
		ids = append(ids, id)
	}
	resp, body := f.do(t, http.MethodGet, "/users/"+f.alice+"/mailFolders/inbox/messages/delta", nil, "Prefer", "odata.maxpagesize=3")
	require.Equal(t, 200, resp.StatusCode)
	seen := map[string]bool{}
	var served string // one of the first page's (the round's order is not the messages')
	for _, v := range body["value"].([]any) {
		served = v.(map[string]any)["id"].(string)
		seen[served] = true
	}
	require.Contains(t, ids, served)
	require.NoError(t, f.sim.UpdateMessage(f.tenant, f.alice, served, func(m *Message) { m.Subject = "changed" }))
	rest, deltaLink, _ := f.drain(t, body["@odata.nextLink"].(string))
	for _, v := range rest {
		seen[v["id"].(string)] = true
	}
	require.Len(t, seen, 6)
	again, _, _ := f.drain(t, deltaLink)
	require.Len(t, again, 1)
	require.Equal(t, "changed", again[0]["subject"])
}

func TestMessagesDeltaFilterAndCalendarWindow(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	old := msg("old")
	old.ReceivedDateTime = time.Now().Add(-200 * 24 * time.Hour)
	_, _ = f.sim.AddMessage(f.tenant, f.alice, "inbox", old)
	_, _ = f.sim.AddMessage(f.tenant, f.alice, "inbox", msg("recent"))
	since := time.Now().Add(-90 * 24 * time.Hour).UTC().Format(time.RFC3339)
	items, _, _ := f.drain(t, "/users/"+f.alice+"/mailFolders/inbox/messages/delta?$filter="+url.QueryEscape("receivedDateTime ge "+since))
	require.Len(t, items, 1)
	require.Equal(t, "recent", items[0]["subject"])
	resp, body := f.do(t, http.MethodGet, "/users/"+f.alice+"/mailFolders/inbox/messages/delta?$filter="+url.QueryEscape("subject eq 'x'"), nil)
	require.Equal(t, 400, resp.StatusCode, body)

	now := time.Now().UTC()
	_, _ = f.sim.AddEvent(f.tenant, f.alice, eventAt("in window", now.Add(24*time.Hour)))
	_, _ = f.sim.AddEvent(f.tenant, f.alice, eventAt("far future", now.Add(400*24*time.Hour)))
	master := eventAt("series master", now.Add(48*time.Hour))
	master.Type = "seriesMaster"
	_, _ = f.sim.AddEvent(f.tenant, f.alice, master)
	q := url.Values{"startDateTime": {now.Add(-90 * 24 * time.Hour).Format(time.RFC3339)}, "endDateTime": {now.Add(180 * 24 * time.Hour).Format(time.RFC3339)}}
	events, _, _ := f.drain(t, "/users/"+f.alice+"/calendarView/delta?"+q.Encode())
	require.Len(t, events, 1, "only events in the window, never series masters")
	require.Equal(t, "in window", events[0]["subject"])
	resp, _ = f.do(t, http.MethodGet, "/users/"+f.alice+"/calendarView/delta", nil)
	require.Equal(t, 400, resp.StatusCode, "the window is required")

	cid, _ := f.sim.AddContact(f.tenant, f.alice, Contact{DisplayName: "Carol Customer", EmailAddresses: []EmailAddress{{Name: "Carol", Address: "carol@fabrikam.com"}}})
	contacts, link, _ := f.drain(t, "/users/"+f.alice+"/contacts/delta")
	require.Len(t, contacts, 1)
	require.NoError(t, f.sim.DeleteContact(f.tenant, f.alice, cid))
	gone, _, _ := f.drain(t, link)
	require.Equal(t, map[string]any{"reason": "deleted"}, gone[0]["@removed"])
}

func TestUsersDelta(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	users, link, _ := f.drain(t, "/users/delta?$select=displayName,mail,accountEnabled")
	require.Len(t, users, 3)
	resp, latest := f.do(t, http.MethodGet, "/users/delta?$deltatoken=latest", nil)
	require.Equal(t, 200, resp.StatusCode)
	require.Empty(t, latest["value"], "$deltatoken=latest returns no users, only a deltaLink")
	require.Contains(t, latest, "@odata.deltaLink")

	require.NoError(t, f.sim.DeleteUser(f.tenant, f.bob, false))
	require.NoError(t, f.sim.UpdateUser(f.tenant, f.alice, func(u *User) { u.AccountEnabled = false }))
	changes, _, _ := f.drain(t, link)
	require.Len(t, changes, 2)
	for _, c := range changes {
		if c["id"] == f.bob {
			require.Equal(t, map[string]any{"reason": "changed"}, c["@removed"], "soft delete")
		} else {
			require.Equal(t, false, c["accountEnabled"])
		}
	}
	fromLatest, _, _ := f.drain(t, latest["@odata.deltaLink"].(string))
	require.Len(t, fromLatest, 2)
}

// concepts/delta-query-overview.md, "Synchronization reset" and "Token duration".
func TestDeltaResets(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	_, _ = f.sim.AddMessage(f.tenant, f.alice, "inbox", msg("a"))
	_, link, _ := f.drain(t, "/users/"+f.alice+"/mailFolders/inbox/messages/delta")
	require.NoError(t, f.sim.ResetDelta(f.tenant, f.alice, "messages"))
	resp, body := f.do(t, http.MethodGet, link, nil)
	require.Equal(t, http.StatusGone, resp.StatusCode)
	require.Contains(t, resp.Header.Get("Location"), "$deltatoken=")
	require.Equal(t, "SyncStateNotFound", errorCode(body))
	items, _, _ := f.drain(t, resp.Header.Get("Location"))
	require.Len(t, items, 1, "the Location starts a full round")

	_, ulink, _ := f.drain(t, "/users/delta")
	require.NoError(t, f.sim.ResetDelta(f.tenant, "", ""))
	resp, body = f.do(t, http.MethodGet, ulink, nil)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Equal(t, "syncStateNotFound", errorCode(body))
}

// A series in calendarView/delta: its occurrences come with only @odata.type, @odata.etag, id,
// seriesMasterId, type, start and end (the item microsoft-graph-docs-contrib issue 34 quotes),
// never the master; the instances function gives them in full. A deleted occurrence leaves no
// trace in the next round.
func TestSeriesInCalendarViewDeltaAreBare(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	first := f.sim.Now().Add(24 * time.Hour).Truncate(time.Hour)
	master, occ, err := f.sim.AddSeries(f.tenant, f.alice, Event{Subject: "Weekly sync", Start: LocalTime(first), End: LocalTime(first.Add(time.Hour)),
		Organizer: Recipient{EmailAddress: EmailAddress{Name: "Alice", Address: "alice@contoso.com"}}}, 4)
	require.NoError(t, err)
	window := "startDateTime=" + first.Add(-time.Hour).Format(time.RFC3339) + "&endDateTime=" + first.AddDate(0, 1, 0).Format(time.RFC3339)
	items, deltaLink, _ := f.drain(t, "/users/"+f.alice+"/calendarView/delta?"+window)
	require.Len(t, items, 4, "the occurrences, not the master")
	for _, it := range items {
		keys := []string{}
		for k := range it {
			keys = append(keys, k)
		}
		require.ElementsMatch(t, []string{"@odata.type", "@odata.etag", "id", "seriesMasterId", "type", "start", "end"}, keys)
		require.Equal(t, "occurrence", it["type"])
		require.Equal(t, master, it["seriesMasterId"])
	}
	instances := func() []any {
		resp, body := f.do(t, http.MethodGet, "/users/"+f.alice+"/events/"+master+"/instances?"+window, nil)
		require.Equal(t, 200, resp.StatusCode, body)
		return body["value"].([]any)
	}
	inst := instances()
	require.Len(t, inst, 4)
	require.Equal(t, "Weekly sync", inst[0].(map[string]any)["subject"], "instances are full")

	require.NoError(t, f.sim.DeleteOccurrence(f.tenant, f.alice, occ[1]))
	changes, _, _ := f.drain(t, deltaLink)
	require.Empty(t, changes, "no sign of the deleted occurrence")
	require.Len(t, instances(), 3)
}

// A messages delta's first round comes newest first with $orderby=receivedDateTime desc, in no
// order to rely on without it, and, with a $filter, stops at the cap (5,000 by default) with a
// deltaLink as if it were done: what it left out never comes (concepts/delta-query-messages.md).
func TestMessagesDeltaNewestFirstAndTheFilteredCap(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(o *Options) { o.FilteredDeltaCap = 12 })
	now := time.Now().UTC()
	for i := range 30 {
		m := msg(fmt.Sprintf("m%02d", i))
		m.ReceivedDateTime = now.Add(-time.Duration(30-i) * time.Hour) // m29 the newest
		_, err := f.sim.AddMessage(f.tenant, f.alice, "inbox", m)
		require.NoError(t, err)
	}
	subjects := func(items []map[string]any) []string {
		var out []string
		for _, it := range items {
			out = append(out, it["subject"].(string))
		}
		return out
	}
	base := "/users/" + f.alice + "/mailFolders/inbox/messages/delta"
	desc, _, _ := f.drain(t, base+"?$orderby="+url.QueryEscape("receivedDateTime desc"), "Prefer", "odata.maxpagesize=7")
	require.Len(t, desc, 30)
	require.Equal(t, "m29", desc[0]["subject"])
	require.IsDecreasing(t, subjects(desc), "newest first, across pages")
	unordered, _, _ := f.drain(t, base, "Prefer", "odata.maxpagesize=7")
	require.Len(t, unordered, 30)
	require.ElementsMatch(t, subjects(desc), subjects(unordered))
	require.NotEqual(t, subjects(desc), subjects(unordered), "without $orderby, not by time")

	since := url.QueryEscape("receivedDateTime ge " + now.Add(-48*time.Hour).Format(time.RFC3339))
	capped, link, _ := f.drain(t, base+"?$filter="+since+"&$orderby="+url.QueryEscape("receivedDateTime desc"), "Prefer", "odata.maxpagesize=5")
	require.Len(t, capped, 12, "the cap")
	require.Equal(t, "m29", capped[0]["subject"])
	require.Equal(t, "m18", capped[11]["subject"], "the newest 12")
	_, err := f.sim.AddMessage(f.tenant, f.alice, "inbox", msg("new"))
	require.NoError(t, err)
	next, _, _ := f.drain(t, link)
	require.Equal(t, []string{"new"}, subjects(next), "what the cap left out never comes")

	resp, body := f.do(t, http.MethodGet, base+"?$orderby="+url.QueryEscape("subject asc"), nil)
	require.Equal(t, 400, resp.StatusCode, body)
}
