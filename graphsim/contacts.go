package graphsim

import (
	"net/http"
)

// listContactFolders is GET /users/{id}/contactFolders (api-reference/v1.0/api/user-list-contactfolders.md).
func (s *Sim) listContactFolders(w http.ResponseWriter, r *http.Request, c caller, mb *mailbox) {
	if !s.requireRole(w, r, c, false, contactRoles...) {
		return
	}
	sel := selectFields(r)
	s.mu.Lock()
	var value []map[string]any
	for _, f := range mb.contactFolders {
		value = append(value, shape(f, sel, ""))
	}
	s.mu.Unlock()
	s.writeCollection(w, "Collection(contactFolder)", value, "", "", 0)
}

// contactsDelta is GET /users/{id}/contacts/delta and
// /users/{id}/contactFolders/{id}/contacts/delta (api-reference/v1.0/api/contact-delta.md).
func (s *Sim) contactsDelta(w http.ResponseWriter, r *http.Request, c caller, u *User, mb *mailbox, folder string) {
	if !s.requireRole(w, r, c, false, contactRoles...) {
		return
	}
	s.mu.Lock()
	coll, ok := mb.contacts[folder]
	s.mu.Unlock()
	if !ok {
		s.graphError(w, r, http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store.")
		return
	}
	s.serveDelta(w, r, deltaRequest{
		coll: coll, key: "contacts:" + c.tenant.id + ":" + u.ID + ":" + folder,
		path: "users/" + u.ID + "/contactFolders/" + folder + "/contacts/delta", context: "Collection(contact)",
		defPage: 10, maxPage: 1000, removedKind: "#microsoft.graph.contact",
	})
}

// getContact is GET /users/{id}/contacts/{id} (api-reference/v1.0/api/contact-get.md).
func (s *Sim) getContact(w http.ResponseWriter, r *http.Request, c caller, mb *mailbox, id string) {
	if !s.requireRole(w, r, c, false, contactRoles...) {
		return
	}
	s.mu.Lock()
	var v any
	fid, ok := mb.contactFolder[id]
	if ok {
		v, ok = mb.contacts[fid].get(id)
	}
	s.mu.Unlock()
	if !ok {
		s.graphError(w, r, http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store.")
		return
	}
	writeJSONBody(w, http.StatusOK, shape(v, selectFields(r), etagOf(v)))
}
