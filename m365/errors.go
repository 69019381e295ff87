package m365

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
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
	// ErrResourceNotFound: 404: the user, mailbox or folder does not exist (any more).
	ErrResourceNotFound = errors.New("not found in Microsoft Graph")
	// ErrDeltaExpired reports a delta link the service no longer accepts: start over without it.
	ErrDeltaExpired = errors.New("the delta link expired; a full synchronisation is needed")
)

// GraphError is a Graph answer other than success, in Microsoft's words: its status, its error
// code and the first line of its message, never an SDK dump.
type GraphError struct {
	Op      string // what teamaccess was doing: "delta", "users/delta"
	Status  int    // 0 when no answer came (the network, an unreadable body)
	Code    string
	Message string
	// Identity is set when the call never reached Graph because the identity platform refused
	// the token (classified as in VerifyTenant: ErrNotConsented, ErrTenantNotFound,
	// ErrCredentials, ErrUnavailable). Only ErrUnavailable of those is transient.
	Identity error
}

// maxMessage bounds the part of Graph's message kept: strings from Graph are bounded too.
const maxMessage = 300

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

// newGraphError reads a failed Graph call's error.
func newGraphError(op string, err error) *GraphError {
	var afe *azidentity.AuthenticationFailedError
	if errors.As(err, &afe) {
		id := classify(err)
		return &GraphError{Op: op, Message: oneLine(id.Error()), Identity: id}
	}
	var oe *odataerrors.ODataError
	if !errors.As(err, &oe) {
		return &GraphError{Op: op, Message: oneLine(err.Error())}
	}
	code, msg := odataDetail(oe)
	return &GraphError{Op: op, Status: oe.ResponseStatusCode, Code: code, Message: oneLine(msg)}
}

// oneLine is the first line of s, at most maxMessage bytes.
func oneLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	s = strings.TrimRight(s, "\r")
	if len(s) > maxMessage {
		s = s[:maxMessage] + "…"
	}
	return s
}

// odataDetail is a Graph error's code and message.
func odataDetail(oe *odataerrors.ODataError) (code, msg string) {
	msg = oe.Error()
	if me := oe.GetErrorEscaped(); me != nil {
		if me.GetCode() != nil {
			code = *me.GetCode()
		}
		if me.GetMessage() != nil {
			msg = *me.GetMessage()
		}
	}
	return code, msg
}
