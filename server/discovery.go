package server

import (
	"context"
	"log/slog"
	"time"

	"github.com/teamaccess/teamaccess/mailboxes"
)

// discoverSoon starts discovery of a tenant just connected, in the background, for as long as
// the service runs.
func discoverSoon(ctx context.Context, mbx *mailboxes.Service, log *slog.Logger) func(orgID, tenantID string) {
	return func(orgID, tenantID string) {
		go func() {
			ctx, cancel := context.WithTimeout(ctx, time.Hour)
			defer cancel()
			if err := mbx.Discover(ctx, orgID, tenantID); err != nil && ctx.Err() == nil {
				log.Warn("discovering mailboxes after consent", "organization", orgID, "err", err)
			}
		}()
	}
}
