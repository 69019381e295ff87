package activities

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/teamaccess/teamaccess/store"
)

// Event is a change delivered to a subscriber: what happened, the cursor to resume after it,
// and the activity (nil when deleted). Err, on the last event of a feed, says why it ended.
// Kind is "" for an activity's change; a feed that Follow opens has store.ChangeMailbox or
// store.ChangeTeamAccess events, with Target (the mailbox's id) and no activity.
type Event struct {
	Type       ChangeType
	Cursor     string
	ActivityID string
	Activity   View
	Err        error
	Kind       string
	Target     string
	Origin     string // a Follow event's writer (store.Change's Origin)

	stored store.Activity
}

// MailboxID is the mailbox of the event's activity ("" when the activity of a deletion is gone,
// or for a Follow event: its Target).
func (e *Event) MailboxID() string { return e.stored.MailboxID }

// Hub fans the store's change log out to this process's subscribers. One poller reads the log
// of each organisation with subscribers, by cursor; every process on the store runs its own, so
// each delivers every change to its own subscribers.
type Hub struct {
	st       *store.Store
	interval time.Duration
	buffer   int
	gapWait  time.Duration

	log      *slog.Logger
	poke     chan struct{}
	watching atomic.Bool // a change stream tells of every write: poll seldom

	mu   sync.Mutex
	orgs map[string]*orgFeed
}

type orgFeed struct {
	pos  int64 // the number of the last change delivered to the subscribers
	subs map[*subscriber]struct{}
	// gapSince is when the poller first found pos+1 missing while later changes were there.
	gapSince time.Time
	gapAt    int64
}

// HubOptions tune a hub.
type HubOptions struct {
	// Interval is how often the change log is polled (250 ms if zero).
	Interval time.Duration
	// Buffer is how many changes may wait for a subscriber that does not take them before its
	// feed ends (4,096 if zero).
	Buffer int
	// GapWait is how long the poller waits for a change number it found missing (taken by a
	// writer that has not committed yet) before it reads past it: 5 s if zero. Only a writer
	// that died between numbering and writing leaves a number for good.
	GapWait time.Duration
	// Log is where the hub reports; slog.Default() if nil.
	Log *slog.Logger
}

// NewHub returns a hub; Run polls.
func NewHub(st *store.Store, o HubOptions) *Hub {
	if o.Interval <= 0 {
		o.Interval = 250 * time.Millisecond
	}
	if o.Buffer <= 0 {
		o.Buffer = 4096
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.GapWait <= 0 {
		o.GapWait = 5 * time.Second
	}
	return &Hub{st: st, log: o.Log, interval: o.Interval, buffer: o.Buffer, gapWait: o.GapWait, poke: make(chan struct{}, 1), orgs: map[string]*orgFeed{}}
}

// watchedInterval is how often the change log is polled while a change stream announces
// writes: a safety net, since the stream only ever brings a poll forward.
const watchedInterval = 5 * time.Second

// Run polls the change log until ctx ends. Where the database has change streams (MongoDB
// replica sets), every write any process makes starts a poll at once; elsewhere (FerretDB) the
// log is polled every Interval.
func (h *Hub) Run(ctx context.Context) {
	go h.watch(ctx)
	t := time.NewTimer(h.interval)
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
		if h.watching.Load() {
			t.Reset(watchedInterval)
		} else {
			t.Reset(h.interval)
		}
	}
}

// watch follows the database's change stream while it has one, reopening it after a failure.
func (h *Hub) watch(ctx context.Context) {
	wait := time.Second
	for {
		err := h.st.WatchChanges(ctx, func() {
			h.watching.Store(true)
			wait = time.Second
			h.log.Info("following the change log with a change stream")
		}, func(org string) {
			h.mu.Lock()
			_, ours := h.orgs[org]
			h.mu.Unlock()
			if ours {
				h.Poke()
			}
		})
		h.watching.Store(false)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, store.ErrNoChangeStreams) {
			h.log.Info("the database has no change streams; polling the change log", "every", h.interval.String())
			return
		}
		h.log.Warn("the change stream failed; polling the change log until it is back", "err", err, "retry_in", wait.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Minute)
	}
}

// Watching reports whether a change stream is announcing writes.
func (h *Hub) Watching() bool { return h.watching.Load() }

// Poke asks for a poll now: this process just wrote changes, so its subscribers need not wait
// for the next tick.
func (h *Hub) Poke() {
	select {
	case h.poke <- struct{}{}:
	default:
	}
}

// Poll reads every new change of the organisations with subscribers and delivers it, in
// number order and without a gap: a missing number (its writer has not committed yet) holds
// the later changes back until it appears, or for GapWait at most.
func (h *Hub) Poll(ctx context.Context) {
	h.mu.Lock()
	orgs := make(map[string]int64, len(h.orgs))
	for id, f := range h.orgs {
		orgs[id] = f.pos
	}
	h.mu.Unlock()
	for org, pos := range orgs {
		if err := h.pollOrg(ctx, org, pos); err != nil && ctx.Err() == nil {
			h.log.Warn("read the change log", "org", org, "err", err)
		}
	}
}

func (h *Hub) pollOrg(ctx context.Context, org string, pos int64) error {
	const page = 500
	for {
		cs, err := h.st.Org(org).ChangesAfter(ctx, pos, page)
		if err != nil || len(cs) == 0 {
			return err
		}
		n := 0
		for n < len(cs) && cs[n].Seq == pos+int64(n)+1 {
			n++
		}
		if n == 0 {
			if !h.gapLapsed(org, pos+1) {
				return nil // wait for it
			}
			h.log.Warn("change numbers never written (their writer stopped); reading past them", "org", org, "from", pos+1, "to", cs[0].Seq-1)
			pos = cs[0].Seq - 1
			continue
		}
		evs, err := h.events(ctx, org, cs[:n])
		if err != nil {
			return err
		}
		pos += int64(n)
		h.deliver(org, evs, pos)
		if n < len(cs) || len(cs) < page {
			return nil
		}
	}
}

// gapLapsed reports whether change number seq has been missing for longer than GapWait.
func (h *Hub) gapLapsed(org string, seq int64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	f := h.orgs[org]
	if f == nil {
		return false
	}
	if f.gapAt != seq {
		f.gapAt, f.gapSince = seq, time.Now()
	}
	return time.Since(f.gapSince) >= h.gapWait
}

// deliver hands events to the organisation's subscribers without ever waiting (a subscriber
// whose buffer is full is cut off), and moves the organisation's position to pos.
func (h *Hub) deliver(org string, evs []Event, pos int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	f := h.orgs[org]
	if f == nil || pos <= f.pos {
		return
	}
	skip := changeCursor(store.Change{Seq: f.pos + 1})[:20] // "chg_" and the number
	for len(evs) > 0 && evs[0].Cursor[:20] < skip {
		evs = evs[1:]
	}
	f.pos = pos
	if len(evs) == 0 {
		return
	}
	for s := range f.subs {
		if !s.offer(evs) {
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

// register adds s to the organisation's subscribers and returns the number of the last change
// before it: the hub delivers it every change after that.
func (h *Hub) register(ctx context.Context, org string, s *subscriber) (int64, error) {
	h.mu.Lock()
	f := h.orgs[org]
	h.mu.Unlock()
	if f == nil {
		// The first subscriber of the organisation: live from the end of its log.
		last, err := h.st.Org(org).LastChangeSeq(ctx)
		if err != nil {
			return 0, err
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
	if s.taken == "" { // a cut before it takes anything resumes from here
		s.taken = changeCursor(store.Change{Seq: f.pos, At: time.Now()})
	}
	f.subs[s] = struct{}{}
	return f.pos, nil
}

func (h *Hub) unregister(org string, s *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	f := h.orgs[org]
	if f == nil {
		return
	}
	delete(f.subs, s)
	if len(f.subs) == 0 {
		delete(h.orgs, org)
	}
}

// ResumeWindow is how long the change log keeps changes: a subscriber can resume from a cursor
// up to this old.
const ResumeWindow = 7 * 24 * time.Hour

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
