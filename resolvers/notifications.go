package resolvers

import (
	"strings"

	"github.com/teamaccess/teamaccess/graph"
)

// scopeResource names the resource of a delta scope.
func scopeResource(scope string) graph.SyncResource {
	switch {
	case strings.HasPrefix(scope, "mail:"):
		return graph.SyncResourceMail
	case scope == "calendar":
		return graph.SyncResourceCalendar
	}
	return graph.SyncResourceContacts
}

// optional is nil for an empty string.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
