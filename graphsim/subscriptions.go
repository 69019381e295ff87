package graphsim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Subscription is subscription (api-reference/v1.0/resources/subscription.md).
type Subscription struct {
	ID                        string    `json:"id"`
	Resource                  string    `json:"resource"`
	ApplicationID             string    `json:"applicationId"`
	ChangeType                string    `json:"changeType"`
	ClientState               *string   `json:"clientState"`
	NotificationURL           string    `json:"notificationUrl"`
	LifecycleNotificationURL  *string   `json:"lifecycleNotificationUrl"`
	ExpirationDateTime        time.Time `json:"expirationDateTime"`
	CreatorID                 string    `json:"creatorId"`
	IncludeResourceData       *bool     `json:"includeResourceData"`
	LatestSupportedTLSVersion string    `json:"latestSupportedTlsVersion"`
	EncryptionCertificate     *string   `json:"encryptionCertificate"`
	EncryptionCertificateID   *string   `json:"encryptionCertificateId"`
	NotificationURLAppID      *string   `json:"notificationUrlAppId"`
}

// subscription is a live subscription and what the simulator knows of it.
type subscription struct {
	Subscription
	tenantID string
	userID   string // "" for the users collection
	kind     string // messages, events, contacts, users
	folder   string // a mail folder id when the resource names one
}

// Maximum expirations (api-reference/v1.0/resources/subscription.md, "Subscription lifetime"):
// Outlook message, event and contact: 10,080 minutes (under 7 days); user: 41,760 minutes.
var maxLifetime = map[string]time.Duration{
	"messages": 10080 * time.Minute, "events": 10080 * time.Minute, "contacts": 10080 * time.Minute,
	"users": 41760 * time.Minute,
}

// maxLifetime is the longest a subscription of the kind may live, with OutlookMaxLifetime
// applied to Outlook resources.
func (s *Sim) maxLifetime(kind string) time.Duration {
	if kind != "users" && s.opts.OutlookMaxLifetime > 0 {
		return s.opts.OutlookMaxLifetime
	}
	return maxLifetime[kind]
}

// SubscriptionsPerMailbox is the Outlook quota: "1000 active subscriptions per mailbox for all
// applications" (api-reference/v1.0/resources/subscription.md, "Subscription quotas").
const SubscriptionsPerMailbox = 1000

// resourcePattern matches the resources teamaccess subscribes to.
var resourcePattern = regexp.MustCompile(`(?i)^/?users/([^/]+)/(?:(messages|events|contacts)|mailFolders(?:\('([^']+)'\)|/([^/]+))/(messages))$`)

// parseResource returns the user, kind and folder a subscription resource names.
func parseResource(res string) (user, kind, folder string, ok bool) {
	if strings.EqualFold(strings.Trim(res, "/"), "users") {
		return "", "users", "", true
	}
	m := resourcePattern.FindStringSubmatch(res)
	if m == nil {
		return "", "", "", false
	}
	if m[2] != "" {
		return m[1], strings.ToLower(m[2]), "", true
	}
	folder = m[3]
	if folder == "" {
		folder = m[4]
	}
	return m[1], "messages", folder, true
}

// subscriptionsRoute serves /subscriptions (api-reference/v1.0/api/subscription-post-subscriptions.md,
// subscription-list.md, subscription-get.md, subscription-update.md, subscription-delete.md,
// subscription-reauthorize.md).
func (s *Sim) subscriptionsRoute(w http.ResponseWriter, r *http.Request, c caller, segs []string) {
	if !s.admitSubscriptionRequest(w, r, c) {
		return
	}
	switch {
	case len(segs) == 1 && r.Method == http.MethodPost:
		s.createSubscription(w, r, c)
	case len(segs) == 1 && r.Method == http.MethodGet:
		s.listSubscriptions(w, r, c)
	case len(segs) == 2 && r.Method == http.MethodGet:
		if sub, ok := s.findSubscription(w, r, c, segs[1]); ok {
			writeJSONBody(w, http.StatusOK, shape(&sub.Subscription, nil, ""))
		}
	case len(segs) == 2 && r.Method == http.MethodPatch:
		s.renewSubscription(w, r, c, segs[1])
	case len(segs) == 2 && r.Method == http.MethodDelete:
		if _, ok := s.findSubscription(w, r, c, segs[1]); ok {
			s.mu.Lock()
			delete(s.subs, segs[1])
			s.mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
		}
	case len(segs) == 3 && r.Method == http.MethodPost:
		if _, ok := s.findSubscription(w, r, c, segs[1]); ok {
			w.WriteHeader(http.StatusNoContent)
		}
	default:
		s.graphError(w, r, http.StatusMethodNotAllowed, "BadRequest", "The HTTP method is not allowed on this resource.")
	}
}

// listPageSize is how many subscriptions a page of the list holds.
const listPageSize = 100

// listSubscriptions is GET /subscriptions (api-reference/v1.0/api/subscription-list.md): with
// application permissions, the subscriptions the app created in the tenant; clientState is
// never returned ("not returned for security purposes"); several pages are linked by
// @odata.nextLink.
func (s *Sim) listSubscriptions(w http.ResponseWriter, r *http.Request, c caller) {
	from, _ := strconv.Atoi(r.URL.Query().Get("$skiptoken"))
	s.mu.Lock()
	var mine []*subscription
	for _, sub := range s.subs {
		if sub.ApplicationID == c.appID && sub.tenantID == c.tenant.id && sub.ExpirationDateTime.After(s.nowLocked()) {
			mine = append(mine, sub)
		}
	}
	slices.SortFunc(mine, func(a, b *subscription) int { return strings.Compare(a.ID, b.ID) })
	var value []map[string]any
	for _, sub := range mine[min(from, len(mine)):min(from+listPageSize, len(mine))] {
		listed := sub.Subscription
		listed.ClientState = nil
		value = append(value, shape(&listed, nil, ""))
	}
	s.mu.Unlock()
	next := ""
	if from+listPageSize < len(mine) {
		next = s.link("subscriptions", "$skiptoken", strconv.Itoa(from+listPageSize))
	}
	s.writeCollection(w, "subscriptions", value, next, "", 0)
}

// findSubscription returns a live subscription of the caller's app; an expired one is gone.
func (s *Sim) findSubscription(w http.ResponseWriter, r *http.Request, c caller, id string) (*subscription, bool) {
	s.mu.Lock()
	sub, ok := s.subs[id]
	if ok && !sub.ExpirationDateTime.After(s.nowLocked()) {
		delete(s.subs, id)
		ok = false
	}
	s.mu.Unlock()
	if !ok || sub.ApplicationID != c.appID || sub.tenantID != c.tenant.id {
		s.graphError(w, r, http.StatusNotFound, "ResourceNotFound", "The object was not found.")
		return nil, false
	}
	return sub, true
}

func (s *Sim) createSubscription(w http.ResponseWriter, r *http.Request, c caller) {
	var in Subscription
	if err := decodeJSON(r, &in); err != nil {
		s.graphError(w, r, http.StatusBadRequest, "BadRequest", "Invalid request body: "+err.Error())
		return
	}
	bad := func(code, msg string) { s.graphError(w, r, http.StatusBadRequest, code, msg) }
	user, kind, folder, ok := parseResource(in.Resource)
	switch {
	case in.NotificationURL == "" || in.Resource == "" || in.ChangeType == "" || in.ExpirationDateTime.IsZero():
		bad("InvalidRequest", "changeType, notificationUrl, resource and expirationDateTime are required.")
		return
	case !ok:
		bad("InvalidRequest", "Resource '"+in.Resource+"' is not supported.")
		return
	case !validChangeTypes(in.ChangeType):
		bad("InvalidRequest", "'"+in.ChangeType+"' is not a valid change type; use created, updated, deleted, separated by commas.")
		return
	case in.ClientState != nil && len(*in.ClientState) > 128:
		bad("InvalidRequest", "clientState can be at most 128 characters.")
		return
	case !webhookURL(in.NotificationURL) || in.LifecycleNotificationURL != nil && !webhookURL(*in.LifecycleNotificationURL):
		bad("InvalidRequest", "The notification URL must use HTTPS.")
		return
	}
	now := s.now()
	if !in.ExpirationDateTime.After(now) {
		bad("InvalidRequest", "Subscription expiration must be in the future.")
		return
	}
	if in.ExpirationDateTime.Sub(now) > s.maxLifetime(kind) {
		bad("InvalidRequest", fmt.Sprintf("Subscription expiration can only be %d minutes in the future.", int(s.maxLifetime(kind).Minutes())))
		return
	}
	roles := map[string][]string{"messages": mailRoles, "events": calendarRoles, "contacts": contactRoles, "users": userRoles}[kind]
	if !c.has(roles...) {
		s.graphError(w, r, http.StatusForbidden, "ExtensionError", "Operation: Create; Exception: [Status Code: Forbidden; Reason: Access is denied. Check credentials and try again.]")
		return
	}
	var userID string
	if kind != "users" {
		s.mu.Lock()
		u := c.tenant.findUserLocked(user)
		var mb *mailbox
		if u != nil {
			userID, mb = u.ID, c.tenant.mailboxes[u.ID]
		}
		allowed := u != nil && c.tenant.allowedLocked(c.appID, u.ID, s.nowLocked())
		count := 0
		for _, sub := range s.subs {
			if sub.tenantID == c.tenant.id && sub.userID == userID {
				count++
			}
		}
		if mb != nil && folder != "" {
			if folder, ok = mb.folderID(folder); !ok {
				mb = nil
			}
		}
		s.mu.Unlock()
		switch {
		case u == nil || mb == nil:
			s.graphError(w, r, http.StatusNotFound, "ExtensionError", "Operation: Create; Exception: [Status Code: NotFound; Reason: The requested user or folder '"+user+"' is invalid.]")
			return
		case !allowed:
			// Creation on a mailbox outside the app's scope fails with the denial wrapped in an
			// ExtensionError, as msgraph-sdk-javascript issue 252 quotes it.
			s.graphError(w, r, http.StatusForbidden, "ExtensionError", "Operation: Create; Exception: [Status Code: Forbidden; Reason: "+s.denialText()+"]")
			return
		case count >= SubscriptionsPerMailbox:
			s.graphError(w, r, http.StatusForbidden, "ExtensionError", "Operation: Create; Exception: [Status Code: Forbidden; Reason: The maximum number of subscriptions for this mailbox has been reached.]")
			return
		}
	}
	if err := s.validateEndpoint(r.Context(), in.NotificationURL); err != nil {
		bad("ValidationError", err.Error())
		return
	}
	if in.LifecycleNotificationURL != nil && *in.LifecycleNotificationURL != in.NotificationURL {
		if err := s.validateEndpoint(r.Context(), *in.LifecycleNotificationURL); err != nil {
			bad("ValidationError", err.Error())
			return
		}
	}
	sub := &subscription{Subscription: in, tenantID: c.tenant.id, userID: userID, kind: kind, folder: folder}
	sub.ID = newGUID()
	sub.ApplicationID = c.appID
	sub.CreatorID = servicePrincipalID(c.tenant.id, c.appID)
	sub.LatestSupportedTLSVersion = "v1_2"
	sub.ExpirationDateTime = in.ExpirationDateTime.UTC()
	s.mu.Lock()
	s.subs[sub.ID] = sub
	s.mu.Unlock()
	out := shape(&sub.Subscription, nil, "")
	out["@odata.context"] = s.graph.url + "/v1.0/$metadata#subscriptions/$entity"
	writeJSONBody(w, http.StatusCreated, out)
}

func validChangeTypes(ct string) bool {
	for _, t := range strings.Split(ct, ",") {
		if !slices.Contains([]string{"created", "updated", "deleted"}, strings.TrimSpace(t)) {
			return false
		}
	}
	return true
}

// webhookURL requires HTTPS, as Microsoft does, except on loopback, where the simulator runs
// next to the service it tests.
func webhookURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return false
	}
	if u.Scheme == "https" {
		return true
	}
	h := u.Hostname()
	return u.Scheme == "http" && (h == "localhost" || strings.HasPrefix(h, "127.") || h == "::1")
}

// validateEndpoint performs the validation handshake: POST {url}?validationToken={token}, and
// the endpoint must answer 200 within 10 seconds with the token, URL-decoded, as text/plain
// (concepts/change-notifications-delivery-webhooks.md, "Notification endpoint validation").
func (s *Sim) validateEndpoint(ctx context.Context, endpoint string) error {
	token := "Validation: Testing client application reachability for subscription Request-Id: " + newGUID()
	u, _ := url.Parse(endpoint)
	q := u.Query()
	q.Set("validationToken", token)
	u.RawQuery = q.Encode()
	ctx, cancel := context.WithTimeout(ctx, s.opts.ValidationTimeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), nil)
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	resp, err := s.deliver.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return errors.New("Subscription validation request timeout")
		}
		return errors.New("Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request")
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return errors.New("Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request")
	}
	if !bytes.Equal(body, []byte(token)) {
		return errors.New("Subscription validation request failed. Response must exactly match validationToken query parameter")
	}
	return nil
}

// renewSubscription is PATCH /subscriptions/{id} with a new expirationDateTime.
func (s *Sim) renewSubscription(w http.ResponseWriter, r *http.Request, c caller, id string) {
	sub, ok := s.findSubscription(w, r, c, id)
	if !ok {
		return
	}
	var in struct {
		ExpirationDateTime time.Time `json:"expirationDateTime"`
	}
	if err := decodeJSON(r, &in); err != nil || in.ExpirationDateTime.IsZero() {
		s.graphError(w, r, http.StatusBadRequest, "InvalidRequest", "expirationDateTime is required.")
		return
	}
	now := s.now()
	if !in.ExpirationDateTime.After(now) || in.ExpirationDateTime.Sub(now) > s.maxLifetime(sub.kind) {
		s.graphError(w, r, http.StatusBadRequest, "InvalidRequest", fmt.Sprintf("Subscription expiration can only be %d minutes in the future.", int(s.maxLifetime(sub.kind).Minutes())))
		return
	}
	s.mu.Lock()
	sub.ExpirationDateTime = in.ExpirationDateTime.UTC()
	out := shape(&sub.Subscription, nil, "")
	s.mu.Unlock()
	writeJSONBody(w, http.StatusOK, out)
}

// Subscriptions returns the live subscriptions, for tests.
func (s *Sim) Subscriptions() []Subscription {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Subscription
	for _, sub := range s.subs {
		if sub.ExpirationDateTime.After(s.nowLocked()) {
			out = append(out, sub.Subscription)
		}
	}
	slices.SortFunc(out, func(a, b Subscription) int { return strings.Compare(a.ID, b.ID) })
	return out
}
