package activities

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/teamaccess/teamaccess/errkind"
	"github.com/teamaccess/teamaccess/feed"
	"github.com/teamaccess/teamaccess/store"
)

// Driver lets whoever reads a feed take its events when they are ready, instead of a goroutine
// of the feed's waiting to hand each one over: the feed calls it once with pull and gets wake,
// which it calls whenever pull may have something. pull puts the next event on the feed's
// channel (which has room for one) or closes the channel at the end, and returns true; it
// returns false while there is nothing. gqlws offers one: with it an idle subscriber costs
// no goroutine at all.
type Driver = feed.Driver

// subscriber is one feed: the changes that match its filter, queued until its reader takes
// them. The hub's poller queues without ever waiting; a subscriber whose queue grows past the
// hub's buffer is cut off.
type subscriber struct {
	q     store.ActivityQuery
	kind  string // the events it takes: "" activities', or Follow's kind
	limit int
	from  string // the cursor it resumes after: live changes up to it were replayed

	mu        sync.Mutex
	queue     []*Event // matching changes not taken yet, in log order
	replaying bool     // live changes wait in held while the replay runs
	held      []*Event
	taken     string        // the cursor of the last change taken: where to resume after a cut
	ended     bool          // nothing comes after what is queued
	wake      func()        // nil until the reader is ready
	space     chan struct{} // told when the queue drains, while the replay runs (nil otherwise)

	out    chan *Event
	closed bool // out is closed; only pull touches it
}

// offer queues the changes of one poll that match the filter; false when that cut the
// subscriber off.
func (s *subscriber) offer(evs []Event) bool {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return false
	}
	added := false
	for i := range evs {
		ev := &evs[i]
		if ev.Cursor <= s.from || !s.wants(ev) {
			continue
		}
		if s.replaying {
			s.held = append(s.held, ev)
		} else {
			s.queue = append(s.queue, ev)
		}
		added = true
	}
	ok := len(s.queue)+len(s.held) <= s.limit
	if !ok {
		s.endLocked(ErrTooSlow)
	}
	wake := s.wake
	s.mu.Unlock()
	if (added || !ok) && wake != nil {
		wake()
	}
	return ok
}

// wants says whether the event is of the subscriber's kind and, an activity's, matches its
// filter (a deletion's activity may be gone: it goes to every activity subscriber).
func (s *subscriber) wants(ev *Event) bool {
	return ev.Kind == s.kind && (ev.stored.ID == "" || matches(s.q, ev.stored))
}

// endLocked ends the feed with an error event carrying the cursor to resume after; what was
// still queued is dropped, the client gets it again when it resumes.
func (s *subscriber) endLocked(err error) {
	s.queue = []*Event{{Cursor: s.taken, Err: err}}
	s.held, s.ended = nil, true
}

// stop ends the feed when its reader has gone.
func (s *subscriber) stop() {
	s.mu.Lock()
	s.queue, s.held, s.ended = nil, nil, true
	wake := s.wake
	s.mu.Unlock()
	if wake != nil {
		wake()
	}
}

// take removes the next event from the queue, or returns nil: with true while more may come,
// false at the end.
func (s *subscriber) take() (*Event, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) == 0 {
		return nil, !s.ended
	}
	ev := s.queue[0]
	s.queue[0] = nil
	s.queue = s.queue[1:]
	if len(s.queue) == 0 {
		s.queue = nil // let the array go
		select {
		case s.space <- struct{}{}:
		default:
		}
	}
	if ev.Err == nil {
		s.taken = ev.Cursor // a cut from now on resumes after it
	}
	return ev, true
}

// pull is the Driver's pull.
func (s *subscriber) pull() bool {
	ev, more := s.take()
	if ev != nil {
		select {
		case s.out <- ev: // room for one: the reader takes each before pulling again
			return true
		default: // a reader that breaks the contract must not block the one who pulls
			s.mu.Lock()
			s.queue = append([]*Event{ev}, s.queue...)
			s.mu.Unlock()
			return false // (the cut cursor may be one ahead: that reader is going anyway)
		}
	}
	if !more && !s.closed {
		s.closed = true
		close(s.out)
		return true
	}
	return false
}

// pump hands events over on out when nobody drives the feed; leave runs before out closes.
func (s *subscriber) pump(ctx context.Context, out chan<- *Event, ready <-chan struct{}, leave func()) {
	defer close(out)
	defer leave()
	for {
		ev, more := s.take()
		if ev == nil {
			if !more {
				return
			}
			select {
			case <-ready:
				continue
			case <-ctx.Done():
				return
			}
		}
		select {
		case out <- ev:
		case <-ctx.Done():
			return
		}
	}
}

// setWake makes the reader ready, and wakes it if events came first.
func (s *subscriber) setWake(wake func()) {
	s.mu.Lock()
	s.wake = wake
	pending := len(s.queue) > 0 || s.ended
	s.mu.Unlock()
	if pending {
		wake()
	}
}

// Subscribe streams the organisation's changes that match the filter. With after, it first
// replays every change since that cursor from the store, then continues live: each change
// exactly once, in log order. The channel closes when ctx ends, or after an event with Err
// when the subscriber fell too far behind. With a Driver the reader pulls events; without
// one a goroutine hands them over.
func (h *Hub) Subscribe(ctx context.Context, org string, filter *Filter, after string, drive Driver) (<-chan *Event, error) {
	q, err := filter.query()
	if err != nil {
		return nil, err
	}
	return h.subscribe(ctx, org, &subscriber{q: q}, after, drive)
}

// The kinds of change log entries Follow streams.
const (
	KindMailbox    = store.ChangeMailbox
	KindTeamAccess = store.ChangeTeamAccess
)

// Follow streams the organisation's change log entries of one kind (KindMailbox or
// KindTeamAccess) after the cursor, as Subscribe does activities' changes: partners'
// webhooks on mailboxChanged and teamAccessChanged resume from it.
func (h *Hub) Follow(ctx context.Context, org, kind, after string) (<-chan *Event, error) {
	if kind != KindMailbox && kind != KindTeamAccess {
		return nil, fmt.Errorf("activities: no change log entries of kind %q", kind)
	}
	return h.subscribe(ctx, org, &subscriber{kind: kind}, after, nil)
}

func (h *Hub) subscribe(ctx context.Context, org string, s *subscriber, after string, drive Driver) (<-chan *Event, error) {
	if err := CheckCursor(after); err != nil {
		return nil, err
	}
	s.limit, s.from, s.taken, s.replaying = h.buffer, after, after, after != ""
	if s.replaying {
		s.space = make(chan struct{}, 1) // only the replay waits for the queue to drain
	}
	regPos, err := h.register(ctx, org, s)
	if err != nil {
		return nil, err
	}
	var out chan *Event
	if drive != nil {
		out = make(chan *Event, 1)
		s.out = out
		s.setWake(drive(s.pull))
	} else {
		out = make(chan *Event)
		ready := make(chan struct{}, 1)
		s.setWake(func() {
			select {
			case ready <- struct{}{}:
			default:
			}
		})
		go s.pump(ctx, out, ready, func() { h.unregister(org, s) })
	}
	context.AfterFunc(ctx, func() {
		h.unregister(org, s)
		s.stop()
	})
	if after != "" {
		go h.replay(ctx, org, s, after, regPos)
	}
	return out, nil
}

// replay queues the changes after `after` up to upTo (where the live feed took over) from the
// store, a page at a time as the reader takes them, then the live changes held meanwhile.
func (h *Hub) replay(ctx context.Context, org string, s *subscriber, after string, upTo int64) {
	pos, _, _ := parseChangeCursor(after)
	page := min(500, s.limit)
	for pos < upTo {
		s.mu.Lock()
		ended, busy := s.ended, len(s.queue) > 0
		s.mu.Unlock()
		if ended {
			return
		}
		if busy {
			select {
			case <-s.space:
				continue
			case <-ctx.Done():
				return
			}
		}
		evs, err := h.read(ctx, org, pos, upTo, page)
		if err != nil {
			if ctx.Err() == nil {
				s.mu.Lock()
				s.endLocked(fmt.Errorf("replay the change log: %w", err))
				wake := s.wake
				s.mu.Unlock()
				wake()
			}
			return
		}
		if len(evs) == 0 {
			break
		}
		s.mu.Lock()
		for i := range evs {
			if s.wants(&evs[i]) {
				s.queue = append(s.queue, &evs[i])
			}
		}
		pos, _, _ = parseChangeCursor(evs[len(evs)-1].Cursor)
		wake := s.wake
		s.mu.Unlock()
		wake()
	}
	s.mu.Lock()
	if !s.ended {
		s.queue = append(s.queue, s.held...)
		s.held, s.replaying = nil, false
	}
	wake := s.wake
	s.mu.Unlock()
	wake()
}

// CheckCursor says whether a subscription can resume after the cursor ("" is from now on).
func CheckCursor(after string) error {
	if after == "" {
		return nil
	}
	_, at, ok := parseChangeCursor(after)
	if !ok {
		return errkind.E(errkind.ErrInvalid, "%q is not a change cursor (resume with the cursor of the last change you received)", after)
	}
	if time.Since(at) > ResumeWindow-time.Hour { // the log may have been pruned since
		return errkind.E(errkind.ErrInvalid, "the cursor is older than the %v the change log keeps; query activities afresh, then subscribe without after",
			ResumeWindow)
	}
	return nil
}
