package store

import "strings"

// Scope names one delta round of a mailbox, as deltaStates, activities, contacts, Graph
// subscriptions and inbox entries record it: a synced mail folder ("mail:inbox",
// "mail:sentitems", or a folder id), the calendar view, or the contacts. Code asks a Scope what
// it is rather than comparing its text.
type Scope string

// The scopes that are not mail folders.
const (
	ScopeCalendar Scope = "calendar"
	ScopeContacts Scope = "contacts"
)

const mailPrefix = "mail:"

// MailScope is the scope of a mail folder (a well-known name or an id).
func MailScope(folder string) Scope { return Scope(mailPrefix + folder) }

// MailFolder is the folder of a mail scope; ok is false for the others.
func (s Scope) MailFolder() (folder string, ok bool) { return strings.CutPrefix(string(s), mailPrefix) }

// IsMail reports a mail folder's scope.
func (s Scope) IsMail() bool { return strings.HasPrefix(string(s), mailPrefix) }

// Resource is the API's name for the scope's group: MAIL, CALENDAR or CONTACTS.
func (s Scope) Resource() string {
	switch {
	case s.IsMail():
		return "MAIL"
	case s == ScopeCalendar:
		return "CALENDAR"
	}
	return "CONTACTS"
}
