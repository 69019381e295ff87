package graphsim

import (
	"net/http"
	"time"
)

// deltaRequest serves one page of a delta round for a collection. path is the function's path
// under /v1.0 (where nextLink and deltaLink point), kind labels @removed entries, keep filters
// items, and fresh builds the state of a new round from the request's parameters.
type deltaRequest struct {
	coll        *collection
	key, path   string
	context     string
	defPage     int
	maxPage     int
	directory   bool // users: directory tokens expire with 400 syncStateNotFound, Outlook ones with 410
	keep        func(st deltaState) func(any) bool
	fresh       func(st *deltaState) bool // fills window/filter from the query; false on bad input
	removedKind string
	// leftAsRemoved: in a round after the first, an item it holds for that changed so that keep
	// no longer holds is announced as @removed (the calendar view's delta, for an event moved
	// out of the window; never for a series master, which it never shows).
	leftAsRemoved func(v any) bool
	// sparse reports the items the function shows only in part (sparseProperties).
	sparse func(v any) bool
	// extended answers an item's single-value extended property of the id, for $expand.
	extended func(v any, id string) (string, bool)
	// received orders a first round (messages: firstRoundKey); cap, if positive, is how many
	// items a first round with a filter returns at most (FilteredDeltaCap).
	received func(v any) time.Time
	cap      int
}

// serveDelta implements the delta round trip (concepts/delta-query-overview.md): a request
// without a token starts a round over the current state; $skiptoken continues it; $deltatoken
// starts the next round from where the last ended. Tokens of an older generation (after a
// reset) fail as documented under "Synchronization reset" and "Token duration".
func (s *Sim) serveDelta(w http.ResponseWriter, r *http.Request, d deltaRequest) {
	q := r.URL.Query()
	size, applied := pageSize(r, d.defPage, d.maxPage)
	appliedSize := 0
	if applied {
		appliedSize = size
	}
	s.mu.Lock()
	var st deltaState
	switch {
	case q.Get("$skiptoken") != "" || q.Get("$deltatoken") != "" && q.Get("$deltatoken") != "latest":
		tok := q.Get("$skiptoken")
		if tok == "" {
			tok = q.Get("$deltatoken")
		}
		var ok bool
		st, ok = decodeState(tok)
		if !ok || st.Coll != d.key {
			s.mu.Unlock()
			s.graphError(w, r, http.StatusBadRequest, "BadRequest", "The provided delta token is invalid.")
			return
		}
		if st.Gen != d.coll.gen {
			s.mu.Unlock()
			s.deltaReset(w, r, d)
			return
		}
		if applied {
			st.Page = size
		}
		if st.Upto == 0 { // a deltaLink: the next round covers what changed since
			st.Upto = d.coll.seq
		}
	default:
		st = deltaState{Coll: d.key, Gen: d.coll.gen, Upto: d.coll.seq, Select: selectFields(r), Page: size}
		if d.fresh != nil && !d.fresh(&st) {
			s.mu.Unlock()
			s.graphError(w, r, http.StatusBadRequest, "ErrorInvalidUrlQuery", "The query parameters are invalid for this delta function.")
			return
		}
		if q.Get("$deltatoken") == "latest" {
			// "Sync from now": no resources, just a deltaLink (concepts/delta-query-overview.md).
			st.Since, st.Upto = d.coll.seq, 0
			s.mu.Unlock()
			s.writeCollection(w, d.context, nil, "", s.link(d.path, "$deltatoken", st.encode()), appliedSize)
			return
		}
	}
	var keep func(any) bool
	if d.keep != nil {
		keep = d.keep(st)
	}
	page, next, more := d.coll.round(st, keep, d.leftAsRemoved, d.received)
	if st.Since == 0 && st.Filter != "" && d.cap > 0 && st.Served+len(page) >= d.cap {
		// The cap: its deltaLink comes as if the round were done, and what was left out never
		// comes (the next round brings changes only).
		page, next, more = page[:d.cap-st.Served], st.ended(), false
	}
	value := make([]map[string]any, 0, len(page))
	for _, e := range page {
		if e.removed != "" {
			value = append(value, map[string]any{"@odata.type": d.removedKind, "id": e.id, "@removed": map[string]any{"reason": e.removed}})
			continue
		}
		if d.sparse != nil && d.sparse(e.value) {
			value = append(value, sparseProperties(e.properties(), etagOf(e.value)))
			continue
		}
		props := selectProperties(e.properties(), st.Select, etagOf(e.value))
		if st.Expand != "" && d.extended != nil {
			ext := []map[string]any{}
			if v, ok := d.extended(e.value, st.Expand); ok {
				ext = append(ext, map[string]any{"id": st.Expand, "value": v})
			}
			props["singleValueExtendedProperties"] = ext
		}
		value = append(value, props)
	}
	s.mu.Unlock()
	if more {
		s.writeCollection(w, d.context, value, s.link(d.path, "$skiptoken", next.encode()), "", appliedSize)
		return
	}
	s.writeCollection(w, d.context, value, "", s.link(d.path, "$deltatoken", next.encode()), appliedSize)
}

// deltaReset answers a token that no longer works. Directory objects answer 400
// syncStateNotFound ("The delta token is expired and data must be synchronized again", the
// Microsoft 365 Developer Blog, "Duration of change tracking tokens", 2020-07-03); Outlook items
// answer 410 Gone with a Location header holding a request URL with an empty token
// (concepts/delta-query-overview.md, "Synchronization reset").
func (s *Sim) deltaReset(w http.ResponseWriter, r *http.Request, d deltaRequest) {
	if d.directory {
		s.graphError(w, r, http.StatusBadRequest, "syncStateNotFound", "The sync state generation is not found. The delta token is expired and data must be synchronized again.")
		return
	}
	w.Header().Set("Location", s.link(d.path, "$deltatoken", ""))
	s.graphError(w, r, http.StatusGone, "SyncStateNotFound", "The sync state is not found; the delta token is expired. Synchronize again without a token.")
}
