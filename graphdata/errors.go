package graphdata

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Kinds of Graph failure a caller acts on; a *GraphError matches the ones that apply with
// errors.Is.
var (
	// ErrTransient: the answer says nothing of the resource (throttled past the retries, a
	// 5xx, the network); ask again later.
	ErrTransient = errors.New("transient Graph failure")
	// ErrThrottled: Graph asked the client to slow down: 429, 503 or 504
	// (concepts/throttling.md). A subset of ErrTransient.
	ErrThrottled = errors.New("throttled by Microsoft Graph")
	// ErrAccessDenied: 403 on a mailbox's resource: the tenant's scoping of the app (an
	// application access policy, RBAC for Applications) or a permission withdrawn.
	ErrAccessDenied = errors.New("access denied by Microsoft Graph")
	// ErrResourceNotFound: 404: the user, mailbox, folder or item does not exist (any more).
	ErrResourceNotFound = errors.New("not found in Microsoft Graph")
	// ErrDeltaExpired reports a delta link the service no longer accepts: start over without it.
	ErrDeltaExpired = errors.New("the delta link expired; a full synchronisation is needed")
)

// Kinds of identity-platform failure (docs/identity-platform/reference-error-codes.md).
var (
	// ErrNotConsented: the app is not (or no longer) in the tenant: never consented, consent
	// revoked, or the service principal deleted or disabled.
	ErrNotConsented = errors.New("the application is not consented in this tenant")
	// ErrTenantNotFound: no such tenant.
	ErrTenantNotFound = errors.New("tenant not found")
	// ErrCredentials: the app's own configuration was refused (its secret or certificate, the
	// scope or endpoint it asks): an error of teamaccess's operator, not of the tenant, and
	// never worth retrying as it is.
	ErrCredentials = errors.New("the application's credentials were refused")
	// ErrUnavailable: the identity platform could not be reached or failed; try again later.
	ErrUnavailable = errors.New("the Microsoft identity platform is unavailable")
)

// Kinds of subscription failure.
var (
	// ErrSubscriptionGone: the subscription does not exist (expired, removed, or deleted).
	ErrSubscriptionGone = errors.New("the subscription no longer exists")
	// ErrRefused: Graph refused the request for good (access policy, quota, permission, the
	// notification endpoint failed validation); retrying soon will not help.
	ErrRefused = errors.New("the subscription was refused by Microsoft Graph")
)

// GraphError is a Graph answer other than success, in Microsoft's words: its status, its error
// code and the first line of its message, never an SDK dump.
type GraphError struct {
	Op      string // what teamaccess was doing: "delta", "users/delta"
	Status  int    // 0 when no answer came (the network, an unreadable body)
	Code    string
	Message string
	// Identity is set when the call never reached Graph because the identity platform refused
	// the token (ErrNotConsented, ErrTenantNotFound, ErrCredentials, ErrUnavailable). Only
	// ErrUnavailable of those is transient.
	Identity error
}

func (e *GraphError) Error() string {
	if e.Status == 0 {
		return e.Op + ": " + e.Message
	}
	return fmt.Sprintf("%s: Microsoft Graph answered %d %s: %s", e.Op, e.Status, e.Code, e.Message)
}

// Is matches the kinds of failure the answer is.
func (e *GraphError) Is(target error) bool {
	s := e.Status
	if e.Identity != nil {
		return target == ErrTransient && errors.Is(e.Identity, ErrUnavailable) || errors.Is(e.Identity, target)
	}
	switch target {
	case ErrTransient:
		return s == 0 || s == http.StatusTooManyRequests || s >= 500
	case ErrThrottled:
		return s == http.StatusTooManyRequests || s == http.StatusServiceUnavailable || s == http.StatusGatewayTimeout
	case ErrAccessDenied:
		return s == http.StatusForbidden
	case ErrResourceNotFound:
		return s == http.StatusNotFound
	case ErrDeltaExpired:
		// 410 Gone (Outlook) or 400 syncStateNotFound / resyncRequired (directory):
		// concepts/delta-query-overview.md.
		return s == http.StatusGone || strings.EqualFold(e.Code, "syncStateNotFound") || strings.EqualFold(e.Code, "resyncRequired")
	}
	return false
}

// MaxMessage bounds the part of a message from Microsoft that is kept: strings from Graph are
// bounded too.
const MaxMessage = 300

// OneLine is the first line of s, at most MaxMessage bytes.
func OneLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	s = strings.TrimRight(s, "\r")
	if len(s) > MaxMessage {
		s = s[:MaxMessage] + "…"
	}
	return s
}

// IdentityReason is an identity-platform error description in one line, without the trace lines
// it ends with ("Trace ID:", "Correlation ID:", "Timestamp:"), however they are separated: CR LF
// in Microsoft's examples (v2-oauth2-client-creds-grant-flow.md, "Error response example";
// v2-admin-consent.md, "Error response"), a space in some answers. At most MaxMessage bytes.
func IdentityReason(desc string) string {
	d, _, _ := strings.Cut(desc, "Trace ID:")
	return OneLine(d)
}
