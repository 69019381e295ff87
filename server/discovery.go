package server

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/teamaccess/teamaccess/m365"
	"github.com/teamaccess/teamaccess/mailboxes"
)

// directory shows the m365 client to package mailboxes, in its terms.
type directory struct{ c *m365.Client }

var _ mailboxes.Directory = directory{}

// UsersDelta implements mailboxes.Directory.
func (d directory) UsersDelta(ctx context.Context, tenantID, deltaLink string) ([]mailboxes.User, string, error) {
	us, next, err := d.c.UsersDelta(ctx, tenantID, deltaLink)
	switch {
	case errors.Is(err, m365.ErrDeltaExpired):
		return nil, "", kindError{err, mailboxes.ErrDeltaExpired}
	case err != nil:
		return nil, "", err
	}
	out := make([]mailboxes.User, len(us))
	for i, u := range us {
		out[i] = mailboxes.User{ID: u.ID, DisplayName: u.DisplayName, UserPrincipalName: u.UserPrincipalName, Mail: u.Mail,
			JobTitle: u.JobTitle, Department: u.Department, UserType: u.UserType, AccountEnabled: u.AccountEnabled, Licensed: u.Licensed, Removed: u.Removed}
	}
	return out, next, nil
}

// ProbeMailbox implements mailboxes.Directory.
func (d directory) ProbeMailbox(ctx context.Context, tenantID, userID string) (mailboxes.Probe, error) {
	p, err := d.c.ProbeMailbox(ctx, tenantID, userID)
	if errors.Is(err, m365.ErrTransient) {
		return mailboxes.Probe{}, kindError{err, mailboxes.ErrTransient}
	}
	return mailboxes.Probe{Access: mailboxes.Access(p.Access), Code: p.Code, Message: p.Message}, err
}

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
