package resolvers

import (
	"github.com/teamaccess/teamaccess/graph"
	"github.com/teamaccess/teamaccess/store"
)

// scopeResource names the resource of a delta scope.
func scopeResource(scope string) graph.SyncResource {
	return graph.SyncResource(store.Scope(scope).Resource())
}

// optional is nil for an empty string.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
