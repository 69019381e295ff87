package graphsim

import "net/http"

// requireRole answers 403 when the token lacks every one of the roles. Exchange and the
// directory word it differently (concepts/errors.md; api-reference/v1.0/api/user-list.md
// "Permissions").
func (s *Sim) requireRole(w http.ResponseWriter, r *http.Request, c caller, directory bool, roles ...string) bool {
	if c.has(roles...) {
		return true
	}
	if directory {
		s.graphError(w, r, http.StatusForbidden, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
	} else {
		s.graphError(w, r, http.StatusForbidden, "ErrorAccessDenied", accessDenied)
	}
	return false
}

var (
	mailRoles     = []string{"Mail.Read", "Mail.ReadWrite", "Mail.ReadBasic.All", "Mail.ReadBasic"}
	calendarRoles = []string{"Calendars.Read", "Calendars.ReadWrite", "Calendars.ReadBasic.All"}
	contactRoles  = []string{"Contacts.Read", "Contacts.ReadWrite"}
	userRoles     = []string{"User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All", "User.ReadBasic.All"}
)
