package activities

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/teamaccess/teamaccess/store"
)

const org = "org_test"

func openStore(t testing.TB) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), store.Options{DataDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close(context.Background()) })
	return st
}

var t0 = time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)

// email is a stored email of a mailbox, n minutes after t0.
func email(mailbox string, n int, dir, subject string, addrs ...string) store.Activity {
	a := store.Activity{ID: store.ItemID(org, mailbox, "mail:inbox", fmt.Sprintf("m%04d", n)), MailboxID: mailbox, Scope: "mail:inbox",
		GraphID: fmt.Sprintf("m%04d", n), Kind: "EMAIL", Subject: subject, OccurredAt: t0.Add(time.Duration(n) * time.Minute), Direction: dir}
	for i, ad := range addrs {
		role := "to"
		if i == 0 {
			role = "from"
		}
		a.Participants = append(a.Participants, store.Participant{Address: ad, Role: role})
	}
	return a
}

func meeting(mailbox string, n int, subject string, addrs ...string) store.Activity {
	a := store.Activity{ID: store.ItemID(org, mailbox, "calendar", fmt.Sprintf("e%04d", n)), MailboxID: mailbox, Scope: "calendar",
		GraphID: fmt.Sprintf("e%04d", n), Kind: "MEETING", Subject: subject, OccurredAt: t0.Add(time.Duration(n) * time.Minute),
		Start: t0.Add(time.Duration(n) * time.Minute), End: t0.Add(time.Duration(n+30) * time.Minute)}
	for i, ad := range addrs {
		role := "attendee"
		if i == 0 {
			role = "organizer"
		}
		a.Participants = append(a.Participants, store.Participant{Address: ad, Role: role, Response: "accepted"})
	}
	return a
}

// write stores activities and logs them as changes of a type, as the delta sync does.
func write(t testing.TB, st *store.Store, typ ChangeType, as ...store.Activity) []string {
	t.Helper()
	ctx := context.Background()
	o := st.Org(org)
	_, err := o.WriteActivities(ctx, as)
	require.NoError(t, err)
	var cs []store.Change
	var ids []string
	for i, a := range as {
		c := store.Change{Type: string(typ), ActivityID: a.ID, At: time.Now()}
		if typ != Deleted { // as the delta sync logs them: with the activity, but for deletions
			c.Activity = &as[i]
		}
		cs = append(cs, c)
		ids = append(ids, a.ID)
	}
	require.NoError(t, o.AppendChanges(ctx, cs))
	return ids
}

func remove(t testing.TB, st *store.Store, as ...store.Activity) {
	t.Helper()
	for i := range as {
		as[i].Deleted = true
	}
	write(t, st, Deleted, as...)
}

func idsOf(vs []View) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		switch a := v.(type) {
		case *Email:
			out[i] = a.ID
		case *Meeting:
			out[i] = a.ID
		}
	}
	return out
}

func ptr[T any](v T) *T { return &v }

func TestPagingBothWaysAcrossInsertsAndDeletesNeverSkipsOrRepeats(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openStore(t)
	s := New(st)
	var seeded []store.Activity
	for i := 0; i < 60; i++ {
		// Pairs share a timestamp, so the id breaks ties.
		seeded = append(seeded, email("u1", (i/2)*10, "INBOUND", fmt.Sprintf("seed %d", i), "x@fabrikam.com", "a@contoso.com"))
		seeded[i].ID += fmt.Sprintf("-%d", i)
	}
	write(t, st, Created, seeded...)

	for _, backward := range []bool{false, true} {
		t.Run(fmt.Sprintf("backward=%v", backward), func(t *testing.T) {
			seen := map[string]int{}
			var order []string
			deleted := map[string]bool{}
			var cur *string
			extra := 1000
			for page := 0; ; page++ {
				p := Page{First: ptr(7), After: cur}
				if backward {
					p = Page{Last: ptr(7), Before: cur}
				}
				r, err := s.List(ctx, org, nil, p)
				require.NoError(t, err)
				ids := idsOf(r.Activities)
				if backward {
					slices.Reverse(ids)
				}
				for _, id := range ids {
					seen[id]++
					order = append(order, id)
				}
				more := r.HasNext
				if backward {
					more = r.HasPre
				}
				if !more {
					break
				}
				if backward {
					cur = &r.Cursors[0]
				} else {
					cur = &r.Cursors[len(r.Cursors)-1]
				}
				// Between pages: new items on both sides of the cursor, and a delete of an item
				// not seen yet.
				extra++
				write(t, st, Created, email("u2", extra%600, "INBOUND", "new", "y@fabrikam.com"))
				for _, a := range seeded {
					gid := globalID(activityPrefix, a.ID)
					if seen[gid] == 0 && !deleted[gid] {
						remove(t, st, a)
						deleted[gid] = true
						break
					}
				}
			}
			for id, n := range seen {
				require.Equal(t, 1, n, "%s was returned %d times", id, n)
				require.False(t, deleted[id], "a deleted item was returned")
			}
			// Every seeded item that lived throughout was seen, in keyset order.
			for _, a := range seeded {
				gid := globalID(activityPrefix, a.ID)
				if !deleted[gid] {
					require.Contains(t, seen, gid)
				}
			}
			require.NotEmpty(t, deleted)
			byKey := map[string]store.Activity{}
			all, err := st.Org(org).Activities(ctx, store.ActivityQuery{Limit: 10000})
			require.NoError(t, err)
			for _, a := range all {
				byKey[globalID(activityPrefix, a.ID)] = a
			}
			less := func(a, b store.Activity) bool {
				return a.OccurredAt.After(b.OccurredAt) || a.OccurredAt.Equal(b.OccurredAt) && a.ID > b.ID
			}
			for i := 1; i < len(order); i++ {
				a, b := byKey[order[i-1]], byKey[order[i]]
				if backward {
					a, b = b, a
				}
				require.True(t, less(a, b), "out of order at %d", i)
			}
			// Put the deleted items back for the other direction.
			for _, a := range seeded {
				if deleted[globalID(activityPrefix, a.ID)] {
					a.Deleted = false
					write(t, st, Created, a)
				}
			}
		})
	}
}

func TestEveryFilterSelectsExactlyItsItems(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openStore(t)
	s := New(st)
	a1 := email("u1", 1, "INBOUND", "Quarterly Pricing", "buyer@fabrikam.com", "ann@contoso.com")
	a2 := email("u1", 2, "OUTBOUND", "Re: pricing", "ann@contoso.com", "buyer@fabrikam.com", "cfo@fabrikam.com")
	a3 := email("u2", 3, "INTERNAL", "lunch", "bob@contoso.com", "ann@contoso.com")
	a4 := meeting("u2", 4, "Pricing review", "bob@contoso.com", "buyer@fabrikam.com")
	a5 := meeting("u1", 5, "Standup", "ann@contoso.com", "bob@contoso.com")
	gone := email("u1", 6, "INBOUND", "pricing (deleted)", "buyer@fabrikam.com")
	write(t, st, Created, a1, a2, a3, a4, a5, gone)
	remove(t, st, gone)
	id := func(as ...store.Activity) []string {
		out := []string{}
		for _, a := range as {
			out = append(out, globalID(activityPrefix, a.ID))
		}
		return out
	}
	cases := []struct {
		name string
		f    Filter
		want []string
	}{
		{"none", Filter{}, id(a5, a4, a3, a2, a1)},
		{"kinds", Filter{Kinds: []Kind{KindMeeting}}, id(a5, a4)},
		{"mailboxes", Filter{MailboxIds: []string{"mbx_u2"}}, id(a4, a3)},
		{"participant, any case", Filter{ParticipantEmail: ptr("CFO@Fabrikam.com")}, id(a2)},
		{"domain", Filter{Domain: ptr("fabrikam.com")}, id(a4, a2, a1)},
		{"direction", Filter{Direction: ptr(Direction("OUTBOUND"))}, id(a2)},
		{"after", Filter{OccurredAfter: ptr(t0.Add(4 * time.Minute))}, id(a5, a4)},
		{"before", Filter{OccurredBefore: ptr(t0.Add(3 * time.Minute))}, id(a2, a1)},
		{"text, any case", Filter{Text: ptr("PRICING")}, id(a4, a2, a1)},
		{"combined", Filter{Text: ptr("pricing"), MailboxIds: []string{"mbx_u1"}, Domain: ptr("fabrikam.com")}, id(a2, a1)},
		{"regex characters are literal", Filter{Text: ptr("re: pricing")}, id(a2)},
		{"nothing", Filter{Domain: ptr("example.org")}, id()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := s.List(ctx, org, &c.f, Page{First: ptr(100)})
			require.NoError(t, err)
			require.Equal(t, c.want, idsOf(r.Activities))
			n, err := s.Count(ctx, org, &c.f)
			require.NoError(t, err)
			require.Equal(t, len(c.want), n)
			// The live feed's matcher agrees with the store's query.
			q, err := c.f.query()
			require.NoError(t, err)
			var live []string
			for _, a := range []store.Activity{a5, a4, a3, a2, a1} {
				if matches(q, a) {
					live = append(live, globalID(activityPrefix, a.ID))
				}
			}
			require.ElementsMatch(t, c.want, live)
		})
	}
	for _, bad := range []Filter{
		{MailboxIds: []string{"u1"}},
		{ParticipantEmail: ptr("nobody")},
		{Domain: ptr("a b")},
		{OccurredAfter: ptr(t0), OccurredBefore: ptr(t0)},
	} {
		_, err := s.List(ctx, org, &bad, Page{})
		require.ErrorIs(t, err, ErrInvalid)
	}
	// A text longer than the bound is refused before it reaches the store, and not quoted back:
	// 900 KB of it once cost minutes of CPU matched against every subject.
	huge := strings.Repeat("x", 900<<10)
	for name, bad := range map[string]Filter{"text": {Text: &huge}, "participantEmail": {ParticipantEmail: &huge}, "domain": {Domain: &huge},
		"mailboxIds": {MailboxIds: make([]string, 101)}} {
		_, err := s.List(ctx, org, &bad, Page{})
		require.ErrorIs(t, err, ErrInvalid, name)
		require.Less(t, len(err.Error()), 200, "%s: the input is not quoted back", name)
		require.Contains(t, err.Error(), name)
	}
	_, err := s.Contacts(ctx, org, &ContactFilter{Search: &huge}, Page{})
	require.ErrorIs(t, err, ErrInvalid)
	for _, p := range []Page{{First: ptr(101)}, {First: ptr(-1)}, {First: ptr(1), Last: ptr(1)}, {After: ptr("not a cursor")}} {
		_, err := s.List(ctx, org, nil, p)
		require.ErrorIs(t, err, ErrInvalid)
	}
	// Another organisation sees none of it, even by id.
	r, err := s.List(ctx, "org_other", nil, Page{})
	require.NoError(t, err)
	require.Empty(t, r.Activities)
	v, err := s.Get(ctx, "org_other", globalID(activityPrefix, a1.ID))
	require.NoError(t, err)
	require.Nil(t, v)
	v, err = s.Get(ctx, org, globalID(activityPrefix, a1.ID))
	require.NoError(t, err)
	require.Equal(t, "Quarterly Pricing", *v.(*Email).Subject)
	v, err = s.Get(ctx, org, globalID(activityPrefix, gone.ID))
	require.NoError(t, err)
	require.Nil(t, v, "a deleted activity is not found")
}

// collect reads n events or fails.
func collect(t *testing.T, ch <-chan *Event, n int) []Event {
	t.Helper()
	var out []Event
	timeout := time.After(20 * time.Second)
	for len(out) < n {
		select {
		case ev, ok := <-ch:
			require.True(t, ok, "feed closed after %d of %d", len(out), n)
			require.NoError(t, ev.Err)
			out = append(out, *ev)
		case <-timeout:
			t.Fatalf("got %d of %d events", len(out), n)
		}
	}
	return out
}

// runHub is a hub polling st every 5 ms, for the test's length.
func runHub(t *testing.T, st *store.Store) *Hub {
	h := NewHub(st, HubOptions{Interval: 5 * time.Millisecond})
	hctx, stop := context.WithCancel(context.Background())
	t.Cleanup(stop)
	go h.Run(hctx)
	return h
}

func TestResumeAfterCursorDuringABurstLosesAndRepeatsNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openStore(t)
	h := runHub(t, st)

	write(t, st, Created, email("u1", 0, "INBOUND", "before anyone listened", "a@fabrikam.com"))
	sctx, disconnect := context.WithCancel(ctx)
	first, err := h.Subscribe(sctx, org, nil, "", nil)
	require.NoError(t, err)

	const burst = 300
	var want []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 1; i <= burst; i += 10 {
			var as []store.Activity
			for j := i; j < i+10; j++ {
				as = append(as, email("u1", j, "INBOUND", "burst", "a@fabrikam.com"))
			}
			for _, id := range write(t, st, Created, as...) {
				want = append(want, globalID(activityPrefix, id))
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	got := collect(t, first, 40)
	disconnect()
	last := got[len(got)-1].Cursor
	time.Sleep(30 * time.Millisecond) // the burst goes on while the client is away
	second, err := h.Subscribe(ctx, org, nil, last, nil)
	require.NoError(t, err)
	<-done
	got = append(got, collect(t, second, burst-40)...)
	var ids []string
	for i, ev := range got {
		ids = append(ids, ev.ActivityID)
		require.Equal(t, Created, ev.Type)
		if i > 0 {
			require.Greater(t, ev.Cursor, got[i-1].Cursor, "in log order")
		}
	}
	require.Equal(t, want, ids, "every change of the burst exactly once, in order")
	select {
	case ev := <-second:
		t.Fatalf("an extra event: %+v", ev)
	case <-time.After(50 * time.Millisecond):
	}
}

func TestSlowSubscriberIsCutOffAndOthersAreUnaffected(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openStore(t)
	h := NewHub(st, HubOptions{Interval: 5 * time.Millisecond, Buffer: 16})
	hctx, stop := context.WithCancel(ctx)
	defer stop()
	go h.Run(hctx)
	slow, err := h.Subscribe(ctx, org, nil, "", nil)
	require.NoError(t, err)
	fast, err := h.Subscribe(ctx, org, &Filter{Kinds: []Kind{KindEmail}}, "", nil)
	require.NoError(t, err)

	// The slow one takes a single change, then stops reading.
	write(t, st, Created, email("u1", 0, "INBOUND", "first", "a@fabrikam.com"))
	taken := collect(t, slow, 1)
	var (
		mu      sync.Mutex
		fastGot []Event
	)
	go func() {
		for ev := range fast {
			mu.Lock()
			fastGot = append(fastGot, *ev)
			mu.Unlock()
		}
	}()
	// Poll after poll of changes, until the slow one has fallen more polls behind than its
	// buffer holds and is cut off.
	emails := 1
	for n := 1; h.Subscribers() == 2; n += 5 {
		require.Less(t, n, 5000, "the slow subscriber was not cut off")
		var as []store.Activity
		for j := n; j < n+5; j++ {
			as = append(as, email("u1", j, "INBOUND", "burst", "a@fabrikam.com"), meeting("u1", j, "skip", "a@fabrikam.com"))
		}
		write(t, st, Created, as...)
		emails += 5
		time.Sleep(8 * time.Millisecond)
	}
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(fastGot) == emails
	}, 10*time.Second, 5*time.Millisecond, "the fast subscriber gets every email")
	mu.Lock()
	got := fastGot
	mu.Unlock()
	for _, ev := range got {
		require.IsType(t, &Email{}, ev.Activity, "the filter applies live")
	}
	// The slow subscriber's feed ends with ErrTooSlow and the cursor to resume from.
	var end Event
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-slow:
			require.True(t, ok, "the feed ends with an error event first")
			if ev.Err != nil {
				end = *ev
			}
		case <-timeout:
			t.Fatal("the slow subscriber was not cut off")
		}
		if end.Err != nil {
			break
		}
	}
	require.ErrorIs(t, end.Err, ErrTooSlow)
	require.GreaterOrEqual(t, end.Cursor, taken[0].Cursor)
	_, ok := <-slow
	require.False(t, ok)
	// Resuming from that cursor delivers the rest.
	resumed, err := h.Subscribe(ctx, org, nil, end.Cursor, nil)
	require.NoError(t, err)
	rest := collect(t, resumed, 1)
	require.Greater(t, rest[0].Cursor, end.Cursor)
	require.Equal(t, 2, h.Subscribers(), "the fast one and the resumed one")
}

func TestTwoProcessesOnOneStoreBothDeliverEveryChange(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openStore(t)
	other, err := store.Open(ctx, store.Options{URI: st.EmbeddedURI(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	defer other.Close(ctx)
	hctx, stop := context.WithCancel(ctx)
	defer stop()
	var feeds []<-chan *Event
	for _, s := range []*store.Store{st, other} {
		h := NewHub(s, HubOptions{Interval: 5 * time.Millisecond})
		go h.Run(hctx)
		for range 3 {
			ch, err := h.Subscribe(ctx, org, nil, "", nil)
			require.NoError(t, err)
			feeds = append(feeds, ch)
		}
	}
	// Changes written through both clients, as two processes' syncs would.
	var want []string
	for i := 0; i < 50; i++ {
		w := st
		if i%2 == 1 {
			w = other
		}
		a := email("u1", i, "INBOUND", "x", "a@fabrikam.com")
		write(t, w, Created, a)
		want = append(want, globalID(activityPrefix, a.ID))
	}
	remove(t, other, email("u1", 0, "INBOUND", "x", "a@fabrikam.com"))
	want = append(want, want[0])
	for _, f := range feeds {
		got := collect(t, f, len(want))
		var ids []string
		for _, ev := range got {
			ids = append(ids, ev.ActivityID)
		}
		require.Equal(t, want, ids)
		require.Equal(t, Deleted, got[len(got)-1].Type)
		require.Nil(t, got[len(got)-1].Activity)
	}
}

func TestBadCursorIsRefusedAndSubscribersLeaveCleanly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openStore(t)
	h := NewHub(st, HubOptions{})
	_, err := h.Subscribe(ctx, org, nil, "chg_nothex", nil)
	require.ErrorIs(t, err, ErrInvalid)
	old := fmt.Sprintf("chg_%016x%08x", 5, time.Now().Add(-8*24*time.Hour).Unix())
	_, err = h.Subscribe(ctx, org, nil, old, nil)
	require.ErrorContains(t, err, "older than")
	_, err = h.Subscribe(ctx, org, &Filter{MailboxIds: []string{"x"}}, "", nil)
	require.ErrorIs(t, err, ErrInvalid)
	require.Zero(t, h.Subscribers())
	sctx, cancel := context.WithCancel(ctx)
	ch, err := h.Subscribe(sctx, org, nil, "", nil)
	require.NoError(t, err)
	require.Equal(t, 1, h.Subscribers())
	cancel()
	for range ch {
	}
	require.Zero(t, h.Subscribers())
}

func TestContactsPageByNameBothWaysWithFilters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openStore(t)
	s := New(st)
	var cs []store.PersonalContact
	for i := 0; i < 25; i++ {
		mbx := "u" + fmt.Sprint(1+i%2)
		cs = append(cs, store.PersonalContact{ID: store.ItemID(org, mbx, "contacts", fmt.Sprintf("c%02d", i)), MailboxID: mbx, Scope: "contacts",
			GraphID: fmt.Sprintf("c%02d", i), DisplayName: fmt.Sprintf("Person %02d", i/2), Company: []string{"Fabrikam", "Tailspin"}[i%2],
			Emails: []string{fmt.Sprintf("p%02d@example.com", i)}, Phones: []string{}})
	}
	_, err := st.Org(org).WriteContacts(ctx, cs)
	require.NoError(t, err)
	var fwd, back []string
	var cur *string
	for {
		r, err := s.Contacts(ctx, org, nil, Page{First: ptr(4), After: cur})
		require.NoError(t, err)
		for _, c := range r.Contacts {
			fwd = append(fwd, c.ID)
		}
		if !r.HasNext {
			break
		}
		cur = &r.Cursors[len(r.Cursors)-1]
	}
	cur = nil
	for {
		r, err := s.Contacts(ctx, org, nil, Page{Last: ptr(4), Before: cur})
		require.NoError(t, err)
		back = append(idsOfContacts(r.Contacts), back...)
		if !r.HasPre {
			break
		}
		cur = &r.Cursors[0]
	}
	require.Len(t, fwd, 25)
	require.Equal(t, fwd, back, "the same order both ways, each once")
	r, err := s.Contacts(ctx, org, &ContactFilter{MailboxIds: []string{"mbx_u2"}, Search: ptr("tailspin")}, Page{First: ptr(100)})
	require.NoError(t, err)
	require.Len(t, r.Contacts, 12)
	r, err = s.Contacts(ctx, org, &ContactFilter{Email: ptr("P07@Example.com")}, Page{})
	require.NoError(t, err)
	require.Len(t, r.Contacts, 1)
	require.Equal(t, "Person 03", r.Contacts[0].DisplayName)
	_, err = s.Contacts(ctx, org, &ContactFilter{Email: ptr("nobody")}, Page{})
	require.ErrorIs(t, err, ErrInvalid)
	_, err = s.Contacts(ctx, org, nil, Page{After: ptr("zz")})
	require.ErrorIs(t, err, ErrInvalid)
}

func idsOfContacts(cs []Contact) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

func TestPruneDropsOldChangesAndTombstonesOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openStore(t)
	h := NewHub(st, HubOptions{})
	live := email("u1", 1, "INBOUND", "live", "a@fabrikam.com")
	gone := email("u1", 2, "INBOUND", "gone long ago", "a@fabrikam.com")
	recent := email("u1", 3, "INBOUND", "gone today", "a@fabrikam.com")
	o := st.Org(org)
	// One change from before the window, first in the log.
	require.NoError(t, o.AppendChanges(ctx, []store.Change{{Type: "CREATED", ActivityID: live.ID, At: time.Now().Add(-ResumeWindow - time.Hour)}}))
	write(t, st, Created, live, gone, recent)
	gone.ChangedAt = time.Now().Add(-ResumeWindow - time.Hour)
	remove(t, st, gone)
	recent.ChangedAt = time.Now()
	remove(t, st, recent)
	// Another organisation whose only change is old keeps it: numbering goes on after it.
	quiet := st.Org("org_quiet")
	require.NoError(t, quiet.AppendChanges(ctx, []store.Change{{Type: "CREATED", ActivityID: "x", At: time.Now().Add(-ResumeWindow - time.Hour)}}))
	before, err := o.ChangesAfter(ctx, 0, 100)
	require.NoError(t, err)

	require.NoError(t, h.Prune(ctx))
	after, err := o.ChangesAfter(ctx, 0, 100)
	require.NoError(t, err)
	require.Len(t, after, len(before)-1, "only the old change goes")
	_, err = o.Activity(ctx, gone.ID)
	require.ErrorIs(t, err, store.ErrNotFound, "an old tombstone goes")
	a, err := o.Activity(ctx, recent.ID)
	require.NoError(t, err)
	require.True(t, a.Deleted, "a recent tombstone stays, for the feed")
	_, err = o.Activity(ctx, live.ID)
	require.NoError(t, err)
	kept, err := quiet.ChangesAfter(ctx, 0, 10)
	require.NoError(t, err)
	require.Len(t, kept, 1)
	require.NoError(t, quiet.AppendChanges(ctx, []store.Change{{Type: "CREATED", ActivityID: "y", At: time.Now()}}))
	kept, _ = quiet.ChangesAfter(ctx, 0, 10)
	require.EqualValues(t, 2, kept[1].Seq)
}

// The hub delivers in number order without a gap: a change whose number is missing is held
// back until the missing one appears, and a number never written is read past after GapWait.
// (AppendChanges never leaves a hole, since a number is written only after the one before it;
// the hub does not rely on that.)
func TestHubWaitsForAMissingChangeNumber(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openStore(t)
	hctx, stop := context.WithCancel(ctx)
	defer stop()
	h := NewHub(st, HubOptions{Interval: 5 * time.Millisecond, GapWait: 500 * time.Millisecond})
	go h.Run(hctx)
	feed, err := h.Subscribe(ctx, org, nil, "", nil)
	require.NoError(t, err)
	change := func(i int, seq int64) store.Change {
		a := email("u1", i, "INBOUND", "x", "a@fabrikam.com")
		_, err := st.Org(org).WriteActivities(ctx, []store.Activity{a})
		require.NoError(t, err)
		return store.Change{Type: "CREATED", ActivityID: a.ID, At: time.Now(), Activity: &a, Seq: seq}
	}
	a, b := change(1, 1), change(2, 2)
	require.NoError(t, st.Org(org).WriteChanges(ctx, []store.Change{b}))
	time.Sleep(100 * time.Millisecond) // the poller sees 2, and 1 missing
	select {
	case ev := <-feed:
		t.Fatalf("2 delivered before 1: %+v", ev)
	default:
	}
	require.NoError(t, st.Org(org).WriteChanges(ctx, []store.Change{a}))
	got := collect(t, feed, 2)
	require.Equal(t, []string{globalID(activityPrefix, a.ActivityID), globalID(activityPrefix, b.ActivityID)}, []string{got[0].ActivityID, got[1].ActivityID})
	require.Less(t, got[0].Cursor, got[1].Cursor)
	afterA := got[0].Cursor

	// 3 is never written: 4 comes after GapWait.
	c := change(3, 4)
	require.NoError(t, st.Org(org).WriteChanges(ctx, []store.Change{c}))
	start := time.Now()
	got = collect(t, feed, 1)
	require.Equal(t, globalID(activityPrefix, c.ActivityID), got[0].ActivityID)
	require.GreaterOrEqual(t, time.Since(start), 400*time.Millisecond, "held back while 3 was missing")

	// Resuming after 1 replays 2 and 4, across the hole; AppendChanges goes on from 4.
	resumed, err := h.Subscribe(ctx, org, nil, afterA, nil)
	require.NoError(t, err)
	got = collect(t, resumed, 2)
	require.Equal(t, []string{globalID(activityPrefix, b.ActivityID), globalID(activityPrefix, c.ActivityID)}, []string{got[0].ActivityID, got[1].ActivityID})
	ds := []store.Change{change(4, 0)}
	require.NoError(t, st.Org(org).AppendChanges(ctx, ds))
	require.EqualValues(t, 5, ds[0].Seq)
}
