package server

import (
	"context"
	"time"

	"github.com/teamaccess/teamaccess/deltasync"
	"github.com/teamaccess/teamaccess/store"
)

// purger deletes an organisation's captured data (mailboxes.Service.Disconnected with purge).
type purger interface {
	Disconnected(ctx context.Context, orgID string, purge bool) error
}

// purgeOrganisation deletes an organisation's captured data so that no sync writes any of it
// back, in this process or another on the same database: it marks the organisation as being
// purged (every process's rounds stop writing within a second of seeing it), holds this
// process's rounds (those under way stop before their next page), waits settle for other
// processes' rounds to notice and finish a page they were writing, then deletes.
func purgeOrganisation(ctx context.Context, org store.OrgScope, syncer *deltasync.Syncer, mbx purger, settle time.Duration) error {
	marked := time.Now()
	if err := org.MarkPurging(ctx, marked.UTC()); err != nil {
		return err
	}
	release, err := syncer.Hold(ctx, org.ID())
	if err != nil {
		return err
	}
	defer release()
	select {
	case <-time.After(settle - time.Since(marked)):
	case <-ctx.Done():
		return ctx.Err()
	}
	return mbx.Disconnected(ctx, org.ID(), true)
}
