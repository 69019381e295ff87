package access

import (
	"context"
	"errors"
	"fmt"

	"github.com/teamaccess/teamaccess/auth"
	"github.com/teamaccess/teamaccess/store"
)

// Reverify asks Microsoft again what the organisation's tenant grants: consent withdrawn (or the
// app removed or disabled) turns the connection REVOKED, with Microsoft's reason, keeping every
// stored datum; a grant again turns it back ACTIVE or DEGRADED. An outage changes only lastError.
func (s *Service) Reverify(ctx context.Context, orgID string) (TeamAccess, error) {
	rec, err := s.st.Org(orgID).TeamAccess(ctx)
	if err != nil {
		return TeamAccess{}, err
	}
	if rec.TenantID == "" {
		return s.view(rec), nil
	}
	return s.reverify(ctx, rec)
}

func (s *Service) reverify(ctx context.Context, rec store.TeamAccess) (TeamAccess, error) {
	grant, err := s.v.VerifyTenant(ctx, rec.TenantID)
	now := s.now()
	switch {
	case err == nil:
		rec.Status, rec.Granted, rec.LastVerifiedAt, rec.LastError = string(statusFor(grant.Roles)), grant.Roles, &now, nil
	case errors.Is(err, ErrNotConsented), errors.Is(err, ErrTenantNotFound):
		rec.Status, rec.LastVerifiedAt = string(Revoked), &now
		rec.LastError = s.problem("CONSENT_REVOKED", "Microsoft no longer grants teamaccess access to this tenant: "+err.Error())
	case errors.Is(err, ErrCredentials):
		rec.Status, rec.LastError = string(Errored), s.problem(errorCode(err), err.Error())
	default:
		rec.LastError = s.problem(errorCode(err), err.Error())
	}
	return s.save(ctx, rec)
}

// ReverifyAll re-verifies every connected organisation: the scheduled job.
func (s *Service) ReverifyAll(ctx context.Context) error {
	recs, err := s.st.ConnectedTeamAccess(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, rec := range recs {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if s.o.Tenant != nil && !s.o.Tenant(rec.OrgID) {
			continue // another process's tenant
		}
		before := rec.Status
		ta, err := s.reverify(ctx, rec)
		if err != nil {
			errs = append(errs, fmt.Errorf("re-verify %s: %w", rec.OrgID, err))
			continue
		}
		if string(ta.Status) != before {
			s.o.Log.Info("team access status changed", "organization", rec.OrgID, "tenant", rec.TenantID, "from", before, "to", ta.Status)
		}
	}
	return errors.Join(errs...)
}

// Disconnect ends the organisation's connection: the later parts stop their syncs and Graph
// subscriptions (and, with purge, delete the tenant's data) through the disconnect hooks; the
// status returns to NOT_CONFIGURED.
func (s *Service) Disconnect(ctx context.Context, actor auth.Actor, purge bool) (TeamAccess, error) {
	scope := s.st.Org(actor.OrgID)
	rec, err := scope.TeamAccess(ctx)
	if err != nil {
		return TeamAccess{}, err
	}
	tenant := rec.TenantID
	for _, hook := range s.o.OnDelete {
		if err := hook(ctx, actor.OrgID, tenant, purge); err != nil {
			return TeamAccess{}, fmt.Errorf("disconnect: %w", err)
		}
	}
	if tenant != "" {
		if err := scope.UnbindTenant(ctx, tenant); err != nil {
			return TeamAccess{}, err
		}
	}
	ta, err := s.save(ctx, store.TeamAccess{OrgID: actor.OrgID, Status: string(NotConfigured)})
	if err != nil {
		return TeamAccess{}, err
	}
	summary := "disconnected Microsoft 365"
	if tenant != "" {
		summary += " tenant " + tenant
	}
	if purge {
		summary += " and purged its data"
	}
	if err := s.audit.Record(ctx, actor, "teamAccess.disconnect", tenant, summary); err != nil {
		return TeamAccess{}, err
	}
	return ta, nil
}
