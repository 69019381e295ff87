package resolvers

import (
	"context"
	"slices"
	"strings"

	"github.com/teamaccess/teamaccess/auth"
	"github.com/teamaccess/teamaccess/graph"
	"github.com/teamaccess/teamaccess/privacy"
)

// PrivacyService is what the resolvers need of privacy.Service.
type PrivacyService interface {
	Policy(ctx context.Context, orgID string) (privacy.Policy, error)
	UpdateCapture(ctx context.Context, actor auth.Actor, c privacy.CaptureChange) (privacy.Policy, error)
	Preview(ctx context.Context, orgID string, c privacy.CaptureChange) (privacy.Count, error)
	Apply(ctx context.Context, actor auth.Actor) (privacy.Count, error)
	SetOptOut(ctx context.Context, actor auth.Actor, userID string, optedOut bool) (privacy.Policy, error)
	RequestOptOut(ctx context.Context, actor auth.Actor, address string) (bool, error)
	SetMailboxMetadataOnly(ctx context.Context, actor auth.Actor, userID string, on *bool) (privacy.Policy, error)
	Erase(ctx context.Context, actor auth.Actor, address string, confirm bool) (privacy.Erasure, error)
	UpdateRetention(ctx context.Context, actor auth.Actor, r privacy.Retention) (privacy.Policy, error)
}

var _ PrivacyService = (*privacy.Service)(nil)

const mailboxPrefix = "mbx_"

// capturePolicy is the API's view of a policy.
func capturePolicy(p privacy.Policy) *graph.CapturePolicy {
	out := &graph.CapturePolicy{ExcludedAddresses: orEmpty(p.ExcludedAddresses), ExcludedDomains: orEmpty(p.ExcludedDomains),
		ExcludeInternal: p.ExcludeInternal, ExcludeAutomatedSenders: p.ExcludeAutomated, ExcludePrivateMeetings: p.ExcludePrivateMeetings,
		ExcludeSinglePersonMeetings: p.ExcludeSoloMeetings, MetadataOnly: p.MetadataOnly, Version: int(p.Version),
		ExcludedSensitivities: []graph.Sensitivity{}, MailboxMetadataOnly: []*graph.MailboxMetadataOnly{}, OptedOutMailboxes: []string{}}
	for _, x := range p.ExcludedSensitivities {
		out.ExcludedSensitivities = append(out.ExcludedSensitivities, graph.Sensitivity(strings.ToUpper(x)))
	}
	if p.BulkRecipients > 0 {
		out.BulkRecipientLimit = &p.BulkRecipients
	}
	for id, on := range p.MailboxMetadataOnly {
		out.MailboxMetadataOnly = append(out.MailboxMetadataOnly, &graph.MailboxMetadataOnly{Mailbox: mailboxPrefix + id, MetadataOnly: on})
	}
	slices.SortFunc(out.MailboxMetadataOnly, func(a, b *graph.MailboxMetadataOnly) int { return strings.Compare(a.Mailbox, b.Mailbox) })
	for id := range p.OptedOut {
		out.OptedOutMailboxes = append(out.OptedOutMailboxes, mailboxPrefix+id)
	}
	slices.Sort(out.OptedOutMailboxes)
	if !p.UpdatedAt.IsZero() {
		out.UpdatedAt = &p.UpdatedAt
	}
	return out
}

func orEmpty(xs []string) []string {
	if xs == nil {
		return []string{}
	}
	return xs
}

// captureChange reads the API's input; a list given empty clears it.
func captureChange(in graph.CapturePolicyInput) privacy.CaptureChange {
	c := privacy.CaptureChange{ExcludeInternal: in.ExcludeInternal, ExcludeAutomated: in.ExcludeAutomatedSenders,
		ExcludePrivateMeetings: in.ExcludePrivateMeetings, ExcludeSoloMeetings: in.ExcludeSinglePersonMeetings,
		MetadataOnly: in.MetadataOnly, BulkRecipients: in.BulkRecipientLimit}
	if in.ExcludedAddresses != nil {
		c.ExcludedAddresses = &in.ExcludedAddresses
	}
	if in.ExcludedDomains != nil {
		c.ExcludedDomains = &in.ExcludedDomains
	}
	if in.ExcludedSensitivities != nil {
		xs := make([]string, len(in.ExcludedSensitivities))
		for i, x := range in.ExcludedSensitivities {
			xs[i] = strings.ToLower(string(x))
		}
		c.ExcludedSensitivities = &xs
	}
	return c
}

func preview(n privacy.Count) *graph.CapturePolicyPreview {
	out := &graph.CapturePolicyPreview{Activities: n.Activities, Contacts: n.Contacts, ByRule: []*graph.CaptureRuleCount{}}
	for rule, k := range n.ByRule {
		out.ByRule = append(out.ByRule, &graph.CaptureRuleCount{Rule: rule, Count: k})
	}
	slices.SortFunc(out.ByRule, func(a, b *graph.CaptureRuleCount) int { return strings.Compare(a.Rule, b.Rule) })
	return out
}

func retention(r privacy.Retention) *graph.RetentionPolicy {
	days := func(n int) *int {
		if n == 0 {
			return nil
		}
		return &n
	}
	return &graph.RetentionPolicy{ActivityDays: days(r.ActivityDays), SubjectDays: days(r.SubjectDays), PreviewDays: days(r.PreviewDays), ContactDays: days(r.ContactDays)}
}

// mailboxPolicy changes the policy for one mailbox of the caller's organisation (by its
// global id) and answers the policy.
func (r *Resolver) mailboxPolicy(ctx context.Context, id string, change func(actor auth.Actor, userID string) (privacy.Policy, error)) (*graph.CapturePolicy, error) {
	who, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	m, err := r.Mailboxes.Get(ctx, who.OrgID, id)
	if err != nil {
		return nil, userError(ctx, err)
	}
	p, err := change(auth.ActorOf(who), m.UserID)
	if err != nil {
		return nil, userError(ctx, err)
	}
	return capturePolicy(p), nil
}
