package activities

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/teamaccess/teamaccess/store"
)

// changeCursor is a change's cursor: its number, then its time (for the resume window), in hex
// of fixed width, so cursors of an organisation sort as their changes do.
func changeCursor(c store.Change) string {
	return fmt.Sprintf("chg_%016x%08x", c.Seq, c.At.Unix())
}

// parseChangeCursor reads a change cursor's number and time.
func parseChangeCursor(c string) (int64, time.Time, bool) {
	hex, ok := strings.CutPrefix(c, "chg_")
	if !ok || len(hex) != 24 || strings.Trim(hex, "0123456789abcdef") != "" {
		return 0, time.Time{}, false
	}
	seq, err1 := strconv.ParseInt(hex[:16], 16, 64)
	secs, err2 := strconv.ParseInt(hex[16:], 16, 64)
	if err1 != nil || err2 != nil || seq < 0 {
		return 0, time.Time{}, false
	}
	return seq, time.Unix(secs, 0), true
}

// read loads up to limit changes numbered after `after` (and not after upTo) as events.
func (h *Hub) read(ctx context.Context, org string, after, upTo int64, limit int) ([]Event, error) {
	cs, err := h.st.Org(org).ChangesAfter(ctx, after, limit)
	if err != nil {
		return nil, err
	}
	for i, c := range cs {
		if c.Seq > upTo {
			cs = cs[:i]
			break
		}
	}
	return h.events(ctx, org, cs)
}

// events turns changes into events, with their activities.
func (h *Hub) events(ctx context.Context, org string, cs []store.Change) ([]Event, error) {
	if len(cs) == 0 {
		return nil, nil
	}
	// Changes carry their activity; only deletions need the tombstone, for filters.
	var ids []string
	for _, c := range cs {
		if c.Activity == nil && c.OfActivity() {
			ids = append(ids, c.ActivityID)
		}
	}
	as := map[string]store.Activity{}
	if len(ids) > 0 {
		var err error
		if as, err = h.st.Org(org).ActivitiesByID(ctx, ids); err != nil {
			return nil, err
		}
	}
	for _, c := range cs {
		if c.Activity != nil {
			as[c.ActivityID] = *c.Activity
		}
	}
	evs := make([]Event, 0, len(cs))
	for _, c := range cs {
		switch c.Type {
		case store.ChangeMark:
			continue
		case store.ChangeMailbox, store.ChangeTeamAccess:
			evs = append(evs, Event{Kind: c.Type, Cursor: changeCursor(c), Target: c.Target, Origin: c.Origin})
			continue
		}
		a, ok := as[c.ActivityID]
		ev := Event{Type: ChangeType(c.Type), Cursor: changeCursor(c), ActivityID: globalID(activityPrefix, c.ActivityID), stored: a}
		if ok && c.Type != string(Deleted) && !a.Deleted {
			ev.Activity = ToView(a)
		} else {
			ev.Type = Deleted
		}
		evs = append(evs, ev)
	}
	return evs, nil
}

// Head is the cursor of the organisation's latest change (or of none yet): a subscription
// resumed after it gets every change made from now on, even across a restart.
func (h *Hub) Head(ctx context.Context, org string) (string, error) {
	seq, err := h.st.Org(org).LastChangeSeq(ctx)
	if err != nil {
		return "", err
	}
	return changeCursor(store.Change{Seq: seq, At: time.Now()}), nil
}

// Behind counts the organisation's changes after the cursor: what a subscriber resuming from it
// has still to get.
func (h *Hub) Behind(ctx context.Context, org, after string) (int64, error) {
	seq, err := h.st.Org(org).LastChangeSeq(ctx)
	if err != nil {
		return 0, err
	}
	from, _, ok := parseChangeCursor(after)
	if !ok {
		return 0, nil
	}
	return max(seq-from, 0), nil
}
