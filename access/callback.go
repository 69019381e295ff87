package access

import (
	"context"
	"errors"
	"net/url"
	"strings"

	"github.com/teamaccess/teamaccess/auth"
	"github.com/teamaccess/teamaccess/errkind"
	"github.com/teamaccess/teamaccess/graphdata"
	"github.com/teamaccess/teamaccess/store"
)

// Outcome of a consent callback.
type Outcome string

// The outcomes.
const (
	Connected Outcome = "connected" // active, or degraded with permissions missing
	Declined  Outcome = "declined"  // the Microsoft 365 admin pressed Cancel
	Refused   Outcome = "refused"   // Microsoft did not confirm, or the tenant belongs elsewhere
	Failed    Outcome = "failed"    // try again later
)

// CallbackResult says what a consent callback did, for the page the admin lands on.
type CallbackResult struct {
	Outcome    Outcome
	Title      string
	Message    string
	TeamAccess TeamAccess
}

// callbackActor is the audit log's actor for what the callback does.
func callbackActor(orgID string) auth.Actor {
	return auth.Actor{OrgID: orgID, Name: "Microsoft 365 admin consent"}
}

// Callback handles Microsoft's redirect after the admin-consent page
// (docs/identity-platform/v2-admin-consent.md): error first, then success. An unusable state
// returns ErrBadState and changes nothing. The tenant parameter is not trusted: the tenant is
// bound only when an app-only token for it shows the grant.
func (s *Service) Callback(ctx context.Context, q url.Values) (CallbackResult, error) {
	state := q.Get("state")
	if state == "" && q.Get("error") != "" {
		// An error Microsoft sent back without the state it was given: no link, no
		// organisation to record it on, but the administrator is told Microsoft's reason.
		return CallbackResult{Outcome: Declined, Title: "Authorization not granted",
			Message: "Microsoft ended the consent without granting access: " + microsoftReason(q.Get("error"), q.Get("error_description")) +
				" Nothing was changed. Create a new consent link in teamaccess to try again."}, nil
	}
	if state == "" {
		return CallbackResult{}, errkind.E(ErrBadState, "the request has no state")
	}
	cs, err := s.st.ConsumeConsentState(ctx, hashState(state), s.now())
	switch {
	case errors.Is(err, store.ErrNotFound):
		return CallbackResult{}, errkind.E(ErrBadState, "this consent link is unknown to teamaccess")
	case errors.Is(err, store.ErrUsed):
		return CallbackResult{}, errkind.E(ErrBadState, "this consent link was used already; create a new one")
	case errors.Is(err, store.ErrExpired):
		return CallbackResult{}, errkind.E(ErrBadState, "this consent link has expired; create a new one")
	case err != nil:
		return CallbackResult{}, err
	}
	scope := s.st.Org(cs.OrgID)
	rec, err := scope.TeamAccess(ctx)
	if err != nil {
		return CallbackResult{}, err
	}
	if e := q.Get("error"); e != "" {
		return s.declined(ctx, rec, e, q.Get("error_description"))
	}
	tenant := strings.TrimSpace(q.Get("tenant"))
	if !strings.EqualFold(q.Get("admin_consent"), "true") || !guidPattern.MatchString(tenant) {
		return s.refuse(ctx, rec, "CONSENT_NOT_CONFIRMED", "Microsoft's answer did not confirm admin consent for a tenant.")
	}
	tenant = strings.ToLower(tenant)
	if rec.TenantID != "" && rec.TenantID != tenant {
		// One organisation, one tenant at a time: switching would leave the first tenant's
		// mailboxes, activities, Graph subscriptions and delta links behind, mixed with the
		// second's. The admin disconnects first, and chooses there whether to keep the data.
		return s.refuse(ctx, rec, "TENANT_MISMATCH", "This organization is connected to Microsoft 365 tenant "+rec.TenantID+
			", not "+tenant+". Disconnect Team Access first (choosing whether to keep the data captured from "+rec.TenantID+
			"), then authorize the new tenant. Nothing was changed.")
	}
	grant, err := s.v.VerifyTenant(ctx, tenant)
	switch {
	case errors.Is(err, ErrNotConsented), errors.Is(err, ErrTenantNotFound):
		return s.refuse(ctx, rec, errorCode(err), "Microsoft did not confirm that tenant "+tenant+" granted teamaccess access: "+err.Error())
	case errors.Is(err, ErrCredentials):
		rec.Status, rec.LastError = string(Errored), s.problem(errorCode(err), err.Error())
		ta, serr := s.save(ctx, rec)
		if serr != nil {
			return CallbackResult{}, serr
		}
		return CallbackResult{Outcome: Failed, Title: "teamaccess could not sign in to Microsoft",
			Message: "Microsoft refused teamaccess's own application credentials. Its operator must fix its configuration; then create a new consent link.", TeamAccess: ta}, nil
	case err != nil:
		rec.LastError = s.problem(errorCode(err), err.Error())
		ta, serr := s.save(ctx, rec)
		if serr != nil {
			return CallbackResult{}, serr
		}
		return CallbackResult{Outcome: Failed, Title: "Microsoft could not be reached",
			Message: "The consent may have been given, but teamaccess could not check it. Create a new consent link and try again shortly.", TeamAccess: ta}, nil
	}
	if err := scope.BindTenant(ctx, tenant); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return s.refuse(ctx, rec, "TENANT_IN_USE", "Tenant "+tenant+" is already connected to another teamaccess organization.")
		}
		return CallbackResult{}, err
	}
	now := s.now()
	rec.TenantID, rec.Granted, rec.ConsentedAt, rec.LastVerifiedAt, rec.LastError = tenant, grant.Roles, &now, &now, nil
	rec.Status = string(statusFor(grant.Roles))
	ta, err := s.save(ctx, rec)
	if err != nil {
		return CallbackResult{}, err
	}
	summary := "connected Microsoft 365 tenant " + tenant + " (" + string(ta.Status) + ")"
	if err := s.audit.Record(ctx, callbackActor(cs.OrgID), "teamAccess.connect", tenant, summary); err != nil {
		return CallbackResult{}, err
	}
	if s.o.OnConnect != nil {
		s.o.OnConnect(cs.OrgID, tenant)
	}
	res := CallbackResult{Outcome: Connected, Title: "Authorization Successful", TeamAccess: ta,
		Message: "Team access to Office 365 is active."}
	if ta.Status == Degraded {
		res.Message = "Connected, but these permissions were not granted: " + strings.Join(ta.MissingPermissions, ", ") +
			". Ask the Microsoft 365 administrator to grant them, then authorize again."
	}
	if len(ta.ExtraPermissions) > 0 {
		res.Message += " Note: the app was also granted " + strings.Join(ta.ExtraPermissions, ", ") +
			", which teamaccess does not need; the administrator may remove them."
	}
	return res, nil
}

// statusFor is ACTIVE when every required permission is granted, DEGRADED otherwise.
func statusFor(roles []string) Status {
	if missing, _ := permissions(roles); len(missing) > 0 {
		return Degraded
	}
	return Active
}

// declined records a Cancel on Microsoft's page; a working connection stays as it was.
func (s *Service) declined(ctx context.Context, rec store.TeamAccess, code, desc string) (CallbackResult, error) {
	if rec.Status == string(PendingConsent) {
		rec.Status = string(NotConfigured)
	}
	msg := "The Microsoft 365 administrator declined to grant access. Microsoft said: " + microsoftReason(code, desc)
	rec.LastError = s.problem(strings.ToUpper(code), msg)
	ta, err := s.save(ctx, rec)
	if err != nil {
		return CallbackResult{}, err
	}
	if err := s.audit.Record(ctx, callbackActor(rec.OrgID), "teamAccess.consentDeclined", "", msg); err != nil {
		return CallbackResult{}, err
	}
	return CallbackResult{Outcome: Declined, Title: "Authorization declined", Message: msg, TeamAccess: ta}, nil
}

// refuse records why a callback did not connect; the connection stays as it was.
func (s *Service) refuse(ctx context.Context, rec store.TeamAccess, code, msg string) (CallbackResult, error) {
	rec.LastError = s.problem(code, msg)
	ta, err := s.save(ctx, rec)
	if err != nil {
		return CallbackResult{}, err
	}
	return CallbackResult{Outcome: Refused, Title: "Authorization not completed", Message: msg, TeamAccess: ta}, nil
}

// microsoftReason is an error redirect's reason in one line, bounded (the words come from a URL
// anyone can forge): the description without its trace
// lines (Microsoft separates them with CR LF: v2-admin-consent.md, "Error response"), or the
// error code when there is no description.
func microsoftReason(code, desc string) string {
	if d := graphdata.IdentityReason(desc); d != "" {
		return d
	}
	return graphdata.OneLine(code)
}
