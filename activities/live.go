package activities

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/teamaccess/teamaccess/store"
)

// Event is a change delivered to a subscriber: what happened, the cursor to resume after it,
// and the activity (nil when deleted). Err, on the last event of a feed, says why it ended.
type Event struct {
	Type       ChangeType
	Cursor     string
	ActivityID string
	Activity   View
	Err        error

	stored store.Activity
}

// Hub fans the store's change log out to this process's subscribers. One poller reads the log
// of each organisation with subscribers, by cursor; every process on the store runs its own, so
// each delivers every change to its own subscribers.
type Hub struct {
	st       *store.Store
	interval time.Duration
	buffer   int

	poke chan struct{}

	mu   sync.Mutex
	orgs map[string]*orgFeed
}

type orgFeed struct {
	pos  string // the last change delivered to the subscribers
	subs map[*subscriber]struct{}
}

type subscriber struct {
	ch  chan []Event  // one batch of the log per poll
	cut chan struct{} // closed when the subscriber fell too far behind
}

// HubOptions tune a hub.
type HubOptions struct {
	// Interval is how often the change log is polled (250 ms if zero).
	Interval time.Duration
	// Buffer is how many polls' worth of changes a subscriber may fall behind before its feed
	// ends (64 if zero).
	Buffer int
}

// NewHub returns a hub; Run polls.
func NewHub(st *store.Store, o HubOptions) *Hub {
	if o.Interval <= 0 {
		o.Interval = 250 * time.Millisecond
	}
	if o.Buffer <= 0 {
		o.Buffer = 64
	}
	return &Hub{st: st, interval: o.Interval, buffer: o.Buffer, poke: make(chan struct{}, 1), orgs: map[string]*orgFeed{}}
}

// Run polls the change log until ctx ends.
func (h *Hub) Run(ctx context.Context) {
	t := time.NewTicker(h.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			h.Poll(ctx)
		case <-h.poke:
			h.Poll(ctx)
		}
	}
}

// Poke asks for a poll now: this process just wrote changes, so its subscribers need not wait
// for the next tick.
func (h *Hub) Poke() {
	select {
	case h.poke <- struct{}{}:
	default:
	}
}

// Poll reads every new change of the organisations with subscribers and delivers it.
func (h *Hub) Poll(ctx context.Context) {
	h.mu.Lock()
	orgs := make(map[string]string, len(h.orgs))
	for id, f := range h.orgs {
		orgs[id] = f.pos
	}
	h.mu.Unlock()
	for org, pos := range orgs {
		for {
			evs, err := h.read(ctx, org, pos, "", 500)
			if err != nil {
				if ctx.Err() == nil {
					slog.Warn("read the change log", "org", org, "err", err)
				}
				break
			}
			if len(evs) == 0 {
				break
			}
			pos = evs[len(evs)-1].Cursor
			h.deliver(org, evs)
			if len(evs) < 500 {
				break
			}
		}
	}
}

// read loads up to limit changes after a cursor (and not after upTo, when given) with their
// activities.
func (h *Hub) read(ctx context.Context, org, after, upTo string, limit int) ([]Event, error) {
	o := h.st.Org(org)
	cs, err := o.ChangesAfter(ctx, after, limit)
	if err != nil {
		return nil, err
	}
	if upTo != "" {
		for i, c := range cs {
			if c.ID > upTo {
				cs = cs[:i]
				break
			}
		}
	}
	if len(cs) == 0 {
		return nil, nil
	}
	// Changes carry their activity; only deletions need the tombstone, for filters.
	var ids []string
	for _, c := range cs {
		if c.Activity == nil {
			ids = append(ids, c.ActivityID)
		}
	}
	as := map[string]store.Activity{}
	if len(ids) > 0 {
		if as, err = o.ActivitiesByID(ctx, ids); err != nil {
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
		a, ok := as[c.ActivityID]
		ev := Event{Type: ChangeType(c.Type), Cursor: c.ID, ActivityID: globalID(activityPrefix, c.ActivityID), stored: a}
		if ok && c.Type != string(Deleted) && !a.Deleted {
			ev.Activity = ToView(a)
		} else {
			ev.Type = Deleted
		}
		evs = append(evs, ev)
	}
	return evs, nil
}

// deliver hands events to the organisation's subscribers without ever waiting: a subscriber
// whose buffer is full is cut off.
func (h *Hub) deliver(org string, evs []Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	f := h.orgs[org]
	if f == nil {
		return
	}
	for len(evs) > 0 && evs[0].Cursor <= f.pos {
		evs = evs[1:]
	}
	if len(evs) == 0 {
		return
	}
	f.pos = evs[len(evs)-1].Cursor
	for s := range f.subs {
		select {
		case s.ch <- evs:
		default:
			close(s.cut)
			delete(f.subs, s)
		}
	}
}

// Subscribers counts this process's live subscribers.
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, f := range h.orgs {
		n += len(f.subs)
	}
	return n
}

func (h *Hub) register(ctx context.Context, org string) (*subscriber, string, error) {
	h.mu.Lock()
	f := h.orgs[org]
	h.mu.Unlock()
	if f == nil {
		// The first subscriber of the organisation: live from the end of its log.
		last, err := h.st.Org(org).LastChangeID(ctx)
		if err != nil {
			return nil, "", err
		}
		h.mu.Lock()
		if f = h.orgs[org]; f == nil {
			f = &orgFeed{pos: last, subs: map[*subscriber]struct{}{}}
			h.orgs[org] = f
		}
		h.mu.Unlock()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.orgs[org] != f { // dropped meanwhile by the last subscriber leaving
		f = &orgFeed{pos: f.pos, subs: map[*subscriber]struct{}{}}
		h.orgs[org] = f
	}
	s := &subscriber{ch: make(chan []Event, h.buffer), cut: make(chan struct{})}
	f.subs[s] = struct{}{}
	return s, f.pos, nil
}

func (h *Hub) unregister(org string, s *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	f := h.orgs[org]
	if f == nil {
		return
	}
	if _, ok := f.subs[s]; ok {
		delete(f.subs, s)
	}
	if len(f.subs) == 0 {
		delete(h.orgs, org)
	}
}

// ResumeWindow is how long the change log keeps changes: a subscriber can resume from a cursor
// up to this old.
const ResumeWindow = 7 * 24 * time.Hour

// changeCursorTime checks a change cursor ("chg_" and an ObjectID in hex) and reads when it
// was made.
func changeCursorTime(c string) (time.Time, bool) {
	hex, ok := strings.CutPrefix(c, "chg_")
	if !ok || len(hex) != 24 {
		return time.Time{}, false
	}
	for _, r := range hex {
		if !strings.ContainsRune("0123456789abcdef", r) {
			return time.Time{}, false
		}
	}
	secs, err := strconv.ParseInt(hex[:8], 16, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(secs, 0), true
}

// Prune drops changes older than the resume window from the log, and the tombstones of items
// deleted before it.
func (h *Hub) Prune(ctx context.Context) error {
	before := time.Now().Add(-ResumeWindow)
	if _, err := h.st.PruneChanges(ctx, before); err != nil {
		return err
	}
	_, err := h.st.PruneTombstones(ctx, before)
	return err
}

// Subscribe streams the organisation's changes that match the filter. With after, it first
// replays every change since that cursor from the store, then continues live: each change
// exactly once, in log order. The channel closes when ctx ends, or after an event with Err
// when the subscriber fell too far behind.
func (h *Hub) Subscribe(ctx context.Context, org string, filter *Filter, after string) (<-chan *Event, error) {
	q, err := filter.query()
	if err != nil {
		return nil, err
	}
	if after != "" {
		at, ok := changeCursorTime(after)
		if !ok {
			return nil, fmt.Errorf("%w: %q is not a change cursor (resume with the cursor of the last change you received)", ErrInvalid, after)
		}
		if time.Since(at) > ResumeWindow-time.Hour { // the log may have been pruned since
			return nil, fmt.Errorf("%w: the cursor is older than the %v the change log keeps; query activities afresh, then subscribe without after",
				ErrInvalid, ResumeWindow)
		}
	}
	s, regPos, err := h.register(ctx, org)
	if err != nil {
		return nil, err
	}
	out := make(chan *Event)
	go func() {
		defer close(out)
		defer h.unregister(org, s)
		last := after
		tooSlow := func() {
			// What is still buffered is dropped: the client resumes after the last change it
			// was sent.
			select {
			case out <- &Event{Cursor: last, Err: ErrTooSlow}:
			case <-ctx.Done():
			}
		}
		send := func(ev Event) bool {
			if ev.Cursor <= last {
				return true
			}
			if ev.stored.ID != "" && !matches(q, ev.stored) {
				last = ev.Cursor
				return true
			}
			select {
			case <-s.cut:
				tooSlow()
				return false
			default:
			}
			select {
			case out <- &ev:
				last = ev.Cursor
				return true
			case <-s.cut:
				tooSlow()
				return false
			case <-ctx.Done():
				return false
			}
		}
		// Replay (after, regPos] from the store; the hub delivers what follows regPos.
		for after != "" && last < regPos {
			evs, err := h.read(ctx, org, last, regPos, 500)
			if err != nil || len(evs) == 0 {
				if err != nil && ctx.Err() == nil {
					select {
					case out <- &Event{Cursor: last, Err: fmt.Errorf("replay the change log: %w", err)}:
					case <-ctx.Done():
					}
					return
				}
				break
			}
			for _, ev := range evs {
				if !send(ev) {
					return
				}
			}
		}
		for {
			select {
			case <-ctx.Done():
				return
			case <-s.cut:
				tooSlow()
				return
			case evs := <-s.ch:
				for _, ev := range evs {
					if !send(ev) {
						return
					}
				}
			}
		}
	}()
	return out, nil
}
