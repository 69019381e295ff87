package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// On the embedded FerretDB over SQLite every query of the change log reads and decodes all of
// it (changes_head.go): 1.5 s for a log of 5,000 changes, and the demo's generator alone adds
// 8,640 a day. The process that runs that database keeps the newest part of each
// organisation's log in memory, as it last read and wrote it (a tail), and answers a live
// feed's reads from it. It is checked before each answer against the organisation's head (a
// write by another client of this database raises it past the tail's end). Once another
// client's write has been seen, and since the head may lag such a write (changes_head.go,
// headTrust), every headTrust a lookup of the number after the tail's end by _id confirms that
// nothing follows it (at 25 us a change on SQLite, a cost the service alone on its data
// directory, as it runs in production, never pays). Every change of the log other than an
// append of this process (pruning, purging, erasure) drops the organisation's tail. Another
// client's erasure (a test's or a tool's second connection: the data directory admits one
// service) is not seen by it.
type changeTail struct {
	from    int64    // every change numbered after from, up to last, is in cs, in order
	last    int64    // the log's end as last confirmed
	cs      []Change // from+1 ... last
	checked time.Time
}

// tailMax bounds a tail: a feed further behind reads the log.
const tailMax = 2000

// fromTail answers ChangesAfter from the organisation's tail when it holds every change after
// `after` and nothing has been written after its end (ok false: read the log).
func (o OrgScope) fromTail(ctx context.Context, after int64, limit int) (cs []Change, ok bool, err error) {
	if !o.s.tailed {
		return nil, false, nil
	}
	s := o.s
	s.tailMu.Lock()
	t := s.tails[o.org]
	if t == nil || after < t.from || after > t.last {
		s.tailMu.Unlock()
		return nil, false, nil
	}
	last, fresh, gen := t.last, !s.tailShared || time.Since(t.checked) < headTrust, s.tailGen
	s.tailMu.Unlock()
	head, known, err := o.head(ctx)
	if err != nil || !known || head > last {
		if head > last {
			s.sawWriter(o.org, head)
		}
		return nil, false, err // written after the tail: the log has it
	}
	if !fresh {
		if taken, err := o.changeTaken(ctx, last+1); err != nil || taken {
			return nil, false, err
		}
	}
	s.tailMu.Lock()
	defer s.tailMu.Unlock()
	if s.tails[o.org] != t || s.tailGen != gen || t.last != last {
		return nil, false, nil // changed meanwhile: read the log
	}
	if !fresh {
		t.checked = time.Now()
	}
	for _, c := range t.cs[after-t.from:] {
		if len(cs) == limit {
			break
		}
		cs = append(cs, copyChange(c))
	}
	return cs, true, nil
}

// keepTail makes a read of the log that reached its end the organisation's tail: the changes
// after `after`, numbered without a gap (a missing number's writer has not committed yet), read
// while no other change of the log was made (gen is the tail generation before the read).
func (o OrgScope) keepTail(gen uint64, after int64, limit int, cs []Change) {
	if !o.s.tailed || len(cs) >= limit {
		return
	}
	for i, c := range cs {
		if c.Seq != after+int64(i)+1 {
			return
		}
	}
	t := &changeTail{from: after, last: after + int64(len(cs)), checked: time.Now()}
	for _, c := range cs {
		t.cs = append(t.cs, copyChange(c))
	}
	t.trim()
	s := o.s
	s.tailMu.Lock()
	defer s.tailMu.Unlock()
	if s.tailGen != gen {
		return
	}
	if len(s.tails) >= 256 { // bounded: some organisation's tail goes, and is read again
		for org := range s.tails {
			delete(s.tails, org)
			break
		}
	}
	s.tails[o.org] = t
}

// extendTail adds changes this process has just written (numbered in a row) to the
// organisation's tail, which they follow, or drops the tail when others' come between.
func (o OrgScope) extendTail(cs []Change) {
	if !o.s.tailed || len(cs) == 0 {
		return
	}
	s := o.s
	s.tailMu.Lock()
	defer s.tailMu.Unlock()
	between := cs[0].Seq - 1 // the newest number before these
	if s.othersWrote(o.org, between) {
		s.tailShared = true
	}
	s.wrote[o.org] = max(s.wrote[o.org], cs[len(cs)-1].Seq)
	t := s.tails[o.org]
	if t == nil {
		return
	}
	if between != t.last {
		delete(s.tails, o.org) // numbers the tail lacks came between
		return
	}
	for _, c := range cs {
		t.cs = append(t.cs, copyChange(c))
	}
	t.last = cs[len(cs)-1].Seq
	t.trim()
}

// dropTail forgets the organisation's tail ("" for every organisation's) after a change of
// the log other than an append; a read that began before it keeps no tail.
func (s *Store) dropTail(org string) {
	if !s.tailed {
		return
	}
	s.tailMu.Lock()
	defer s.tailMu.Unlock()
	s.tailGen++
	if org == "" {
		clear(s.tails)
		return
	}
	delete(s.tails, org)
}

// sawWriter notes another client writing this database's change logs when the head is past
// the organisation's tail as it is now and past what this process wrote (its own append may
// have landed after a read that made the tail).
func (s *Store) sawWriter(org string, head int64) {
	s.tailMu.Lock()
	defer s.tailMu.Unlock()
	if s.othersWrote(org, head) {
		s.tailShared = true
	}
}

// othersWrote says change number seq is past the organisation's tail and past what this
// process wrote: another client's (the caller holds tailMu).
func (s *Store) othersWrote(org string, seq int64) bool {
	t := s.tails[org]
	return t != nil && seq > t.last && seq > s.wrote[org]
}

// tailGeneration is the generation a read that may keep a tail starts from.
func (s *Store) tailGeneration() uint64 {
	s.tailMu.Lock()
	defer s.tailMu.Unlock()
	return s.tailGen
}

// trim keeps the tail's newest tailMax changes once it holds a quarter more (a copy every
// tailMax/4 appends, not at each).
func (t *changeTail) trim() {
	if len(t.cs) <= tailMax+tailMax/4 {
		return
	}
	n := len(t.cs) - tailMax
	t.cs = append([]Change(nil), t.cs[n:]...)
	t.from += int64(n)
}

// copyChange is a change the tail and its readers do not share (its activity's slices are
// shared: neither side changes them).
func copyChange(c Change) Change {
	if c.Activity != nil {
		a := *c.Activity
		c.Activity = &a
	}
	return c
}

// changeTaken says whether change number seq is in the log, looked up by _id alone.
func (o OrgScope) changeTaken(ctx context.Context, seq int64) (bool, error) {
	err := o.s.collection(changeCollection).FindOne(ctx, bson.D{{Key: "_id", Value: changeID(o.org, seq)}},
		options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 1}})).Err()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read changes: %w", err)
	}
	return true, nil
}
