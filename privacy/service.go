// Package privacy is what a buyer's privacy review asks before consenting: the capture policy
// (what is never captured, applied before anything is written), erasure of one person with
// suppression (a keyed hash, so that nothing captures them again), opt-outs, metadata-only
// capture, and retention per data class enforced by a scheduled job.
package privacy

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/teamaccess/teamaccess/auth"
	"github.com/teamaccess/teamaccess/errkind"
	"github.com/teamaccess/teamaccess/store"
)

// Policy and Retention are the stored policy, as the API's resolvers read it.
type (
	Policy    = store.PrivacyPolicy
	Retention = store.Retention
)

// Store is what the service needs of the database.
type Store interface {
	Org(orgID string) store.OrgScope
	Organizations(ctx context.Context) ([]store.Organization, error)
}

var _ Store = (*store.Store)(nil)

// Auditor records an admin's action.
type Auditor interface {
	Record(ctx context.Context, actor auth.Actor, action, target, summary string) error
}

// Options tune the service.
type Options struct {
	Now func() time.Time
	Log *slog.Logger
	// Excluded hears of n items a rule kept out of the store (the metric).
	Excluded func(rule string, n int)
	Audit    Auditor
	// ConfirmAbove is the count of items above which an erasure asks for confirmation: 1,000.
	ConfirmAbove int
	// Go runs work after a request (an erasure's second sweep) in the service's background
	// group; none when nil.
	Go func(f func(ctx context.Context))
	// SweepAfter is when an erasure sweeps again, for what a delta page that was already
	// underway wrote after the first: 2 minutes.
	SweepAfter time.Duration
}

// Service holds the organisations' privacy policies.
type Service struct {
	st Store
	o  Options

	mu    sync.Mutex
	rules map[string]*Rules // org -> its rules as last compiled
}

// New returns the service.
func New(st Store, o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.ConfirmAbove <= 0 {
		o.ConfirmAbove = 1000
	}
	if o.SweepAfter <= 0 {
		o.SweepAfter = 2 * time.Minute
	}
	return &Service{st: st, o: o, rules: map[string]*Rules{}}
}

// Rules are the organisation's rules as the store has them now: one read of the policy's
// version, and a compilation when it changed. The delta sync asks before each page, so a change
// applies from the next page in every process.
func (s *Service) Rules(ctx context.Context, orgID string) (*Rules, error) {
	org := s.st.Org(orgID)
	v, err := org.PrivacyPolicyVersion(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	r, ok := s.rules[orgID]
	s.mu.Unlock()
	if ok && r.version == v {
		return r, nil
	}
	p, err := org.PrivacyPolicy(ctx)
	if err != nil {
		return nil, err
	}
	hashes, err := org.Suppressions(ctx)
	if err != nil {
		return nil, err
	}
	r = Compile(p, hashes)
	s.mu.Lock()
	s.rules[orgID] = r
	s.mu.Unlock()
	return r, nil
}

// Excluded counts items a rule kept out.
func (s *Service) Excluded(rule string, n int) {
	if s.o.Excluded != nil && n > 0 {
		s.o.Excluded(rule, n)
	}
}

// Policy reads the organisation's policy.
func (s *Service) Policy(ctx context.Context, orgID string) (store.PrivacyPolicy, error) {
	return s.st.Org(orgID).PrivacyPolicy(ctx)
}

// update reads the policy, changes it and saves it, again when another writer saved first.
func (s *Service) update(ctx context.Context, orgID string, change func(p store.PrivacyPolicy) (store.PrivacyPolicy, error)) (store.PrivacyPolicy, error) {
	org := s.st.Org(orgID)
	for attempt := 0; ; attempt++ {
		p, err := org.PrivacyPolicy(ctx)
		if err != nil {
			return p, err
		}
		n, err := change(p)
		if err != nil {
			return p, err
		}
		n.UpdatedAt = s.o.Now().UTC()
		saved, err := org.SavePrivacyPolicy(ctx, n)
		if errors.Is(err, store.ErrConflict) && attempt < 5 {
			continue
		}
		return saved, err
	}
}

// UpdateCapture changes the capture policy: it applies from every mailbox's next page. Audited
// by counts: the audit log names no excluded address.
func (s *Service) UpdateCapture(ctx context.Context, actor auth.Actor, c CaptureChange) (store.PrivacyPolicy, error) {
	p, err := s.update(ctx, actor.OrgID, c.apply)
	if err != nil {
		return p, err
	}
	return p, s.audit(ctx, actor, "capturePolicy.update", describe(p))
}

func describe(p store.PrivacyPolicy) string {
	var on []string
	for _, r := range []struct {
		on   bool
		what string
	}{{p.ExcludeInternal, "internal-only"}, {p.ExcludeAutomated, "automated senders"}, {p.ExcludePrivateMeetings, "private meetings"},
		{p.ExcludeSoloMeetings, "single-person meetings"}} {
		if r.on {
			on = append(on, r.what)
		}
	}
	if len(p.ExcludedSensitivities) > 0 {
		on = append(on, "sensitivity "+strings.Join(p.ExcludedSensitivities, "/"))
	}
	if p.BulkRecipients > 0 {
		on = append(on, fmt.Sprintf("mail to more than %d", p.BulkRecipients))
	}
	s := fmt.Sprintf("capture policy v%d: %d excluded addresses, %d excluded domains", p.Version, len(p.ExcludedAddresses), len(p.ExcludedDomains))
	if len(on) > 0 {
		s += "; excludes " + strings.Join(on, ", ")
	}
	if p.MetadataOnly {
		s += "; metadata only"
	}
	return s
}

func (s *Service) audit(ctx context.Context, actor auth.Actor, action, summary string) error {
	if s.o.Audit == nil {
		return nil
	}
	return s.o.Audit.Record(ctx, actor, action, actor.OrgID, summary)
}

// SetOptOut records (or withdraws) a person's request not to be captured, for their mailbox
// (by user id). A withdrawal is an admin's; a request may come from the person, through a
// partner's frontend.
func (s *Service) SetOptOut(ctx context.Context, actor auth.Actor, userID string, optedOut bool) (store.PrivacyPolicy, error) {
	p, err := s.update(ctx, actor.OrgID, func(p store.PrivacyPolicy) (store.PrivacyPolicy, error) {
		m := map[string]store.OptOut{}
		for k, v := range p.OptedOut {
			m[k] = v
		}
		if optedOut {
			if len(m) >= 100_000 {
				return p, errkind.E(errkind.ErrInvalid, "too many opt-outs")
			}
			if _, ok := m[userID]; !ok {
				m[userID] = store.OptOut{At: s.o.Now().UTC(), By: actor.Name}
			}
		} else {
			delete(m, userID)
		}
		p.OptedOut = m
		return p, nil
	})
	if err != nil {
		return p, err
	}
	what := "capture opt-out recorded for mailbox " + userID
	if !optedOut {
		what = "capture opt-out withdrawn for mailbox " + userID
	}
	return p, s.audit(ctx, actor, "capturePolicy.optOut", what)
}

// RequestOptOut records a person's own request by their address: false when no mailbox of
// the tenant has it.
func (s *Service) RequestOptOut(ctx context.Context, actor auth.Actor, address string) (bool, error) {
	a, err := Address(address)
	if err != nil {
		return false, err
	}
	owners, err := s.owners(ctx, s.st.Org(actor.OrgID))
	if err != nil {
		return false, err
	}
	for id, as := range owners {
		if slices.Contains(as, a) {
			_, err := s.SetOptOut(ctx, actor, id, true)
			return err == nil, err
		}
	}
	return false, nil
}

// SetMailboxMetadataOnly overrides the organisation's metadata-only mode for one mailbox (nil:
// the organisation's).
func (s *Service) SetMailboxMetadataOnly(ctx context.Context, actor auth.Actor, userID string, on *bool) (store.PrivacyPolicy, error) {
	p, err := s.update(ctx, actor.OrgID, func(p store.PrivacyPolicy) (store.PrivacyPolicy, error) {
		m := map[string]bool{}
		for k, v := range p.MailboxMetadataOnly {
			m[k] = v
		}
		if on == nil {
			delete(m, userID)
		} else {
			if len(m) >= 100_000 {
				return p, errkind.E(errkind.ErrInvalid, "too many mailbox overrides")
			}
			m[userID] = *on
		}
		p.MailboxMetadataOnly = m
		return p, nil
	})
	if err != nil {
		return p, err
	}
	return p, s.audit(ctx, actor, "capturePolicy.metadataOnly", fmt.Sprintf("metadata-only for mailbox %s: %v", userID, describeOverride(on)))
}

func describeOverride(on *bool) string {
	if on == nil {
		return "the organization's"
	}
	return fmt.Sprint(*on)
}

// UpdateRetention sets how long each class of data is kept; the retention job applies it.
func (s *Service) UpdateRetention(ctx context.Context, actor auth.Actor, r store.Retention) (store.PrivacyPolicy, error) {
	for _, d := range []int{r.ActivityDays, r.SubjectDays, r.PreviewDays, r.ContactDays} {
		if d < 0 || d > 36_500 {
			return store.PrivacyPolicy{}, errkind.E(errkind.ErrInvalid, "retention is from 1 to 36,500 days, or 0 to keep for ever")
		}
	}
	p, err := s.update(ctx, actor.OrgID, func(p store.PrivacyPolicy) (store.PrivacyPolicy, error) {
		p.Retention = r
		return p, nil
	})
	if err != nil {
		return p, err
	}
	return p, s.audit(ctx, actor, "retentionPolicy.update", fmt.Sprintf("retention: activities %s, subjects %s, previews %s, contacts %s",
		days(r.ActivityDays), days(r.SubjectDays), days(r.PreviewDays), days(r.ContactDays)))
}

func days(n int) string {
	if n == 0 {
		return "kept"
	}
	return fmt.Sprintf("%d days", n)
}

// newKey is a suppression key.
func newKey() []byte {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return b
}
