// Package attention answers the admin's question "what needs me?": the issues of an
// organisation's Team Access, each in words with the action to take, read from what the other
// packages record (the connection, mailbox access, delta rounds, Graph subscriptions, partners'
// webhooks). It decides nothing and writes nothing.
package attention

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/teamaccess/teamaccess/store"
)

// The kinds of issue.
const (
	ConsentRevoked       = "CONSENT_REVOKED"
	ConsentDegraded      = "CONSENT_DEGRADED"
	ConnectionFailing    = "CONNECTION_FAILING"
	MailboxBlocked       = "MAILBOX_BLOCKED"
	SyncFailing          = "SYNC_FAILING"
	TenantSyncFailing    = "TENANT_SYNC_FAILING"
	SubscriptionsFailing = "SUBSCRIPTIONS_FAILING"
	WebhookDisabled      = "WEBHOOK_DISABLED"
	WebhookFailing       = "WEBHOOK_FAILING"
)

// Severities: CRITICAL stops capture for everyone; WARNING for some, or slows it.
const (
	Critical = "CRITICAL"
	Warning  = "WARNING"
)

// Issue is one thing that needs the admin.
type Issue struct {
	Kind, Severity string
	Message        string // what is wrong, in words (Microsoft's, where it gave them)
	Action         string // what to do about it
	Mailbox        string // the user id of the mailbox concerned, if one
	Since          *time.Time
}

// Store is what the package reads.
type Store interface {
	Org(orgID string) store.OrgScope
	GraphSubscriptions(ctx context.Context, orgID string) ([]store.GraphSubscription, error)
}

var _ Store = (*store.Store)(nil)

// newlyBlocked is how long a mailbox an access policy newly leaves out stays an issue.
const newlyBlocked = 7 * 24 * time.Hour

// listed bounds the mailboxes named one by one; the rest are counted in one issue.
const listed = 20

// Service reads the issues.
type Service struct {
	st  Store
	now func() time.Time

	mu   sync.Mutex
	seen map[string]string // org -> the fingerprint of its issues last published
}

// New returns the service; now is time.Now when nil.
func New(st Store, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{st: st, now: now, seen: map[string]string{}}
}

// Issues lists what needs the organisation's admin, the most severe first.
func (s *Service) Issues(ctx context.Context, orgID string) ([]Issue, error) {
	org := s.st.Org(orgID)
	ta, err := org.TeamAccess(ctx)
	if err != nil {
		return nil, err
	}
	var out []Issue
	switch ta.Status {
	case "NOT_CONFIGURED", "PENDING_CONSENT", "":
		return []Issue{}, nil // nothing runs yet: the page's status says what to do
	case "REVOKED":
		out = append(out, Issue{Kind: ConsentRevoked, Severity: Critical, Message: "Consent was revoked in Microsoft 365: nothing is captured." + problem(ta),
			Action: "Ask your Microsoft 365 administrator to authorize teamaccess again (Authorize again).", Since: since(ta)})
	case "DEGRADED":
		out = append(out, Issue{Kind: ConsentDegraded, Severity: Critical, Message: "Some required permissions are no longer granted." + problem(ta),
			Action: "Ask your Microsoft 365 administrator to grant the missing permissions (Authorize again).", Since: since(ta)})
	case "ERROR":
		out = append(out, Issue{Kind: ConnectionFailing, Severity: Critical, Message: "teamaccess cannot reach the tenant." + problem(ta),
			Action: "It retries on its own; if this lasts, check the tenant still exists and authorize again.", Since: since(ta)})
	}
	for _, add := range []func(context.Context, store.OrgScope) ([]Issue, error){s.blocked, s.syncs, s.subscriptions, s.webhooks} {
		is, err := add(ctx, org)
		if err != nil {
			return nil, err
		}
		out = append(out, is...)
	}
	slices.SortStableFunc(out, func(a, b Issue) int { return strings.Compare(a.Severity, b.Severity) }) // CRITICAL < WARNING
	return out, nil
}

func problem(ta store.TeamAccess) string {
	if ta.LastError == nil || ta.LastError.Message == "" {
		return ""
	}
	return " Microsoft said: " + ta.LastError.Message
}

func since(ta store.TeamAccess) *time.Time {
	if ta.LastError != nil {
		return &ta.LastError.At
	}
	t := ta.UpdatedAt
	return &t
}

// blocked: mailboxes an application access policy newly leaves out.
func (s *Service) blocked(ctx context.Context, org store.OrgScope) ([]Issue, error) {
	ms, err := org.Mailboxes(ctx, store.MailboxQuery{Access: []string{"BLOCKED_BY_POLICY"}})
	if err != nil {
		return nil, err
	}
	now := s.now()
	var out []Issue
	more := 0
	for _, m := range ms {
		// Newly: readable (or of another known state) before; not blocked since teamaccess
		// first probed it, which the page's coverage table already says.
		if m.AccessChangedAt == nil || now.Sub(*m.AccessChangedAt) > newlyBlocked || m.PreviousAccess == "" || m.PreviousAccess == "UNKNOWN" {
			continue
		}
		if len(out) == listed {
			more++
			continue
		}
		out = append(out, Issue{Kind: MailboxBlocked, Severity: Warning, Mailbox: m.UserID, Since: m.AccessChangedAt,
			Message: fmt.Sprintf("%s (%s) is no longer captured: an application access policy now leaves it out.", m.DisplayName, m.UserPrincipalName),
			Action:  "If it should be captured, add the user to the policy's security group; policy changes take 30 minutes or more to apply."})
	}
	if more > 0 {
		out = append(out, Issue{Kind: MailboxBlocked, Severity: Warning, Message: fmt.Sprintf("%d more mailboxes were newly left out by an application access policy.", more),
			Action: "Filter the mailboxes by “Blocked by policy” to see them."})
	}
	return out, nil
}

// syncs: mailboxes whose delta rounds fail, or the whole tenant's.
func (s *Service) syncs(ctx context.Context, org store.OrgScope) ([]Issue, error) {
	states, err := org.FailingDeltaStates(ctx, 1000)
	if err != nil || len(states) == 0 {
		return nil, err
	}
	byMailbox := map[string]store.DeltaState{}
	for _, st := range states {
		if cur, ok := byMailbox[st.MailboxID]; !ok || st.Failures > cur.Failures {
			byMailbox[st.MailboxID] = st
		}
	}
	synced, err := org.CountDeltaMailboxes(ctx)
	if err != nil {
		return nil, err
	}
	if len(byMailbox) >= 3 && 2*len(byMailbox) >= synced {
		st := states[0]
		return []Issue{{Kind: TenantSyncFailing, Severity: Critical, Since: st.LastErrorAt,
			Message: fmt.Sprintf("Syncs are failing for %d of %d mailboxes. The last error: %s", len(byMailbox), synced, st.LastError),
			Action:  "teamaccess retries on its own with backoff; if Microsoft's error names a permission or a policy, fix that in Microsoft 365."}}, nil
	}
	ids := make([]string, 0, len(byMailbox))
	for id := range byMailbox {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	ms, err := org.MailboxesByUserID(ctx, ids)
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	for _, m := range ms {
		names[m.UserID] = m.DisplayName
	}
	var out []Issue
	for _, id := range ids[:min(len(ids), listed)] {
		st := byMailbox[id]
		out = append(out, Issue{Kind: SyncFailing, Severity: Warning, Mailbox: id, Since: st.LastErrorAt,
			Message: fmt.Sprintf("%s: the %s sync failed %d times in a row. Microsoft said: %s", or(names[id], id), st.Scope, st.Failures, st.LastError),
			Action:  "teamaccess retries on its own; if it persists, recheck the mailbox's access or resync it."})
	}
	return out, nil
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// subscriptions: Graph change-notification subscriptions that cannot be created or renewed.
func (s *Service) subscriptions(ctx context.Context, org store.OrgScope) ([]Issue, error) {
	recs, err := s.st.GraphSubscriptions(ctx, org.ID())
	if err != nil {
		return nil, err
	}
	var failing []store.GraphSubscription
	for _, r := range recs {
		if r.Failures > 0 {
			failing = append(failing, r)
		}
	}
	if len(failing) == 0 {
		return nil, nil
	}
	return []Issue{{Kind: SubscriptionsFailing, Severity: Warning, Since: failing[0].LastErrorAt,
		Message: fmt.Sprintf("%d of %d change-notification subscriptions cannot be created or renewed: changes arrive with the scheduled syncs instead, minutes late. Microsoft said: %s",
			len(failing), len(recs), failing[0].LastError),
		Action: "teamaccess retries on its own; check that this service's public URL is reachable from Microsoft (--public-url)."}}, nil
}

// webhooks: partners' endpoints the service disabled, or failing now.
func (s *Service) webhooks(ctx context.Context, org store.OrgScope) ([]Issue, error) {
	eps, err := org.WebhookEndpoints(ctx)
	if err != nil {
		return nil, err
	}
	var out []Issue
	for _, e := range eps {
		switch {
		case e.Status == "DISABLED" && e.DisabledReason != "" && !strings.HasPrefix(e.DisabledReason, "disabled by "):
			out = append(out, Issue{Kind: WebhookDisabled, Severity: Warning, Message: fmt.Sprintf("Webhook %s was disabled: %s", e.URL, e.DisabledReason),
				Action: "Fix the receiver, then enable the endpoint (enableWebhookEndpoint): it resumes from the first change not delivered."})
		case e.Status == "ACTIVE" && e.FailingSince != nil:
			out = append(out, Issue{Kind: WebhookFailing, Severity: Warning, Since: e.FailingSince,
				Message: fmt.Sprintf("Webhook %s is failing (%d attempts); it is disabled after 25 hours of failures.", e.URL, e.Attempts),
				Action:  "Check the receiver; its deliveries show each answer."})
		}
	}
	return out, nil
}

// Changed lists those of the organisations whose issues changed since it last looked at them
// (all of those with issues, the first time): the server's watcher asks for the organisations
// its live subscribers follow, and publishes to them.
func (s *Service) Changed(ctx context.Context, orgIDs []string) ([]string, error) {
	var out []string
	for _, org := range orgIDs {
		is, err := s.Issues(ctx, org)
		if err != nil {
			return out, err
		}
		var b strings.Builder
		for _, i := range is {
			b.WriteString(i.Kind + "|" + i.Mailbox + "\n") // not the message: a failure count moving on is no news
		}
		s.mu.Lock()
		prev, ok := s.seen[org]
		s.seen[org] = b.String()
		s.mu.Unlock()
		if prev != b.String() && (ok || b.Len() > 0) {
			out = append(out, org)
		}
	}
	return out, nil
}

// Totals are what teamaccess holds for the organisation: the page's figures at a glance.
func (s *Service) Totals(ctx context.Context, orgID string) (store.Totals, error) {
	return s.st.Org(orgID).Totals(ctx)
}
