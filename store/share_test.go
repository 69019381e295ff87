package store

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestAnOperationWaitsForEveryShareAndGivesBackWhatItHeldWhenItsContextEnds(t *testing.T) {
	request, org := NewShare(2), NewShare(1)
	ctx := WithShare(context.Background(), request, org)
	release, err := admit(ctx)
	require.NoError(t, err)

	// The organization's share is full: a second operation waits, then gives up with its
	// context, handing back the request's share it had taken.
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	_, err = admit(short)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.True(t, request.sem.TryAcquire(1), "the waiting operation kept the request's share")
	request.sem.Release(1)

	// Work without shares (the intake, delta rounds) is never held back.
	free, err := admit(context.Background())
	require.NoError(t, err)
	free()

	release()
	again, err := admit(ctx)
	require.NoError(t, err)
	again()
}
