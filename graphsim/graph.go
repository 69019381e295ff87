package graphsim

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// caller is an authenticated Graph request's app and tenant.
type caller struct {
	tenant *tenant
	appID  string
	roles  []string
}

// graphError writes Microsoft Graph's error envelope (concepts/errors.md, "Error resource
// type"): code, message, and innerError with date, request-id and client-request-id.
func (s *Sim) graphError(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	if rec, ok := w.(*statusRecorder); ok {
		rec.code = code
	}
	reqID := newGUID()
	clientReqID := r.Header.Get("client-request-id")
	if clientReqID == "" {
		clientReqID = reqID
	}
	w.Header().Set("request-id", reqID)
	w.Header().Set("client-request-id", clientReqID)
	writeJSONBody(w, status, map[string]any{"error": map[string]any{
		"code": code, "message": message,
		"innerError": map[string]any{
			"date": s.now().Format("2006-01-02T15:04:05"), "request-id": reqID, "client-request-id": clientReqID,
		},
	}})
}

// graphHandler serves Microsoft Graph v1.0.
func (s *Sim) graphHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w}
		entry := Request{At: s.now(), Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, UserAgent: r.UserAgent()}
		defer func() {
			entry.Status, entry.Code, entry.Took = rec.status, rec.code, s.now().Sub(entry.At)
			s.mu.Lock()
			if len(s.requests) >= maxRequestLog {
				s.requests = append(s.requests[:0], s.requests[maxRequestLog/2:]...)
			}
			s.requests = append(s.requests, entry)
			s.mu.Unlock()
		}()
		// msgraph-sdk-go's compression middleware compresses request bodies (teamaccess turns it
		// off); Options.CompressedBodies says how they are answered.
		if r.Header.Get("Content-Encoding") == "gzip" {
			entry.Compressed = true
			switch s.opts.CompressedBodies {
			case http.StatusUnsupportedMediaType:
				s.graphError(rec, r, http.StatusUnsupportedMediaType, "UnsupportedMediaType", "The Content-Encoding gzip is not supported.")
				return
			case http.StatusBadRequest:
				s.graphError(rec, r, http.StatusBadRequest, "BadRequest",
					"Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.")
				return
			}
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				s.graphError(rec, r, http.StatusBadRequest, "BadRequest", "Invalid gzip body.")
				return
			}
			r.Body = io.NopCloser(zr)
			r.Header.Del("Content-Encoding")
		}
		segs, ok := graphPath(r.URL.Path)
		if !ok {
			s.graphError(rec, r, http.StatusNotFound, "BadRequest", "Invalid version: the path must start with /v1.0.")
			return
		}
		c, ok := s.authenticate(rec, r)
		if !ok {
			return
		}
		entry.TenantID, entry.AppID = c.tenant.id, c.appID
		if len(segs) >= 2 && segs[0] == "users" {
			entry.UserID = segs[1]
		}
		// Faults on a mailbox apply once the request holds one of its throttling slots (see
		// mailboxRoute), so that injected latency occupies the mailbox as a slow request would.
		if !isMailboxPath(segs) && s.injectFault(rec, r, c, segs) {
			return
		}
		s.route(rec, r, c, segs)
	})
}

// graphPath splits a /v1.0/… path into segments, turning function calls such as delta(),
// microsoft.graph.delta() and microsoft.graph.delta into plain "delta" (concepts/
// delta-query-overview.md: "/delta is a shortcut for the fully qualified name
// /microsoft.graph.delta"), and key syntax such as mailFolders('Inbox') into two segments.
func graphPath(p string) ([]string, bool) {
	rest, ok := strings.CutPrefix(p, "/v1.0/")
	if !ok {
		return nil, false
	}
	var segs []string
	for _, seg := range strings.Split(strings.Trim(rest, "/"), "/") {
		if u, err := url.PathUnescape(seg); err == nil {
			seg = u
		}
		seg = strings.TrimPrefix(seg, "microsoft.graph.")
		seg = strings.TrimSuffix(seg, "()")
		if name, key, ok := strings.Cut(seg, "("); ok && strings.HasSuffix(key, ")") {
			segs = append(segs, name, strings.Trim(strings.TrimSuffix(key, ")"), "'"))
			continue
		}
		segs = append(segs, seg)
	}
	return segs, true
}

// authenticate checks the bearer token (concepts/errors.md: 401 InvalidAuthenticationToken).
func (s *Sim) authenticate(w http.ResponseWriter, r *http.Request) (caller, bool) {
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || raw == "" {
		s.graphError(w, r, http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token is empty.")
		return caller{}, false
	}
	claims, err := s.verifyToken(raw)
	if err != nil {
		msg := "Access token validation failure. Invalid audience."
		if strings.Contains(err.Error(), "expired") {
			msg = "Lifetime validation failed, the token is expired."
		} else if strings.Contains(err.Error(), "signature") || strings.Contains(err.Error(), "malformed") {
			msg = "IDX14100: JWT is not well formed, there are no dots (.)."
		}
		s.graphError(w, r, http.StatusUnauthorized, "InvalidAuthenticationToken", msg)
		return caller{}, false
	}
	tid, _ := claims["tid"].(string)
	appID, _ := claims["appid"].(string)
	s.mu.Lock()
	t := s.tenants[tid]
	s.mu.Unlock()
	if t == nil {
		s.graphError(w, r, http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token validation failure.")
		return caller{}, false
	}
	var roles []string
	if rs, ok := claims["roles"].([]any); ok {
		for _, r := range rs {
			if s, ok := r.(string); ok {
				roles = append(roles, s)
			}
		}
	}
	return caller{tenant: t, appID: appID, roles: roles}, true
}

// has reports whether the token carries any of the roles.
func (c caller) has(roles ...string) bool {
	for _, r := range roles {
		if slices.Contains(c.roles, r) {
			return true
		}
	}
	return false
}

// isMailboxPath reports whether a path reads a user's mailbox.
func isMailboxPath(segs []string) bool {
	return len(segs) >= 3 && segs[0] == "users" && segs[1] != "delta"
}

// route dispatches a Graph request.
func (s *Sim) route(w http.ResponseWriter, r *http.Request, c caller, segs []string) {
	n, get := len(segs), r.Method == http.MethodGet
	match := func(pattern ...string) bool {
		if len(pattern) != n {
			return false
		}
		for i, p := range pattern {
			if p != "*" && !strings.EqualFold(p, segs[i]) {
				return false
			}
		}
		return true
	}
	if isIdentityPath(segs) && !s.admitIdentity(w, r, c, segs) {
		return
	}
	switch {
	case get && match("users"):
		s.listUsers(w, r, c)
	case get && match("users", "delta"):
		s.usersDelta(w, r, c)
	case get && match("users", "*"):
		s.getUser(w, r, c, segs[1])
	case isMailboxPath(segs):
		s.mailboxRoute(w, r, c, segs[1], segs[2:])
	case match("subscriptions") || match("subscriptions", "*") || match("subscriptions", "*", "reauthorize"):
		s.subscriptionsRoute(w, r, c, segs)
	case r.Method == http.MethodPost && match("$batch"):
		s.batch(w, r, c)
	default:
		s.graphError(w, r, http.StatusBadRequest, "BadRequest", fmt.Sprintf("Resource not found for the segment '%s'.", segs[n-1]))
	}
}

// mailboxRoute serves a user's mail, calendar and contacts, after the checks every mailbox
// request passes: the user exists and has a mailbox, the access policy allows the app, and the
// mailbox's throttling limits.
func (s *Sim) mailboxRoute(w http.ResponseWriter, r *http.Request, c caller, user string, rest []string) {
	u, mb, ok := s.resolveMailbox(w, r, c, user)
	if !ok {
		return
	}
	release, ok := s.admit(w, r, c, u.ID)
	if !ok {
		return
	}
	defer release()
	if s.injectFault(w, r, c, append([]string{"users", u.ID}, rest...)) {
		return
	}
	n, get := len(rest), r.Method == http.MethodGet
	at := func(i int, s string) bool { return n > i && strings.EqualFold(rest[i], s) }
	switch {
	case get && n == 1 && at(0, "mailboxSettings"):
		s.mailboxSettings(w, r, c, u)
	case get && n == 1 && at(0, "mailFolders"):
		s.listMailFolders(w, r, c, mb)
	case get && n == 2 && at(0, "mailFolders"):
		s.getMailFolder(w, r, c, mb, rest[1])
	case get && n == 4 && at(0, "mailFolders") && at(2, "messages") && at(3, "delta"):
		s.messagesDelta(w, r, c, u, mb, rest[1])
	case get && n == 3 && at(0, "mailFolders") && at(2, "messages"):
		s.listMessages(w, r, c, u, mb, rest[1])
	case get && n == 1 && at(0, "messages"):
		s.listMessages(w, r, c, u, mb, "")
	case get && n == 2 && at(0, "messages"):
		s.getMessage(w, r, c, mb, rest[1])
	case get && n == 2 && at(0, "calendarView") && at(1, "delta"):
		s.eventsDelta(w, r, c, u, mb)
	case get && n == 2 && at(0, "events"):
		s.getEvent(w, r, c, mb, rest[1])
	case get && n == 3 && at(0, "events") && at(2, "instances"):
		s.eventInstances(w, r, c, u, mb, rest[1])
	case get && n == 1 && at(0, "contactFolders"):
		s.listContactFolders(w, r, c, mb)
	case get && n == 2 && at(0, "contacts") && at(1, "delta"):
		s.contactsDelta(w, r, c, u, mb, mb.defaultContact)
	case get && n == 4 && at(0, "contactFolders") && at(2, "contacts") && at(3, "delta"):
		s.contactsDelta(w, r, c, u, mb, rest[1])
	case get && n == 2 && at(0, "contacts"):
		s.getContact(w, r, c, mb, rest[1])
	default:
		s.graphError(w, r, http.StatusBadRequest, "BadRequest", fmt.Sprintf("Resource not found for the segment '%s'.", rest[n-1]))
	}
}

// PolicyDenial is how Exchange words a read of a mailbox that the tenant's scoping of the app
// (an application access policy, or RBAC for Applications) leaves out. Every variant is a 403
// ErrorAccessDenied; only the message differs, so a client must not tell a policy from a missing
// permission by the text alone.
type PolicyDenial string

// The variants graphsim can play.
const (
	// DenialDocumented is Microsoft's own example, and the default: "Access to OData is
	// disabled." and nothing more (concepts/auth-limit-mailbox-access.md, "Handling API errors").
	DenialDocumented PolicyDenial = "documented"
	// DenialRAOP is the longer text some tenants send, naming the AppOnly AccessPolicy
	// (reported by implementers; not on Microsoft's page).
	DenialRAOP PolicyDenial = "raop"
	// DenialRBAC is what RBAC for Applications answers for a mailbox outside the role
	// assignment's scope: Exchange's generic access-denied text, the same as for a missing
	// permission (exchange/permissions-exo/application-rbac; Test-ServicePrincipalAuthorization
	// shows the scope, the answer does not).
	DenialRBAC PolicyDenial = "rbac"
)

// Exchange's texts for the variants.
const (
	documentedDenial = "Access to OData is disabled."
	raopMessage      = "Access to OData is disabled: [RAOP] : Blocked by tenant configured AppOnly AccessPolicy settings."
	accessDenied     = "Access is denied. Check credentials and try again."
)

// denialText is the message of a read refused by the tenant's scoping of the app.
func (s *Sim) denialText() string {
	switch s.opts.PolicyDenial {
	case DenialRAOP:
		return raopMessage
	case DenialRBAC:
		return accessDenied
	}
	return documentedDenial
}

// resolveMailbox finds the user by id or userPrincipalName and checks the mailbox can be read.
func (s *Sim) resolveMailbox(w http.ResponseWriter, r *http.Request, c caller, user string) (*User, *mailbox, bool) {
	s.mu.Lock()
	u := c.tenant.findUserLocked(user)
	var mb *mailbox
	if u != nil {
		mb = c.tenant.mailboxes[u.ID]
	}
	allowed := u != nil && c.tenant.allowedLocked(c.appID, u.ID, s.nowLocked())
	s.mu.Unlock()
	switch {
	case u == nil:
		// api-reference/v1.0/resources/message.md has no page for it; Exchange answers
		// ErrorInvalidUser for an unknown mailbox owner.
		s.graphError(w, r, http.StatusNotFound, "ErrorInvalidUser", fmt.Sprintf("The requested user '%s' is invalid.", user))
	case mb == nil:
		// Users without an Exchange Online mailbox: concepts/known-issues (Outlook):
		// "MailboxNotEnabledForRESTAPI".
		s.graphError(w, r, http.StatusNotFound, "MailboxNotEnabledForRESTAPI", "The mailbox is either inactive, soft-deleted, or is hosted on-premise.")
	case !allowed:
		s.graphError(w, r, http.StatusForbidden, "ErrorAccessDenied", s.denialText())
	default:
		return u, mb, true
	}
	return nil, nil, false
}

func (t *tenant) findUserLocked(idOrUPN string) *User {
	if v, ok := t.users.get(idOrUPN); ok {
		return v.(*User)
	}
	for _, e := range t.users.live() {
		if u := e.value.(*User); strings.EqualFold(u.UserPrincipalName, idOrUPN) {
			return u
		}
	}
	return nil
}

// ctxKey types for values the simulator passes down a request.
type ctxKey int

const batchKey ctxKey = 1

// decodeJSON reads a request body strictly.
func decodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 4<<20))
	return dec.Decode(v)
}
