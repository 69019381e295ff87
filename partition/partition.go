// Package partition spreads the Graph work over the live processes: mailbox work by a hash of
// organisation and mailbox, tenant work by organisation, into a fixed number of partitions,
// each held by one process at a time under a lease in the database (the way Azure's
// change-feed processor spreads a feed's partitions over hosts). Each process claims a fair
// share, gives up what is over its share when others join, hands everything over at shutdown,
// and takes a dead process's partitions once their leases lapse.
//
// A lease's term number is its fence: raised each time the partition changes hands, carried by
// the writes of the work done under it (the delta sync's checkpoints), so that the store
// refuses a write from a process that lost the partition.
package partition

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/teamaccess/teamaccess/store"
)

// Count is the number of partitions (store.Partitions): fixed, so that a mailbox is always in
// the same one and a fence is comparable across hand-overs. 64 gives processes shares within a
// few percent of each other up to about a dozen processes.
const Count = store.Partitions

// Of is the partition of an organisation's mailbox.
func Of(orgID, mailboxID string) int { return store.MailboxPartition(orgID, mailboxID) }

// OfTenant is the partition of an organisation's tenant-wide work (discovery, consent checks,
// the subscription sweep).
func OfTenant(orgID string) int { return store.TenantPartition(orgID) }

// Lease names.
const (
	partitionPrefix = "partition/"
	memberPrefix    = "member/"
)

func partitionName(p int) string { return fmt.Sprintf("%s%02d", partitionPrefix, p) }

// Store is what the table needs of the database (*store.Store has it).
type Store interface {
	LeaseTerms(ctx context.Context, prefix string) (map[string]store.LeaseTerm, error)
	TakeLeaseTerm(ctx context.Context, name, owner string, after int64, until time.Time) (int64, bool, error)
	RenewLeaseTerms(ctx context.Context, owner string, terms map[string]int64, until time.Time) error
	ReleaseLeaseTerms(ctx context.Context, owner string, terms map[string]int64) error
	DropLeaseTerms(ctx context.Context, prefix string, before time.Time) error
}

// Options tune a table.
type Options struct {
	// Owner names this process in the leases.
	Owner string
	// Term is how long a lease lasts unrenewed (15 s); Every how often the process renews,
	// claims and gives up partitions (5 s). A dead process's partitions are taken within
	// Term+Every.
	Term, Every time.Duration
	Now         func() time.Time
	Log         *slog.Logger
	// Changed hears the partitions this process holds after each pass that changed them.
	Changed func(held []int)
	// Dead, when set, says a lease's owner is known to have stopped (a process of this host
	// that no longer runs, the process this one restarted): its partitions are taken at once,
	// without waiting for their leases to lapse.
	Dead func(owner string) bool
}

// Table is this process's share of the partitions.
type Table struct {
	st Store
	o  Options

	mu   sync.Mutex
	held map[int]*hold
	// members is how many processes were live at the last pass (this one included).
	members int
}

// hold is a partition this process holds.
type hold struct {
	term int64
	// until is when this process stops acting on it unless renewed: the lease's end in the
	// store less a margin, so that the process stops before any other may start.
	until time.Time
	// busy counts work under way on it; leaving, that it is being given up (no new work).
	busy    int
	leaving bool
}

// New returns a table holding nothing until its first pass (Run, or Pass).
func New(st Store, o Options) *Table {
	if o.Term <= 0 {
		o.Term = 15 * time.Second
	}
	if o.Every <= 0 {
		o.Every = o.Term / 3
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Table{st: st, o: o, held: map[int]*hold{}, members: 1}
}

// margin is how much sooner than its lease's end a holder stops acting on a partition: room
// for the clocks of two processes to disagree and for a request in flight to end.
func (t *Table) margin() time.Duration { return t.o.Term / 4 }

// Run passes every Every until ctx ends, then hands every partition over: work under way is
// given until Term/2 to end, and the leases are released so that the others take them at once.
func (t *Table) Run(ctx context.Context) {
	tick := time.NewTicker(t.o.Every)
	defer tick.Stop()
	for {
		if err := t.Pass(ctx); err != nil && ctx.Err() == nil {
			t.o.Log.Warn("partition leases", "err", err)
		}
		select {
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), t.o.Term/2)
			t.HandOver(final)
			cancel()
			return
		case <-tick.C:
		}
	}
}

// Held lists the partitions this process may work on now.
func (t *Table) Held() []int {
	now := t.o.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []int
	for p, h := range t.held {
		if !h.leaving && h.until.After(now) {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// Owns says whether this process may work on partition p now, and under which fence.
func (t *Table) Owns(p int) (fence int64, ok bool) {
	now := t.o.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	h := t.held[p]
	if h == nil || h.leaving || !h.until.After(now) {
		return 0, false
	}
	return h.term, true
}

// Mailbox says whether this process may work on an organisation's mailbox now.
func (t *Table) Mailbox(orgID, mailboxID string) bool {
	_, ok := t.Owns(Of(orgID, mailboxID))
	return ok
}

// Tenant says whether this process does an organisation's tenant-wide work now.
func (t *Table) Tenant(orgID string) bool {
	_, ok := t.Owns(OfTenant(orgID))
	return ok
}

// Hold starts work on partition p: false if this process may not work on it now. The
// partition is not given up (to a process that joined, or at shutdown) while work holds it;
// done ends the work. fence is the lease's term, for the work's writes.
func (t *Table) Hold(p int) (fence int64, done func(), ok bool) {
	now := t.o.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	h := t.held[p]
	if h == nil || h.leaving || !h.until.After(now) {
		return 0, nil, false
	}
	h.busy++
	var once sync.Once
	return h.term, func() {
		once.Do(func() {
			t.mu.Lock()
			h.busy--
			t.mu.Unlock()
		})
	}, true
}

// Still says whether partition p is held now under fence: work checks it before each step.
func (t *Table) Still(p int, fence int64) bool {
	now := t.o.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	h := t.held[p]
	return h != nil && h.term == fence && h.until.After(now)
}

// Members is how many processes share the partitions, as of the last pass.
func (t *Table) Members() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.members
}

// HandOver gives every partition up, waiting (until ctx ends) for the work under way on each to
// end: what a process does at shutdown.
func (t *Table) HandOver(ctx context.Context) {
	t.mu.Lock()
	for _, h := range t.held {
		h.leaving = true
	}
	t.mu.Unlock()
	for {
		gone := t.releaseIdle(ctx)
		t.mu.Lock()
		left := len(t.held)
		t.mu.Unlock()
		if gone != nil || left == 0 {
			break
		}
		select {
		case <-ctx.Done():
			return // what is left lapses at its term's end
		case <-time.After(20 * time.Millisecond):
		}
	}
	_ = t.st.ReleaseLeaseTerms(ctx, t.o.Owner, map[string]int64{memberPrefix + t.o.Owner: 1})
}

// releaseIdle releases the partitions being given up that no work holds any more.
func (t *Table) releaseIdle(ctx context.Context) error {
	t.mu.Lock()
	idle := map[string]int64{}
	for p, h := range t.held {
		if h.leaving && h.busy == 0 {
			idle[partitionName(p)] = h.term
			delete(t.held, p)
		}
	}
	t.mu.Unlock()
	if len(idle) == 0 {
		return nil
	}
	if err := t.st.ReleaseLeaseTerms(ctx, t.o.Owner, idle); err != nil {
		return err // they lapse at their term's end instead
	}
	return nil
}

// Pass renews this process's leases and its membership, drops what it lost, gives up what is
// over its fair share and claims free partitions up to it.
func (t *Table) Pass(ctx context.Context) error {
	start := t.o.Now()
	until := start.Add(t.o.Term)
	renew := map[string]int64{}
	t.mu.Lock()
	for p, h := range t.held {
		if !h.until.After(start) { // stopped acting on it already: it may be another's soon
			if h.busy == 0 {
				delete(t.held, p)
			}
			continue
		}
		renew[partitionName(p)] = h.term
	}
	t.mu.Unlock()
	me := memberPrefix + t.o.Owner
	renew[me] = 1
	if err := t.st.RenewLeaseTerms(ctx, t.o.Owner, renew, until); err != nil {
		return err
	}
	delete(renew, me)
	terms, err := t.st.LeaseTerms(ctx, partitionPrefix)
	if err != nil {
		return err
	}
	members, err := t.st.LeaseTerms(ctx, memberPrefix)
	if err != nil {
		return err
	}
	if m, ok := members[me]; !ok || m.Owner != t.o.Owner || m.Term != 1 {
		if _, _, err := t.st.TakeLeaseTerm(ctx, me, t.o.Owner, 0, until); err != nil {
			return err
		}
	}
	live, gone := 1, 0 // this process
	for name, m := range members {
		switch {
		case name != me && m.Live(start) && !t.dead(m.Owner):
			live++
		case start.Sub(m.Until) > time.Hour:
			gone++
		}
	}
	if gone > 0 { // processes long stopped
		_ = t.st.DropLeaseTerms(ctx, memberPrefix, start.Add(-time.Hour))
	}
	share := (Count + live - 1) / live

	before := t.Held()
	t.mu.Lock()
	t.members = live
	mine := 0
	for p, h := range t.held {
		cur, ok := terms[partitionName(p)]
		if _, renewed := renew[partitionName(p)]; !renewed {
			continue
		}
		if !ok || cur.Term != h.term || cur.Owner != t.o.Owner {
			delete(t.held, p) // taken by another: a pause outlived the lease
			continue
		}
		h.until = until.Add(-t.margin())
		if !h.leaving {
			mine++
		}
	}
	// Over the share (others joined): give up the extra, once the work on them ends.
	for _, h := range t.held {
		if mine <= share {
			break
		}
		if !h.leaving {
			h.leaving = true
			mine--
		}
	}
	t.mu.Unlock()
	if err := t.releaseIdle(ctx); err != nil {
		return err
	}

	// Under the share: claim free partitions, in a random order so that processes claiming at
	// once mostly pick different ones.
	var free []int
	for p := range Count {
		cur, ok := terms[partitionName(p)]
		t.mu.Lock()
		_, have := t.held[p]
		t.mu.Unlock()
		if !have && (!ok || !cur.Live(start) || t.dead(cur.Owner)) {
			free = append(free, p)
		}
	}
	rand.Shuffle(len(free), func(i, j int) { free[i], free[j] = free[j], free[i] })
	for _, p := range free {
		if mine >= share {
			break
		}
		term, ok, err := t.st.TakeLeaseTerm(ctx, partitionName(p), t.o.Owner, terms[partitionName(p)].Term, until)
		if err != nil {
			return err
		}
		if ok {
			t.mu.Lock()
			t.held[p] = &hold{term: term, until: until.Add(-t.margin())}
			t.mu.Unlock()
			mine++
		}
	}
	if after := t.Held(); t.o.Changed != nil && !slices.Equal(before, after) {
		t.o.Changed(after)
	}
	return nil
}

// HoldMailbox is Hold for an organisation's mailbox's partition.
func (t *Table) HoldMailbox(orgID, mailboxID string) (fence int64, done func(), ok bool) {
	return t.Hold(Of(orgID, mailboxID))
}

// StillMailbox is Still for an organisation's mailbox's partition.
func (t *Table) StillMailbox(orgID, mailboxID string, fence int64) bool {
	return t.Still(Of(orgID, mailboxID), fence)
}

// dead says whether a lease's owner is known to have stopped.
func (t *Table) dead(owner string) bool {
	return owner != t.o.Owner && t.o.Dead != nil && t.o.Dead(owner)
}
