package activities

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/teamaccess/teamaccess/store"
)

// Mailbox and Team Access entries share the change log with activities' changes: an activity
// subscriber never sees them, and Follow sees only its kind, live and resumed from a cursor.
func TestFollowGetsItsKindAndActivitySubscribersSkipIt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openStore(t)
	h := runHub(t, st)
	logEntry := func(kind, target string) {
		require.NoError(t, st.Org(org).AppendChanges(ctx, []store.Change{{Type: kind, Target: target, At: time.Now()}}))
	}

	acts, err := h.Subscribe(ctx, org, nil, "", nil)
	require.NoError(t, err)
	boxes, err := h.Follow(ctx, org, KindMailbox, "")
	require.NoError(t, err)
	_, err = h.Follow(ctx, org, "CREATED", "")
	require.Error(t, err)

	logEntry(KindMailbox, "mbx_1")
	write(t, st, Created, email("u1", 1, "INBOUND", "one", "a@fabrikam.com"))
	logEntry(KindTeamAccess, "")
	logEntry(KindMailbox, "mbx_2")
	write(t, st, Created, email("u1", 2, "INBOUND", "two", "a@fabrikam.com"))

	got := collect(t, acts, 2)
	require.Equal(t, "one", got[0].stored.Subject)
	require.Equal(t, "two", got[1].stored.Subject)
	b := collect(t, boxes, 2)
	require.Equal(t, []string{"mbx_1", "mbx_2"}, []string{b[0].Target, b[1].Target})
	require.Equal(t, KindMailbox, b[0].Kind)

	// Resumed after the first mailbox entry: the second only, replayed from the store.
	again, err := h.Follow(ctx, org, KindMailbox, b[0].Cursor)
	require.NoError(t, err)
	r := collect(t, again, 1)
	require.Equal(t, "mbx_2", r[0].Target)
	ta, err := h.Follow(ctx, org, KindTeamAccess, got[0].Cursor)
	require.NoError(t, err)
	require.Equal(t, KindTeamAccess, collect(t, ta, 1)[0].Kind)
	select {
	case ev := <-acts:
		t.Fatalf("an activity subscriber got %+v", ev)
	case ev := <-again:
		t.Fatalf("a repeat: %+v", ev)
	case <-time.After(50 * time.Millisecond):
	}
}
