package mailboxes

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// DiscoverAll runs discovery for every connected organisation (of this process's partitions)
// not discovered here for DiscoverEvery: the scheduled job, run more often than that, so that
// a tenant just connected, or whose partition just came to this process, is discovered soon.
func (s *Service) DiscoverAll(ctx context.Context) error {
	tas, err := s.connected(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, ta := range tas {
		s.mu.Lock()
		last, ok := s.discovered[ta.OrgID]
		s.mu.Unlock()
		if ok && s.o.Now().Sub(last) < s.o.DiscoverEvery {
			continue
		}
		if err := s.Discover(ctx, ta.OrgID, ta.TenantID); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", ta.OrgID, err))
		}
	}
	return errors.Join(errs...)
}

// ProbeAllDue probes the due mailboxes (of this process's partitions) of every connected
// organisation: the scheduled job, run every few seconds, so that it first asks which
// organisations have any due, in one query.
func (s *Service) ProbeAllDue(ctx context.Context) error {
	var mine []int // nil: every partition
	if s.o.Partitions != nil {
		if mine = s.o.Partitions.Held(); len(mine) == 0 {
			return nil
		}
	}
	orgs, err := s.st.OrgsWithMailboxesDue(ctx, s.now(), mine)
	if err != nil || len(orgs) == 0 {
		return err
	}
	tas, err := s.connected(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, ta := range tas {
		if !slices.Contains(orgs, ta.OrgID) {
			continue
		}
		unlock := s.lock(ta.OrgID)
		err := s.probeDue(ctx, ta.OrgID, ta.TenantID)
		unlock()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", ta.OrgID, err))
		}
	}
	return errors.Join(errs...)
}
