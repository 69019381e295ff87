package resolvers

import (
	"slices"
	"strings"

	"github.com/teamaccess/teamaccess/graph"
	"github.com/teamaccess/teamaccess/mailboxes"
)

// mailboxFilter reads the API's filter.
func mailboxFilter(f *graph.MailboxFilter) mailboxes.Filter {
	if f == nil {
		return mailboxes.Filter{}
	}
	out := mailboxes.Filter{Access: f.Access, Capture: f.Capture}
	if f.Search != nil {
		out.Search = *f.Search
	}
	return out
}

// matches applies a filter to one mailbox, for subscriptions.
func matches(f mailboxes.Filter, m mailboxes.Mailbox) bool {
	if len(f.Access) > 0 && !slices.Contains(f.Access, m.Access) {
		return false
	}
	if f.Capture != nil && *f.Capture != m.Capture {
		return false
	}
	if f.Search != "" {
		s := strings.ToLower(f.Search)
		text := strings.ToLower(m.DisplayName + " " + m.UserPrincipalName)
		if m.Mail != nil {
			text += " " + strings.ToLower(*m.Mail)
		}
		return strings.Contains(text, s)
	}
	return true
}

func kindCaptures(ks []mailboxes.KindCapture) []*mailboxes.KindCapture {
	out := make([]*mailboxes.KindCapture, len(ks))
	for i := range ks {
		out[i] = &ks[i]
	}
	return out
}
