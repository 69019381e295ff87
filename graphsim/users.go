package graphsim

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// defaultUserProperties are what GET /users and /users/{id} return without $select
// (api-reference/v1.0/api/user-get.md: "by default, only a limited set of properties are
// returned": businessPhones, displayName, givenName, id, jobTitle, mail, mobilePhone,
// officeLocation, preferredLanguage, surname, userPrincipalName).
var defaultUserProperties = []string{"businessPhones", "displayName", "givenName", "jobTitle", "mail",
	"mobilePhone", "officeLocation", "preferredLanguage", "surname", "userPrincipalName"}

func userSelect(r *http.Request) []string {
	if sel := selectFields(r); sel != nil {
		return sel
	}
	return defaultUserProperties
}

// listUsers is GET /users (api-reference/v1.0/api/user-list.md): pages of 100 by default, up to
// 999 with $top, continued by @odata.nextLink with a $skiptoken.
func (s *Sim) listUsers(w http.ResponseWriter, r *http.Request, c caller) {
	if !s.requireRole(w, r, c, true, userRoles...) {
		return
	}
	size, _ := pageSize(r, 100, 999)
	skip, _ := strconv.Atoi(r.URL.Query().Get("$skiptoken"))
	sel := userSelect(r)
	s.mu.Lock()
	live := c.tenant.users.live()
	s.mu.Unlock()
	var value []map[string]any
	for i := skip; i < len(live) && i < skip+size; i++ {
		value = append(value, shape(live[i].value, sel, ""))
	}
	next := ""
	if skip+size < len(live) {
		q := url.Values{"$skiptoken": {strconv.Itoa(skip + size)}, "$top": {strconv.Itoa(size)}}
		if len(sel) > 0 {
			q.Set("$select", r.URL.Query().Get("$select"))
		}
		next = s.graph.url + "/v1.0/users?" + q.Encode()
	}
	s.writeCollection(w, "users", value, next, "", 0)
}

// getUser is GET /users/{id | userPrincipalName} (api-reference/v1.0/api/user-get.md).
func (s *Sim) getUser(w http.ResponseWriter, r *http.Request, c caller, id string) {
	if !s.requireRole(w, r, c, true, userRoles...) {
		return
	}
	s.mu.Lock()
	u := c.tenant.findUserLocked(id)
	s.mu.Unlock()
	if u == nil {
		s.graphError(w, r, http.StatusNotFound, "Request_ResourceNotFound", fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", id))
		return
	}
	m := shape(u, userSelect(r), "")
	m["@odata.context"] = s.graph.url + "/v1.0/$metadata#users/$entity"
	writeJSONBody(w, http.StatusOK, m)
}

// usersDelta is GET /users/delta (api-reference/v1.0/api/user-delta.md), with
// $deltatoken=latest, and removed users as @removed with reason "changed" (soft-deleted,
// restorable) or "deleted" (permanently).
func (s *Sim) usersDelta(w http.ResponseWriter, r *http.Request, c caller) {
	if !s.requireRole(w, r, c, true, userRoles...) {
		return
	}
	s.serveDelta(w, r, deltaRequest{
		coll: c.tenant.users, key: "users:" + c.tenant.id, path: "users/delta", context: "users",
		defPage: 100, maxPage: 999, directory: true, removedKind: "#microsoft.graph.user",
		fresh: func(st *deltaState) bool {
			st.Select = userSelect(r)
			return true
		},
	})
}

// mailboxSettings is GET /users/{id}/mailboxSettings (api-reference/v1.0/api/user-get-mailboxsettings.md):
// where Graph tells a shared, room or equipment mailbox from a user's (userPurpose,
// api-reference/v1.0/resources/userpurpose.md), and only to an app granted MailboxSettings.Read
// or MailboxSettings.ReadWrite, which teamaccess does not ask for.
func (s *Sim) mailboxSettings(w http.ResponseWriter, r *http.Request, c caller, u *User) {
	if !s.requireRole(w, r, c, false, "MailboxSettings.Read", "MailboxSettings.ReadWrite") {
		return
	}
	purpose := u.Purpose
	if purpose == "" {
		purpose = "user"
	}
	writeJSONBody(w, http.StatusOK, map[string]any{
		"@odata.context": s.graph.url + "/v1.0/$metadata#users('" + u.ID + "')/mailboxSettings",
		"timeZone":       "UTC", "language": map[string]any{"locale": "en-US", "displayName": "English (United States)"},
		"userPurpose": purpose,
	})
}
