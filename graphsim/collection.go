package graphsim

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"strings"
	"time"
)

// collection is a set of items that a delta function tracks: the messages of a mail folder,
// the events of a calendar, the contacts of a contact folder, the users of a tenant. Every
// change takes the next sequence number, so a delta round is "everything changed after the
// sequence number the previous round ended at" (concepts/delta-query-overview.md).
type collection struct {
	seq   uint64
	gen   uint64 // raised by a reset: older tokens no longer work
	items map[string]*entry
}

// entry is one item's latest state.
type entry struct {
	id      string
	seq     uint64
	removed string         // "" while the item exists; else the @removed reason ("deleted" or "changed")
	value   any            // *User, *Message, *Event or *Contact
	doc     map[string]any // value's JSON properties, made on first use; entries never change
}

// properties returns the item's JSON properties, rendering them once.
func (e *entry) properties() map[string]any {
	if e.doc == nil {
		e.doc = toProperties(e.value)
	}
	return e.doc
}

func newCollection() *collection { return &collection{items: map[string]*entry{}} }

// put adds or replaces an item.
func (c *collection) put(id string, v any) {
	c.seq++
	c.items[id] = &entry{id: id, seq: c.seq, value: v}
}

// remove marks an item removed; later delta rounds report it with @removed.
func (c *collection) remove(id, reason string) bool {
	e, ok := c.items[id]
	if !ok || e.removed != "" {
		return false
	}
	c.seq++
	e.seq, e.removed = c.seq, reason
	return true
}

// get returns a live item.
func (c *collection) get(id string) (any, bool) {
	e, ok := c.items[id]
	if !ok || e.removed != "" {
		return nil, false
	}
	return e.value, true
}

// live returns the live items in change order.
func (c *collection) live() []*entry {
	var out []*entry
	for _, e := range c.items {
		if e.removed == "" {
			out = append(out, e)
		}
	}
	sortEntries(out)
	return out
}

func sortEntries(es []*entry) {
	slices.SortFunc(es, func(a, b *entry) int {
		if a.seq != b.seq {
			if a.seq < b.seq {
				return -1
			}
			return 1
		}
		return strings.Compare(a.id, b.id)
	})
}

// deltaState is what a nextLink's $skiptoken or a deltaLink's $deltatoken carries. Clients treat
// both as opaque (concepts/delta-query-overview.md: "the state token"), so it is plain JSON.
type deltaState struct {
	Coll   string   `json:"c"`
	Gen    uint64   `json:"g"`
	Since  uint64   `json:"s"`           // changes after this sequence number
	Upto   uint64   `json:"u,omitempty"` // the round's last sequence number, while paging
	After  uint64   `json:"a,omitempty"` // the last returned item's sequence number …
	AfterI string   `json:"i,omitempty"` // … and id
	Select []string `json:"sel,omitempty"`
	Page   int      `json:"n,omitempty"`
	Start  string   `json:"st,omitempty"` // calendarView window
	End    string   `json:"en,omitempty"`
	Filter string   `json:"f,omitempty"` // messages: receivedDateTime lower bound
	Expand string   `json:"x,omitempty"` // messages: the extended property expanded (its id)
	// A first round in an order of its own (messages: $orderby=receivedDateTime desc, or none,
	// which "is not guaranteed"): Desc, the last returned item's key, and how many were served.
	Desc   bool   `json:"d,omitempty"`
	AfterK string `json:"k,omitempty"`
	Served int    `json:"v,omitempty"`
}

// ended is the state after the round's last page: its deltaLink's.
func (s deltaState) ended() deltaState {
	return deltaState{Coll: s.Coll, Gen: s.Gen, Since: s.Upto, Select: s.Select, Page: s.Page, Start: s.Start, End: s.End, Filter: s.Filter}
}

// firstRoundKey orders a first round's items by received (newest first, with desc) or, without
// an $orderby, by nothing a client can rely on: a hash of the id ("If you do not include an
// $orderby expression, the return order is not guaranteed", concepts/delta-query-messages.md).
func firstRoundKey(e *entry, desc bool, received func(any) time.Time) string {
	if desc {
		return fmt.Sprintf("%019d|%s", math.MaxInt64-received(e.value).UnixNano(), e.id)
	}
	h := fnv.New64a()
	h.Write([]byte(e.id))
	return fmt.Sprintf("%016x|%s", h.Sum64(), e.id)
}

func (s deltaState) encode() string {
	b, _ := json.Marshal(s)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeState(tok string) (deltaState, bool) {
	var s deltaState
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || json.Unmarshal(b, &s) != nil || s.Coll == "" {
		return deltaState{}, false
	}
	return s, true
}

// round returns the next page of a delta round: items changed after st.Since and at most at
// st.Upto, in change order, after the last one returned. A first round (Since 0) leaves out
// removed items, as Microsoft Graph does: "resources deleted before the initial delta query
// aren't returned" (concepts/delta-query-overview.md). keep filters items (calendar windows,
// receivedDateTime filters); removed entries are always kept in later rounds.
// received, when set, gives a first round its own order (firstRoundKey).
func (c *collection) round(st deltaState, keep func(any) bool, leftAsRemoved func(any) bool, received func(any) time.Time) (page []*entry, next deltaState, more bool) {
	ordered := st.Since == 0 && received != nil
	var all []*entry
	keys := map[*entry]string{}
	for _, e := range c.items {
		if e.seq <= st.Since || e.seq > st.Upto {
			continue
		}
		if ordered {
			if e.removed == "" {
				keys[e] = firstRoundKey(e, st.Desc, received)
			}
			if keys[e] <= st.AfterK {
				continue
			}
		} else if e.seq < st.After || (e.seq == st.After && e.id <= st.AfterI) {
			continue
		}
		if e.removed != "" {
			if st.Since == 0 {
				continue
			}
		} else if keep != nil && !keep(e.value) {
			if st.Since == 0 || leftAsRemoved == nil || !leftAsRemoved(e.value) {
				continue
			}
			// Changed so that it left the round's scope (an event moved out of the calendar
			// view's window): announced as removed, as for a deletion.
			all = append(all, &entry{id: e.id, seq: e.seq, removed: "deleted"})
			continue
		}
		all = append(all, e)
	}
	if ordered {
		slices.SortFunc(all, func(a, b *entry) int { return strings.Compare(keys[a], keys[b]) })
	} else {
		sortEntries(all)
	}
	n := st.Page
	if len(all) > n {
		page, more = all[:n], true
	} else {
		page = all
	}
	next = st
	if more {
		last := page[len(page)-1]
		next.After, next.AfterI, next.AfterK = last.seq, last.id, keys[last]
		next.Served += len(page)
	} else {
		next = st.ended()
	}
	return page, next, more
}
