package store_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/teamaccess/teamaccess/store"
	"github.com/teamaccess/teamaccess/testenv"
)

// A process that lost a mailbox's partition (its lease's term is older than the state's) cannot
// write the mailbox's delta position any more; the new holder can.
func TestDeltaStateWritesUnderAnOlderFenceAreRefused(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	org := testenv.Store(t).Org("org1")
	st, err := org.DeltaState(ctx, "alice", "mail:inbox")
	require.NoError(t, err)
	st.Link, st.Fence = "link-of-the-first-holder", 1
	require.NoError(t, org.SaveDeltaState(ctx, st), "the first write of a state")
	st.Link, st.Fence = "link-of-the-new-holder", 2
	require.NoError(t, org.SaveDeltaState(ctx, st), "a higher fence")
	st.Link, st.Fence = "link-of-the-process-that-lost-it", 1
	require.ErrorIs(t, org.SaveDeltaState(ctx, st), store.ErrFenced)
	got, err := org.DeltaState(ctx, "alice", "mail:inbox")
	require.NoError(t, err)
	require.Equal(t, "link-of-the-new-holder", got.Link, "the refused write changed nothing")
	require.Equal(t, int64(2), got.Fence)
	st.Link, st.Fence = "the-holder-again", 2
	require.NoError(t, org.SaveDeltaState(ctx, st), "the same fence writes again")
}
