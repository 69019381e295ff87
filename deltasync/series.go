package deltasync

import (
	"context"
	"errors"
	"fmt"

	"github.com/teamaccess/teamaccess/graphdata"
	"github.com/teamaccess/teamaccess/store"
)

// Recurring meetings. calendarView/delta sends a series' occurrences (and, by default, its
// exceptions) with only their id, type, seriesMasterId, start and end (microsoft-graph-docs
// issue 7632), never its master, and gives no sign when one occurrence is deleted
// (microsoft-graph-docs pull request 4501). So:
//   - a bare occurrence takes everything but its id and times from its series master, read
//     once per series per round (GET /events/{id}); a bare exception, which has its own subject
//     or attendees, is read itself;
//   - each stored occurrence remembers the master's changeKey it was read with. A master whose
//     changeKey moved on (checked at the end of every round for the series it read, and for the
//     others at most every SeriesCheck) means the series changed: an occurrence deleted or
//     moved, the series edited. Its instances in the window are read again
//     (event-list-instances.md), written, and what is stored of the series but no longer
//     listed is tombstoned.
//   - a master that is gone (404) takes its stored occurrences with it.

// seriesRound caches the masters one round has read.
type seriesRound struct {
	masters map[string]*Event // nil: the series is gone
	keys    map[string]string // event id -> the changeKey of the master it was completed from
}

func newSeriesRound() *seriesRound {
	return &seriesRound{masters: map[string]*Event{}, keys: map[string]string{}}
}

// master reads a series master, once per round; nil when it no longer exists.
func (s *Syncer) master(ctx context.Context, tenantID, userID, id string, sr *seriesRound) (*Event, error) {
	if m, ok := sr.masters[id]; ok {
		return m, nil
	}
	m, err := s.g.Event(ctx, tenantID, userID, id)
	switch {
	case errors.Is(err, graphdata.ErrResourceNotFound):
		sr.masters[id] = nil
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("series master %s: %w", id, err)
	}
	sr.masters[id] = &m
	return &m, nil
}

// hydrate completes the bare occurrences and exceptions of a page, in place. One whose series
// or self no longer exists becomes a removal.
func (s *Syncer) hydrate(ctx context.Context, tenantID, userID string, es []Event, sr *seriesRound) error {
	for i, e := range es {
		if !e.Sparse() {
			if e.SeriesMasterID != "" && !e.Removed {
				if m, err := s.master(ctx, tenantID, userID, e.SeriesMasterID, sr); err != nil {
					return err
				} else if m != nil {
					sr.keys[e.ID] = m.ChangeKey
				}
			}
			continue
		}
		m, err := s.master(ctx, tenantID, userID, e.SeriesMasterID, sr)
		if err != nil {
			return err
		}
		if m == nil {
			es[i] = Event{ID: e.ID, Removed: true}
			continue
		}
		if e.Type == "exception" {
			full, err := s.g.Event(ctx, tenantID, userID, e.ID)
			switch {
			case errors.Is(err, graphdata.ErrResourceNotFound):
				es[i] = Event{ID: e.ID, Removed: true}
				continue
			case err != nil:
				return fmt.Errorf("exception %s: %w", e.ID, err)
			}
			full.SeriesMasterID, full.Type = e.SeriesMasterID, e.Type
			es[i], sr.keys[e.ID] = full, m.ChangeKey
			continue
		}
		es[i], sr.keys[e.ID] = fromMaster(*m, e), m.ChangeKey
	}
	return nil
}

// fromMaster is an occurrence: its master with the occurrence's own id, type and times.
func fromMaster(m, o Event) Event {
	n := m
	n.ID, n.Type, n.SeriesMasterID, n.ChangeKey = o.ID, o.Type, o.SeriesMasterID, o.ChangeKey
	n.Start, n.End, n.StartTimeZone, n.EndTimeZone, n.StartDate, n.EndDate = o.Start, o.End, o.StartTimeZone, o.EndTimeZone, o.StartDate, o.EndDate
	return n
}

// checkSeries reads again the series whose master changed since their occurrences were stored,
// at the end of a calendar round.
func (s *Syncer) checkSeries(ctx context.Context, org store.OrgScope, tenantID, userID string, st *store.DeltaState, sr *seriesRound) error {
	// An idle round (it read no master) of a mailbox checked within SeriesCheck has nothing to
	// check: no store query for it, which is most rounds of most mailboxes.
	mailboxKey := org.ID() + "|" + userID + "|"
	now := s.now()
	s.mu.Lock()
	last, checked := s.seriesChecked[mailboxKey]
	s.mu.Unlock()
	if len(sr.masters) == 0 && checked && now.Sub(last) < s.o.SeriesCheck {
		return nil
	}
	s.mu.Lock()
	s.seriesChecked[mailboxKey] = now
	s.mu.Unlock()
	items, err := org.SeriesItems(ctx, userID)
	if err != nil {
		return err
	}
	stored := map[string][]store.SeriesItem{}
	for _, it := range items {
		stored[it.SeriesID] = append(stored[it.SeriesID], it)
	}
	for id, its := range stored {
		key := org.ID() + "|" + userID + "|" + id
		_, read := sr.masters[id]
		s.mu.Lock()
		last, checked := s.seriesChecked[key]
		s.mu.Unlock()
		if !read && checked && now.Sub(last) < s.o.SeriesCheck {
			continue
		}
		m, err := s.master(ctx, tenantID, userID, id, sr)
		if err != nil {
			return err
		}
		s.mu.Lock()
		s.seriesChecked[key] = now
		s.mu.Unlock()
		if m == nil { // the whole series went
			gone := make([]Event, len(its))
			for i, it := range its {
				gone[i] = Event{ID: it.GraphID, Removed: true}
			}
			if err := s.writeEvents(ctx, org, userID, st, gone, sr); err != nil {
				return err
			}
			continue
		}
		changed := false
		for _, it := range its {
			changed = changed || it.ChangeKey != m.ChangeKey
		}
		if !changed {
			continue
		}
		inst, err := s.g.Instances(ctx, tenantID, userID, id, st.WindowFrom, st.WindowTo)
		if errors.Is(err, graphdata.ErrResourceNotFound) {
			continue // gone meanwhile: the next check takes it
		}
		if err != nil {
			return fmt.Errorf("series %s instances: %w", id, err)
		}
		if err := s.hydrate(ctx, tenantID, userID, inst, sr); err != nil {
			return err
		}
		listed := map[string]bool{}
		for i := range inst {
			listed[inst[i].ID] = true
			sr.keys[inst[i].ID] = m.ChangeKey
		}
		for _, it := range its {
			if !listed[it.GraphID] { // deleted, or moved out of the window
				inst = append(inst, Event{ID: it.GraphID, Removed: true})
			}
		}
		if err := s.writeEvents(ctx, org, userID, st, inst, sr); err != nil {
			return err
		}
	}
	return nil
}
