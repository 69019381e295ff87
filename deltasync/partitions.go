package deltasync

import (
	"errors"

	"github.com/teamaccess/teamaccess/store"
)

// Partitions is this process's share of the mailboxes (partition.Table): with several
// processes on one database each mailbox is worked by the one holding its partition.
type Partitions interface {
	// Mailbox says whether this process may work on the mailbox now.
	Mailbox(orgID, mailboxID string) bool
	// HoldMailbox starts work on the mailbox's partition (false: another process's, or being
	// handed over); done ends it. fence is the partition lease's term.
	HoldMailbox(orgID, mailboxID string) (fence int64, done func(), ok bool)
	// StillMailbox says whether the partition is still held under fence.
	StillMailbox(orgID, mailboxID string, fence int64) bool
}

// errMoved ends a round whose mailbox's partition this process does not hold (any more): the
// process that holds it runs the mailbox's rounds. Not a failure of the mailbox.
var errMoved = errors.New("the mailbox's partition is held by another process")

// moved says whether err is a round ended because the partition is another process's: by the
// local lease, or by the store refusing a write under the old fence.
func moved(err error) bool { return errors.Is(err, errMoved) || errors.Is(err, store.ErrFenced) }

// errMore ends a mailbox's first round after its newest page, under a bound on rounds (Rounds):
// the mailbox is due again at once. Not a failure.
var errMore = errors.New("the newest page is in; the backfill goes on at the mailbox's next turn")

// notFailure says an error says nothing of the mailbox's health.
func notFailure(err error) bool {
	return errors.Is(err, errHeld) || moved(err) || errors.Is(err, errMore)
}

// holdMailbox starts work on a mailbox: every process works every mailbox when there are no
// partitions.
func (s *Syncer) holdMailbox(orgID, userID string) (fence int64, done func(), ok bool) {
	if s.o.Partitions == nil {
		return 0, func() {}, true
	}
	return s.o.Partitions.HoldMailbox(orgID, userID)
}

// mine says whether this process works on the mailbox.
func (s *Syncer) mine(orgID, userID string) bool {
	return s.o.Partitions == nil || s.o.Partitions.Mailbox(orgID, userID)
}

// still says whether the round may go on writing under fence.
func (s *Syncer) still(orgID, userID string, fence int64) bool {
	return s.o.Partitions == nil || s.o.Partitions.StillMailbox(orgID, userID, fence)
}
