package subscriptions

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/teamaccess/teamaccess/store"
)

// ErrUnavailable reports a delivery that could not be made durable: answer 503, and Graph
// delivers it again.
var ErrUnavailable = errors.New("the notification inbox is unavailable")

// Results of intake for each delivered item, as counted.
const (
	ResultAccepted      = "accepted"
	ResultBadState      = "dropped_client_state" // the clientState did not match its subscription's
	ResultUnknown       = "dropped_unknown"      // no subscription of ours has that id
	ResultUnavailable   = "unavailable"          // the inbox write failed (503)
	ResultMalformedBody = "malformed"            // the whole body was refused (400)
	// ResultUnknownEvent: a lifecycle event of a kind this version does not know; acknowledged
	// and logged, not acted on.
	ResultUnknownEvent = "ignored_unknown_lifecycle_event"
)

// Intake is what a delivery came to.
type Intake struct {
	Accepted, Dropped int
}

// Accept takes in a delivery's body: parses it (ErrMalformed), keeps the items whose
// clientState matches their subscription's, and writes them to the inbox before returning
// (ErrUnavailable when that fails or ctx ends first). Nothing is written for a malformed body.
func (s *Service) Accept(ctx context.Context, body []byte) (Intake, error) {
	ns, err := Parse(body)
	if err != nil {
		s.o.Counted(ResultMalformedBody, 1)
		return Intake{}, err
	}
	subs, err := s.lookup(ctx, ns)
	if err != nil {
		s.o.Counted(ResultUnavailable, len(ns))
		return Intake{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	now := s.now()
	entries := make([]store.InboxEntry, 0, len(ns))
	badState, unknown, unknownEvents := 0, 0, map[string]int{}
	for _, n := range ns {
		k, ok := subs[n.SubscriptionID]
		if !ok {
			unknown++
			continue
		}
		if n.UnknownEvent {
			unknownEvents[n.LifecycleEvent]++
			continue
		}
		given := []byte{}
		if n.ClientState != nil {
			given = HashClientState(*n.ClientState)
		}
		if n.ClientState == nil || subtle.ConstantTimeCompare(given, k.hash) != 1 {
			badState++
			continue
		}
		entries = append(entries, store.InboxEntry{
			ID: bson.NewObjectID(), ReceivedAt: now, NotBefore: now, OrgID: k.org, TenantID: k.tenant, MailboxID: k.mailbox, Partition: store.MailboxPartition(k.org, k.mailbox), Scope: k.scope,
			SubscriptionID: n.SubscriptionID, ChangeType: n.ChangeType, LifecycleEvent: n.LifecycleEvent,
			Resource: n.Resource, ItemID: n.ItemID, ETag: n.ETag,
		})
	}
	if badState > 0 {
		s.o.Counted(ResultBadState, badState)
		s.o.Log.Warn("change notifications dropped: clientState does not match", "count", badState)
	}
	if unknown > 0 {
		s.o.Counted(ResultUnknown, unknown)
		s.o.Log.Info("change notifications dropped: unknown subscription", "count", unknown)
	}
	ignored := 0
	for event, count := range unknownEvents {
		ignored += count
		s.o.Counted(ResultUnknownEvent, count)
		s.o.Log.Warn("lifecycle notifications of an unknown kind acknowledged and ignored", "lifecycle_event", event, "count", count)
	}
	res := Intake{Accepted: len(entries), Dropped: badState + unknown + ignored}
	if len(entries) == 0 {
		return res, nil
	}
	if err := s.batch.add(ctx, entries); err != nil {
		s.o.Counted(ResultUnavailable, len(entries))
		return Intake{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	s.o.Counted(ResultAccepted, len(entries))
	s.Poke()
	return res, nil
}

// maxPendingLookups bounds the store reads for subscriptions being created, per delivery.
const maxPendingLookups = 4

// lookup finds the subscriptions a delivery names: from memory, then the store (another
// process may have made them), then among subscriptions being created, by clientState.
func (s *Service) lookup(ctx context.Context, ns []Notification) (map[string]known, error) {
	out := map[string]known{}
	var missing []string
	s.mu.Lock()
	for _, n := range ns {
		if k, ok := s.known[n.SubscriptionID]; ok {
			out[n.SubscriptionID] = k
		} else if _, seen := out[n.SubscriptionID]; !seen {
			missing = append(missing, n.SubscriptionID)
		}
	}
	s.mu.Unlock()
	if len(missing) == 0 {
		return out, nil
	}
	recs, err := s.st.GraphSubscriptionsBySubscriptionID(ctx, missing)
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		s.remember(r)
		out[r.SubscriptionID] = knownOf(r)
	}
	// Subscriptions being created, by their state: a few lookups a delivery at most, so that a
	// body full of made-up ids costs the store little.
	tried := map[string]bool{}
	for _, n := range ns {
		if _, ok := out[n.SubscriptionID]; ok || n.ClientState == nil || tried[*n.ClientState] || len(tried) == maxPendingLookups {
			continue
		}
		tried[*n.ClientState] = true
		r, ok, err := s.st.PendingGraphSubscriptionByHash(ctx, HashClientState(*n.ClientState))
		if err != nil {
			return nil, err
		}
		if ok {
			out[n.SubscriptionID] = knownOf(r)
		}
	}
	return out, nil
}

// batcher groups the inbox writes of concurrent deliveries into one bulk insert: while one
// insert runs, the deliveries arriving queue up and go together in the next.
type batcher struct {
	insert func(ctx context.Context, es []store.InboxEntry) error
	max    int
	queue  chan *pendingWrite
}

type pendingWrite struct {
	es   []store.InboxEntry
	done chan error
}

// writeTimeout bounds one bulk insert; Graph waits 3 s for the answer.
const writeTimeout = 2500 * time.Millisecond

func newBatcher(insert func(context.Context, []store.InboxEntry) error, max int) *batcher {
	return &batcher{insert: insert, max: max, queue: make(chan *pendingWrite, 4096)}
}

// run writes queued deliveries until ctx ends; writers inserts may run at once.
func (b *batcher) run(ctx context.Context, writers int) *sync.WaitGroup {
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() { b.loop(ctx) })
	}
	return &wg
}

func (b *batcher) loop(ctx context.Context) {
	for {
		var first *pendingWrite
		select {
		case <-ctx.Done():
			return
		case first = <-b.queue:
		}
		group := []*pendingWrite{first}
		n := len(first.es)
	more:
		for n < b.max {
			select {
			case p := <-b.queue:
				group = append(group, p)
				n += len(p.es)
			default:
				break more
			}
		}
		all := make([]store.InboxEntry, 0, n)
		for _, p := range group {
			all = append(all, p.es...)
		}
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
		err := b.insert(wctx, all)
		cancel()
		for _, p := range group {
			p.done <- err
		}
	}
}

// add queues entries and waits until they are written or ctx ends.
func (b *batcher) add(ctx context.Context, es []store.InboxEntry) error {
	p := &pendingWrite{es: es, done: make(chan error, 1)}
	select {
	case b.queue <- p:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-p.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
