package resolvers

import (
	"context"

	"github.com/teamaccess/teamaccess/attention"
	"github.com/teamaccess/teamaccess/graph"
	"github.com/teamaccess/teamaccess/mailboxes"
)

// issues maps attention's issues to the API's, with their mailboxes read in one query.
func (r *Resolver) issues(ctx context.Context, orgID string, is []attention.Issue) ([]*graph.TeamAccessIssue, error) {
	var ids []string
	for _, i := range is {
		if i.Mailbox != "" {
			ids = append(ids, mailboxPrefix+i.Mailbox)
		}
	}
	ms := map[string]mailboxes.Mailbox{}
	if len(ids) > 0 {
		var err error
		if ms, err = r.Mailboxes.GetMany(ctx, orgID, ids); err != nil {
			return nil, userError(ctx, err)
		}
	}
	out := make([]*graph.TeamAccessIssue, 0, len(is))
	for _, i := range is {
		gi := &graph.TeamAccessIssue{Kind: graph.TeamAccessIssueKind(i.Kind), Severity: graph.IssueSeverity(i.Severity), Message: i.Message, Action: i.Action, Since: i.Since}
		if m, ok := ms[mailboxPrefix+i.Mailbox]; ok && i.Mailbox != "" {
			gi.Mailbox = &m
		}
		out = append(out, gi)
	}
	return out, nil
}
