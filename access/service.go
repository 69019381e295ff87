package access

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/teamaccess/teamaccess/auth"
	"github.com/teamaccess/teamaccess/errkind"
	"github.com/teamaccess/teamaccess/store"
)

// Store is what Team Access needs of the database.
type Store interface {
	Org(orgID string) store.OrgScope
	ConsumeConsentState(ctx context.Context, hash string, now time.Time) (store.ConsentState, error)
	DeleteConsentStatesBefore(ctx context.Context, t time.Time) (int64, error)
	ConnectedTeamAccess(ctx context.Context) ([]store.TeamAccess, error)
}

var _ Store = (*store.Store)(nil)

// Auditor records administrative actions.
type Auditor interface {
	Record(ctx context.Context, actor auth.Actor, action, target, summary string) error
}

// DisconnectHook runs when an organisation disconnects: later parts (syncs, Graph
// subscriptions, stored data) stop and clean up there.
type DisconnectHook func(ctx context.Context, orgID, tenantID string, purge bool) error

// Options tune the service.
type Options struct {
	LinkTTL  time.Duration // how long a consent link works; 1 hour by default
	Now      func() time.Time
	Log      *slog.Logger
	Publish  func(ctx context.Context, orgID string, ta TeamAccess) // live updates; may be nil
	OnDelete []DisconnectHook
	// OnConnect hears of a tenant just bound to an organisation (discovery starts there).
	OnConnect func(orgID, tenantID string)
	// Tenant, when set, says whether this process re-verifies the organisation's consent (the
	// process holding the tenant's partition); every organisation when nil.
	Tenant func(orgID string) bool
}

// Service is Team Access.
type Service struct {
	st    Store
	v     Verifier
	audit Auditor
	o     Options
}

// New returns the service.
func New(st Store, v Verifier, audit Auditor, o Options) *Service {
	if o.LinkTTL <= 0 {
		o.LinkTTL = time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Service{st: st, v: v, audit: audit, o: o}
}

func (s *Service) now() time.Time { return s.o.Now().UTC().Truncate(time.Millisecond) }

// Status returns the organisation's connection.
func (s *Service) Status(ctx context.Context, orgID string) (TeamAccess, error) {
	rec, err := s.st.Org(orgID).TeamAccess(ctx)
	if err != nil {
		return TeamAccess{}, err
	}
	return s.view(rec), nil
}

// view turns the stored record into what the API shows.
func (s *Service) view(rec store.TeamAccess) TeamAccess {
	ta := TeamAccess{
		OrgID: rec.OrgID, Status: Status(rec.Status), ConsentedAt: rec.ConsentedAt, LastVerifiedAt: rec.LastVerifiedAt,
		RequiredPermissions: RequiredPermissions, GrantedPermissions: append([]string{}, rec.Granted...), ApplicationID: s.v.ClientID(),
	}
	if ta.Status == "" {
		ta.Status = NotConfigured
	}
	if rec.TenantID != "" {
		t := rec.TenantID
		ta.TenantID = &t
		ta.MissingPermissions, ta.ExtraPermissions = permissions(rec.Granted)
	} else {
		ta.MissingPermissions, ta.ExtraPermissions = []string{}, []string{}
	}
	if rec.LastError != nil {
		ta.LastError = &Problem{Code: rec.LastError.Code, Message: rec.LastError.Message, At: rec.LastError.At}
	}
	return ta
}

// save writes the record and publishes the change.
func (s *Service) save(ctx context.Context, rec store.TeamAccess) (TeamAccess, error) {
	rec.UpdatedAt = s.now()
	if err := s.st.Org(rec.OrgID).SaveTeamAccess(ctx, rec); err != nil {
		return TeamAccess{}, err
	}
	ta := s.view(rec)
	if s.o.Publish != nil {
		s.o.Publish(ctx, rec.OrgID, ta)
	}
	return ta, nil
}

var (
	guidPattern   = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	domainPattern = regexp.MustCompile(`^([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]{2,63}$`)
)

// CreateConsentLink makes a one-time admin-consent link for the actor's organisation. Its state
// is 256 random bits, stored only as a hash, valid for LinkTTL. tenantHint (a tenant id or
// domain, optional) takes the admin straight to their tenant.
func (s *Service) CreateConsentLink(ctx context.Context, actor auth.Actor, tenantHint string) (ConsentLink, error) {
	tenantHint = strings.TrimSpace(tenantHint)
	if tenantHint != "" && (len(tenantHint) > 253 || !guidPattern.MatchString(tenantHint) && !domainPattern.MatchString(tenantHint)) {
		return ConsentLink{}, errkind.E(errkind.ErrInvalid, "tenantHint must be a tenant id (a GUID) or a domain such as contoso.onmicrosoft.com")
	}
	var b [32]byte
	_, _ = rand.Read(b[:])
	state := base64.RawURLEncoding.EncodeToString(b[:])
	now := s.now()
	link := ConsentLink{URL: s.v.ConsentURL(tenantHint, state), ExpiresAt: now.Add(s.o.LinkTTL)}
	scope := s.st.Org(actor.OrgID)
	if err := scope.InsertConsentState(ctx, store.ConsentState{Hash: hashState(state), TenantHint: tenantHint,
		CreatedBy: actor.KeyID, CreatedAt: now, ExpiresAt: link.ExpiresAt}); err != nil {
		return ConsentLink{}, err
	}
	rec, err := scope.TeamAccess(ctx)
	if err != nil {
		return ConsentLink{}, err
	}
	if rec.Status == "" || rec.Status == string(NotConfigured) {
		rec.Status = string(PendingConsent)
		if _, err := s.save(ctx, rec); err != nil {
			return ConsentLink{}, err
		}
	}
	summary := "created an admin-consent link, valid until " + link.ExpiresAt.Format(time.RFC3339)
	if tenantHint != "" {
		summary += ", for tenant " + tenantHint
	}
	if err := s.audit.Record(ctx, actor, "teamAccess.consentLink", "", summary); err != nil {
		return ConsentLink{}, err
	}
	return link, nil
}

func hashState(state string) string {
	sum := sha256.Sum256([]byte(state))
	return hex.EncodeToString(sum[:])
}

// PruneConsentStates deletes consent states that expired before the retention.
func (s *Service) PruneConsentStates(ctx context.Context) (int64, error) {
	return s.st.DeleteConsentStatesBefore(ctx, s.now().Add(-24*time.Hour))
}

// problem makes a stored problem.
func (s *Service) problem(code, msg string) *store.Problem {
	return &store.Problem{Code: code, Message: msg, At: s.now()}
}

// errorCode names an identity platform error for lastError.
func errorCode(err error) string {
	switch {
	case errors.Is(err, ErrNotConsented):
		return "CONSENT_NOT_FOUND"
	case errors.Is(err, ErrTenantNotFound):
		return "TENANT_NOT_FOUND"
	case errors.Is(err, ErrCredentials):
		return "APP_CREDENTIALS_REFUSED"
	}
	return "MICROSOFT_UNAVAILABLE"
}
