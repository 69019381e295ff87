package privacy

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/teamaccess/teamaccess/auth"
	"github.com/teamaccess/teamaccess/errkind"
	"github.com/teamaccess/teamaccess/store"
)

// batch is how many stored items a pass reads or removes at a time.
const batch = 500

// Count is what a pass over stored data found: activities and contacts, and per rule.
type Count struct {
	Activities, Contacts int
	ByRule               map[string]int
}

func (c *Count) add(rule string, activity bool) {
	if c.ByRule == nil {
		c.ByRule = map[string]int{}
	}
	c.ByRule[rule]++
	if activity {
		c.Activities++
	} else {
		c.Contacts++
	}
}

// Preview counts the stored activities and contacts the policy with a change would remove:
// the dry run before Apply. It changes nothing.
func (s *Service) Preview(ctx context.Context, orgID string, c CaptureChange) (Count, error) {
	p, err := s.Policy(ctx, orgID)
	if err != nil {
		return Count{}, err
	}
	if p, err = c.apply(p); err != nil {
		return Count{}, err
	}
	r, err := s.compile(ctx, orgID, p)
	if err != nil {
		return Count{}, err
	}
	return s.pass(ctx, orgID, r, false)
}

func (s *Service) compile(ctx context.Context, orgID string, p store.PrivacyPolicy) (*Rules, error) {
	hashes, err := s.st.Org(orgID).Suppressions(ctx)
	if err != nil {
		return nil, err
	}
	return Compile(p, hashes), nil
}

// Apply removes the stored activities and contacts the current policy excludes (its rules
// applied backwards), in bounded batches; audited with the counts.
func (s *Service) Apply(ctx context.Context, actor auth.Actor) (Count, error) {
	p, err := s.Policy(ctx, actor.OrgID)
	if err != nil {
		return Count{}, err
	}
	r, err := s.compile(ctx, actor.OrgID, p)
	if err != nil {
		return Count{}, err
	}
	n, err := s.pass(ctx, actor.OrgID, r, true)
	if err != nil {
		return n, err
	}
	return n, s.audit(ctx, actor, "capturePolicy.apply", fmt.Sprintf("capture policy v%d applied to stored data: %d activities and %d contacts removed", p.Version, n.Activities, n.Contacts))
}

// pass reads every stored activity and contact of the organisation and counts (or, with
// remove, removes) those the rules exclude. Mailboxes are decided by their owners' addresses.
func (s *Service) pass(ctx context.Context, orgID string, r *Rules, remove bool) (Count, error) {
	org := s.st.Org(orgID)
	owners, err := s.owners(ctx, org)
	if err != nil {
		return Count{}, err
	}
	now := s.o.Now()
	var n Count
	for after := ""; ; {
		as, err := org.ScanActivities(ctx, after, batch)
		if err != nil {
			return n, err
		}
		var gone []string
		for i := range as {
			a := &as[i]
			rule := r.Mailbox(a.MailboxID, owners[a.MailboxID])
			if rule == "" {
				rule = r.Exclude(a, now)
			}
			if rule != "" {
				n.add(rule, true)
				gone = append(gone, a.ID)
			}
		}
		if remove {
			if err := s.forget(ctx, org, gone); err != nil {
				return n, err
			}
		}
		if len(as) < batch {
			break
		}
		after = as[len(as)-1].ID
	}
	for after := ""; ; {
		cs, err := org.ScanContacts(ctx, after, batch)
		if err != nil {
			return n, err
		}
		var gone []string
		for i := range cs {
			c := &cs[i]
			rule := r.Mailbox(c.MailboxID, owners[c.MailboxID])
			if rule == "" {
				rule = r.Contact(c)
			}
			if rule != "" {
				n.add(rule, false)
				gone = append(gone, c.ID)
			}
		}
		if remove {
			if _, err := org.ForgetContacts(ctx, gone); err != nil {
				return n, err
			}
		}
		if len(cs) < batch {
			break
		}
		after = cs[len(cs)-1].ID
	}
	return n, nil
}

// owners maps each mailbox (user id) to its addresses.
func (s *Service) owners(ctx context.Context, org store.OrgScope) (map[string][]string, error) {
	ms, err := org.Mailboxes(ctx, store.MailboxQuery{})
	if err != nil {
		return nil, err
	}
	out := make(map[string][]string, len(ms))
	for _, m := range ms {
		out[m.UserID] = []string{strings.ToLower(m.Mail), strings.ToLower(m.UserPrincipalName)}
	}
	return out, nil
}

// forget removes activities whole, blanks the change log's snapshots of them, and appends a
// DELETED change for each, so that live subscribers and partners' webhooks drop them too.
func (s *Service) forget(ctx context.Context, org store.OrgScope, ids []string) error {
	gone, err := org.ForgetActivities(ctx, ids)
	if err != nil || len(gone) == 0 {
		return err
	}
	now := s.o.Now().UTC()
	cs := make([]store.Change, len(gone))
	for i, id := range gone {
		cs[i] = store.Change{Type: "DELETED", ActivityID: id, At: now}
	}
	return org.AppendChanges(ctx, cs)
}

// Erasure is what an erasure removed, or would remove when it asks for confirmation.
type Erasure struct {
	Activities, Contacts int64
	// Mailbox is the user id of the mailbox the address owns, if any: all of it is erased.
	Mailbox string
	// NeedsConfirmation: the count is above the guard's and nothing was changed.
	NeedsConfirmation bool
}

// Erase removes every activity and contact that names an address across the organisation
// (activities whole), and everything of the mailbox it owns; then suppresses it: a keyed hash
// of it is kept, and no later delta round, resync or notification captures it again. Above
// ConfirmAbove items it changes nothing unless confirmed. Audited without the address.
func (s *Service) Erase(ctx context.Context, actor auth.Actor, address string, confirm bool) (Erasure, error) {
	a, err := Address(address)
	if err != nil {
		return Erasure{}, err
	}
	org := s.st.Org(actor.OrgID)
	owners, err := s.owners(ctx, org)
	if err != nil {
		return Erasure{}, err
	}
	var e Erasure
	for id, as := range owners {
		for _, x := range as {
			if x == a {
				e.Mailbox = id
			}
		}
	}
	if e.Activities, e.Contacts, err = org.CountNaming(ctx, a, e.Mailbox); err != nil {
		return e, err
	}
	if e.Activities+e.Contacts > int64(s.o.ConfirmAbove) && !confirm {
		e.NeedsConfirmation = true
		return e, nil
	}
	// Suppress first: a round running meanwhile captures nothing more of the address.
	p, err := s.Policy(ctx, actor.OrgID)
	if err != nil {
		return e, err
	}
	if len(p.SuppressionKey) == 0 {
		if p, err = s.update(ctx, actor.OrgID, func(p store.PrivacyPolicy) (store.PrivacyPolicy, error) {
			if len(p.SuppressionKey) == 0 {
				p.SuppressionKey = newKey()
			}
			return p, nil
		}); err != nil {
			return e, err
		}
	}
	if err := org.Suppress(ctx, []string{Hash(p.SuppressionKey, a)}, s.o.Now().UTC()); err != nil {
		return e, err
	}
	// A new version after the hash is written: every process compiles it before its next page.
	if _, err := s.update(ctx, actor.OrgID, func(p store.PrivacyPolicy) (store.PrivacyPolicy, error) { return p, nil }); err != nil {
		return e, err
	}
	if err := s.eraseNaming(ctx, org, a, e.Mailbox); err != nil {
		return e, err
	}
	if s.o.Go != nil {
		// A page compiled before the suppression may still write after the first sweep; the
		// address stays in this process's memory only, until the second.
		s.o.Go(func(ctx context.Context) {
			t := time.NewTimer(s.o.SweepAfter)
			defer t.Stop()
			select {
			case <-ctx.Done():
			case <-t.C:
				if err := s.eraseNaming(ctx, org, a, e.Mailbox); err != nil {
					s.o.Log.Warn("privacy: an erasure's second sweep failed", "org", org.ID(), "err", err)
				}
			}
		})
	}
	summary := fmt.Sprintf("erased one person's data: %d activities, %d contacts; the address is suppressed", e.Activities, e.Contacts)
	if e.Mailbox != "" {
		summary += "; it owns mailbox " + e.Mailbox + ", erased whole"
	}
	return e, s.audit(ctx, actor, "privacy.erase", summary)
}

// eraseNaming removes, batch by batch, the activities and contacts naming the address and,
// with a mailbox, all of that mailbox's.
func (s *Service) eraseNaming(ctx context.Context, org store.OrgScope, address, mailbox string) error {
	if mailbox != "" {
		if err := s.eraseBatches(ctx, org, "", mailbox); err != nil {
			return err
		}
	}
	if address == "" {
		return nil
	}
	return s.eraseBatches(ctx, org, address, "")
}

func (s *Service) eraseBatches(ctx context.Context, org store.OrgScope, address, mailbox string) error {
	for range 10_000 { // 5 million items; a bound, never reached in practice
		ids, err := org.ActivityIDsNaming(ctx, address, mailbox, batch)
		if err != nil {
			return err
		}
		if err := s.forget(ctx, org, ids); err != nil {
			return err
		}
		cids, err := org.ContactIDsNaming(ctx, address, mailbox, batch)
		if err != nil {
			return err
		}
		if _, err := org.ForgetContacts(ctx, cids); err != nil {
			return err
		}
		if len(ids) < batch && len(cids) < batch {
			return nil
		}
	}
	return errkind.E(errkind.ErrInvalid, "erasure did not finish; run it again")
}

// retentionBatches bounds one organisation's work per run of the retention job; the rest
// waits for the next run.
const retentionBatches = 20

// EnforceRetention removes, for every organisation, the activities and contacts past their
// retention, and blanks subjects and previews past theirs, in bounded batches.
func (s *Service) EnforceRetention(ctx context.Context) (removed int, err error) {
	orgs, err := s.st.Organizations(ctx)
	if err != nil {
		return 0, err
	}
	now := s.o.Now().UTC()
	for _, o := range orgs {
		org := s.st.Org(o.ID)
		p, err := org.PrivacyPolicy(ctx)
		if err != nil {
			return removed, err
		}
		n, err := s.retain(ctx, org, p.Retention, now)
		removed += n
		if err != nil {
			return removed, err
		}
	}
	return removed, nil
}

func (s *Service) retain(ctx context.Context, org store.OrgScope, r store.Retention, now time.Time) (int, error) {
	removed := 0
	cutoff := func(days int) time.Time { return now.AddDate(0, 0, -days) }
	for i := 0; r.ActivityDays > 0 && i < retentionBatches; i++ {
		ids, err := org.ActivityIDsBefore(ctx, cutoff(r.ActivityDays), batch)
		if err != nil {
			return removed, err
		}
		if err := s.forget(ctx, org, ids); err != nil {
			return removed, err
		}
		removed += len(ids)
		if len(ids) < batch {
			break
		}
	}
	for _, f := range []struct {
		field string
		days  int
	}{{"subject", r.SubjectDays}, {"bodyPreview", r.PreviewDays}} {
		for i := 0; f.days > 0 && i < retentionBatches; i++ {
			n, err := org.BlankBefore(ctx, f.field, cutoff(f.days), batch)
			if err != nil {
				return removed, err
			}
			if n < batch {
				break
			}
		}
	}
	for i := 0; r.ContactDays > 0 && i < retentionBatches; i++ {
		ids, err := org.ContactIDsBefore(ctx, cutoff(r.ContactDays), batch)
		if err != nil {
			return removed, err
		}
		n, err := org.ForgetContacts(ctx, ids)
		if err != nil {
			return removed, err
		}
		removed += int(n)
		if len(ids) < batch {
			break
		}
	}
	return removed, nil
}
