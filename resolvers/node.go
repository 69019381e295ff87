package resolvers

import (
	"context"
	"errors"
	"strings"

	"github.com/teamaccess/teamaccess/auth"
	"github.com/teamaccess/teamaccess/graph"
	"github.com/teamaccess/teamaccess/mailboxes"
)

// node finds an object of the caller's organisation by its global ID, whose prefix names its
// type. Objects of other organisations, and unknown IDs, are null: the caller cannot tell one
// from the other.
func (r *queryResolver) node(ctx context.Context, id string) (graph.Node, error) {
	who, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	var n graph.Node
	switch {
	case strings.HasPrefix(id, "org_"):
		if id != who.OrgID {
			return nil, nil
		}
		var org auth.Organization
		org, err = r.Directory.Organization(ctx, id)
		n = org
	case strings.HasPrefix(id, "key_"):
		if _, err := auth.Require(ctx, auth.RoleAdmin); err != nil {
			return nil, userError(ctx, err)
		}
		var k auth.Key
		k, err = r.Directory.Key(ctx, who.OrgID, id)
		n = k
	case strings.HasPrefix(id, "aud_"):
		if _, err := auth.Require(ctx, auth.RoleAdmin); err != nil {
			return nil, userError(ctx, err)
		}
		var e auth.AuditEntry
		e, err = r.Directory.AuditEntry(ctx, who.OrgID, id)
		n = e
	case strings.HasPrefix(id, "mbx_"):
		m, err := r.Resolver.Mailboxes.Get(ctx, who.OrgID, id)
		if errors.Is(err, mailboxes.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, userError(ctx, err)
		}
		return m, nil
	case strings.HasPrefix(id, "act_"):
		a, err := r.Resolver.Activities.Get(ctx, who.OrgID, id)
		if err != nil || a == nil {
			return nil, userError(ctx, err)
		}
		return a.(graph.Node), nil
	case strings.HasPrefix(id, "con_"):
		c, err := r.Resolver.Activities.GetContact(ctx, who.OrgID, id)
		if err != nil || c == nil {
			return nil, userError(ctx, err)
		}
		return c, nil
	default:
		return nil, nil
	}
	if errors.Is(err, auth.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, userError(ctx, err)
	}
	return n, nil
}
