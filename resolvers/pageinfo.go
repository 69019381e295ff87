package resolvers

import "github.com/teamaccess/teamaccess/graph"

// pageInfo is a Relay connection's PageInfo for a page with these cursors.
func pageInfo(cursors []string, hasNext, hasPrevious bool) *graph.PageInfo {
	pi := &graph.PageInfo{HasNextPage: hasNext, HasPreviousPage: hasPrevious}
	if len(cursors) > 0 {
		pi.StartCursor, pi.EndCursor = &cursors[0], &cursors[len(cursors)-1]
	}
	return pi
}
