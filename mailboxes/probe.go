package mailboxes

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/teamaccess/teamaccess/graphdata"
	"github.com/teamaccess/teamaccess/store"
	"golang.org/x/sync/errgroup"
)

// probeDue probes, a few at a time, every mailbox whose probe is due, and records the results
// a few rounds of probes at a time.
func (s *Service) probeDue(ctx context.Context, orgID, tenantID string) error {
	scope := s.st.Org(orgID)
	for {
		var mine []int // nil: every mailbox
		if s.o.Partitions != nil {
			if mine = s.o.Partitions.Held(); len(mine) == 0 {
				return nil
			}
		}
		due, err := scope.MailboxesDue(ctx, s.now(), 500, mine)
		if err != nil || len(due) == 0 {
			return err
		}
		if err := s.probeChunks(ctx, scope, orgID, tenantID, due); err != nil {
			return err
		}
	}
}

// probeChunks probes mailboxes and records the results a few at a time (one round of probes
// first, then four rounds at a time), so that the first mailboxes found readable start syncing
// while the rest of a large tenant is probed: with a first chunk of four rounds, a process's
// first round began 0.8-1.4 s after its first probe in the three-process backfill. A chunk is
// recorded while the next one is probed: Graph's latency and the store's overlap (at most one
// record in flight, in order). It stops at the first chunk whose record fails, once the record
// in flight is done.
func (s *Service) probeChunks(ctx context.Context, scope store.OrgScope, orgID, tenantID string, due []store.Mailbox) error {
	if len(due) == 0 {
		return nil
	}
	recorded := make(chan error, 1)
	recorded <- nil // no record in flight
	first := min(len(due), s.o.Concurrency)
	chunks := slices.Concat([][]store.Mailbox{due[:first]}, slices.Collect(slices.Chunk(due[first:], 4*s.o.Concurrency)))
	for _, chunk := range chunks {
		results := make([]result, len(chunk))
		var g errgroup.Group
		g.SetLimit(s.o.Concurrency)
		for i, m := range chunk {
			if ctx.Err() != nil {
				break
			}
			g.Go(func() error {
				results[i] = s.probe(ctx, tenantID, m)
				return nil
			})
		}
		_ = g.Wait() // the probes report in results
		if err := <-recorded; err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		go func() { recorded <- s.record(ctx, scope, orgID, results) }()
	}
	return <-recorded
}

// result is one probe's outcome.
type result struct {
	m     store.Mailbox
	p     Probe
	retry bool  // throttled or failed: ask again later
	err   error // not a Graph answer at all
}

// probe asks Graph about one mailbox.
func (s *Service) probe(ctx context.Context, tenantID string, m store.Mailbox) result {
	if m.UserType == "Guest" {
		// A guest's mailbox lives in its home organisation: nothing to probe here.
		return result{m: m, p: Probe{Access: NoMailbox, Message: "guest account: its mailbox belongs to another organization"}}
	}
	p, err := s.dir.ProbeMailbox(ctx, tenantID, m.UserID)
	switch {
	case errors.Is(err, graphdata.ErrTransient):
		s.o.Log.Debug("mailbox probe will be retried", "user", m.UserID, "err", err)
		return result{m: m, retry: true}
	case err != nil:
		return result{m: m, err: fmt.Errorf("probe %s: %w", m.UserID, err)}
	}
	return result{m: m, p: Probe{Access: Access(p.Access), Code: p.Code, Message: p.Message}}
}

// record writes a batch of results, one update per distinct result, and announces changes.
func (s *Service) record(ctx context.Context, scope store.OrgScope, orgID string, results []result) error {
	type key struct {
		access, code, reason, from string
		changed, settling          bool
	}
	now := s.now()
	groups := map[key][]string{}
	var retry []string
	var errs []error
	for _, r := range results {
		switch {
		case r.err != nil:
			errs = append(errs, r.err)
			retry = append(retry, r.m.UserID)
			continue
		case r.retry || r.p.Access == "":
			retry = append(retry, r.m.UserID)
			continue
		}
		changed := string(r.p.Access) != r.m.Access
		settling := changed || r.m.AccessChangedAt == nil || now.Sub(*r.m.AccessChangedAt) < s.o.Schedule.Window
		k := key{string(r.p.Access), r.p.Code, reason(r.p), "", changed, settling}
		if changed {
			k.from = r.m.Access
		}
		groups[k] = append(groups[k], r.m.UserID)
	}
	if len(retry) > 0 {
		if err := scope.SetMailboxNextCheck(ctx, retry, now.Add(s.o.Schedule.Retry)); err != nil {
			return err
		}
	}
	for k, ids := range groups {
		next := s.next(Access(k.access), k.settling, now)
		if err := scope.SaveMailboxAccess(ctx, ids, k.access, k.code, k.reason, now, next, k.changed, k.from); err != nil {
			return err
		}
	}
	var changes []transition
	for _, r := range results { // announce what changed, from what was read and written
		if r.retry || r.err != nil || string(r.p.Access) == r.m.Access || r.p.Access == "" {
			continue
		}
		after := r.m
		after.Access, after.Code, after.Reason, after.CheckedAt, after.AccessChangedAt = string(r.p.Access), r.p.Code, reason(r.p), &now, &now
		changes = append(changes, transition{after, captured(r.m)})
	}
	s.changed(ctx, orgID, changes...)
	return errors.Join(errs...)
}

// next is when a mailbox with this access is probed again: daily once readable (or without a
// mailbox), often while blocked or failing shortly after a change, hourly after that.
func (s *Service) next(access Access, settling bool, now time.Time) time.Time {
	sc := s.o.Schedule
	switch {
	case access == Accessible || access == NoMailbox:
		return now.Add(sc.Readable)
	case settling:
		return now.Add(sc.Settling)
	}
	return now.Add(sc.Settled)
}

// reason says in words why a mailbox has its access.
func reason(p Probe) string {
	switch p.Access {
	case Accessible:
		return "teamaccess can read this mailbox."
	case BlockedByPolicy:
		// Policies and RBAC scopes are told apart nowhere in Graph's answer: name both, with
		// Microsoft's own words.
		return "The tenant's application access policy (or RBAC for Applications scope) keeps teamaccess out of this mailbox. Microsoft Graph: " + p.Code + ": " + p.Message
	case NoMailbox:
		if strings.HasPrefix(p.Message, "guest") {
			return "A " + p.Message + "."
		}
		return "No Exchange Online mailbox: no license, on-premises, or inactive."
	case MissingPermission:
		return "The tenant has not granted the permission this needs: " + p.Message
	}
	return "Graph answered " + p.Code + ": " + p.Message
}
