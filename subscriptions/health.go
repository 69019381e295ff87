package subscriptions

import (
	"context"
	"time"

	"github.com/teamaccess/teamaccess/store"
)

// Health is one subscription's state, for the mailbox's health.
type Health struct {
	Scope          string
	Resource       string // MAIL, CALENDAR or CONTACTS
	State          string // ACTIVE, PENDING, FAILING
	SubscriptionID string
	ExpiresAt      *time.Time
	RenewedAt      *time.Time
	LastError      string
	LastErrorAt    *time.Time
	Failures       int
	NextAttemptAt  *time.Time
	LastLifecycle  string
}

// MailboxHealth lists a mailbox's subscriptions.
func (s *Service) MailboxHealth(ctx context.Context, orgID, userID string) ([]Health, error) {
	recs, err := s.st.Org(orgID).MailboxGraphSubscriptions(ctx, userID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	out := make([]Health, 0, len(recs))
	for _, r := range recs {
		out = append(out, health(r, now))
	}
	return out, nil
}

func health(r store.GraphSubscription, now time.Time) Health {
	h := Health{Scope: r.Scope, Resource: store.Scope(r.Scope).Resource(), SubscriptionID: r.SubscriptionID, RenewedAt: r.RenewedAt, LastError: r.LastError,
		LastErrorAt: r.LastErrorAt, Failures: r.Failures, LastLifecycle: r.LastLifecycleEvent}
	live := r.SubscriptionID != "" && r.ExpiresAt.After(now)
	if live {
		h.ExpiresAt = &r.ExpiresAt
	}
	if !r.NextAttemptAt.IsZero() {
		h.NextAttemptAt = &r.NextAttemptAt
	}
	switch {
	case r.Failures > 0:
		h.State = "FAILING"
	case live:
		h.State = "ACTIVE"
	default:
		h.State = "PENDING"
	}
	return h
}

// Summary is an organisation's change-notification status.
type Summary struct {
	Enabled                  bool
	Reason                   string
	Active, Failing, Pending int
}

// OrgSummary counts an organisation's subscriptions by state.
func (s *Service) OrgSummary(ctx context.Context, orgID string) (Summary, error) {
	ok, reason := s.Enabled()
	sum := Summary{Enabled: ok, Reason: reason}
	if !ok {
		return sum, nil
	}
	recs, err := s.st.GraphSubscriptions(ctx, orgID)
	if err != nil {
		return sum, err
	}
	now := s.now()
	for _, r := range recs {
		switch health(r, now).State {
		case "ACTIVE":
			sum.Active++
		case "FAILING":
			sum.Failing++
		default:
			sum.Pending++
		}
	}
	return sum, nil
}

// Covered lists the organisation's mailboxes (user ids) whose every delta scope has a live,
// healthy change-notification subscription: their changes arrive as notifications, and their
// scheduled rounds can stretch out.
func (s *Service) Covered(ctx context.Context, orgID string) (map[string]bool, error) {
	if ok, _ := s.Enabled(); !ok {
		return map[string]bool{}, nil
	}
	recs, err := s.st.GraphSubscriptions(ctx, orgID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	healthy, broken := map[string]int{}, map[string]bool{}
	for _, r := range recs {
		if health(r, now).State == "ACTIVE" {
			healthy[r.MailboxID]++
		} else {
			broken[r.MailboxID] = true
		}
	}
	scopes := len(s.sync.Scopes())
	out := map[string]bool{}
	for m, n := range healthy {
		if n >= scopes && !broken[m] {
			out[m] = true
		}
	}
	return out, nil
}
