package resolvers

import (
	"github.com/teamaccess/teamaccess/activities"
	"github.com/teamaccess/teamaccess/auth"
	"github.com/teamaccess/teamaccess/graph"
	"github.com/teamaccess/teamaccess/mailboxes"
	"github.com/teamaccess/teamaccess/outbound"
)

// What fields cost, for the complexity limit (server: 5,000 a request). A field costs 1 and its
// selection; a connection its selection times its page size; a field that costs a store query
// (a connection, a lookup by id, a count, a mailbox's health) storeCost more, so that a request
// makes a bounded number of store queries however it is written: 1,000 aliases of activities(first:
// 1) or of node(id:) once took every pooled database connection. A list the store hands over
// whole (an email's participants) is costed at listEstimate of its items. TestEveryListIsCosted
// walks the schema: a list or connection field without a cost here fails it.
// StoreCost is what one store query costs, in complexity points.
const StoreCost = 25

const (
	storeCost    = StoreCost
	listEstimate = 5
)

func connection(child int, first, last *int, def int) int {
	n := def
	switch {
	case first != nil:
		n = pageSize(first, def)
	case last != nil:
		n = pageSize(last, def)
	}
	// A page over the largest is refused by its resolver (BAD_USER_INPUT): cost it as the largest.
	return storeCost + child*min(n, activities.MaxPage)
}

func lookup(child int) int   { return storeCost + child }
func inMemory(child int) int { return 1 + child*listEstimate }
func edges(child int) int    { return 1 + child } // the connection multiplies by its page size

// setComplexity gives every list, connection and store-reaching field its cost.
func setComplexity(c *graph.ComplexityRoot) {
	q := &c.Query
	q.Activities = func(child int, _ *activities.Filter, first *int, _ *string, last *int, _ *string, _ *graph.ActivityOrder) int {
		return connection(child, first, last, activities.DefaultPageSize)
	}
	q.Contacts = func(child int, _ *activities.ContactFilter, first *int, _ *string, last *int, _ *string) int {
		return connection(child, first, last, activities.DefaultPageSize)
	}
	q.Mailboxes = func(child int, _ *graph.MailboxFilter, first *int, _ *string, last *int, _ *string) int {
		return connection(child, first, last, 50)
	}
	q.AuditLog = func(child int, first *int, _ *string) int { return connection(child, first, nil, auth.DefaultPageSize) }
	q.APIKeys = func(child int) int { return storeCost + child*auth.MaxPageSize }
	q.Viewer, q.ServerInfo, q.TeamAccess = lookup, lookup, lookup
	q.Activity = func(child int, _ string) int { return lookup(child) }
	q.Mailbox = func(child int, _ string) int { return lookup(child) }
	q.Node = func(child int, _ string) int { return lookup(child) }
	q.MailboxKindCapture = func(child int) int { return storeCost + child*len(mailboxes.Kinds) }
	c.Mutation.SetMailboxKindCapture = func(child int, _ mailboxes.Kind, _ bool) int {
		return storeCost + child*len(mailboxes.Kinds)
	}
	c.Mutation.RecheckMailboxAccess = func(child int, ids []string) int {
		return storeCost + child*max(len(ids), mailboxes.MaxPage)
	}
	s := &c.Subscription
	s.ActivityChanged = func(child int, _ *activities.Filter, _ *string) int { return lookup(child) }
	s.MailboxChanged = func(child int, _ *graph.MailboxFilter) int { return lookup(child) }
	s.TeamAccessChanged = func(child int) int { return lookup(child) }

	c.ActivityConnection.Edges, c.ContactConnection.Edges = edges, edges
	c.MailboxConnection.Edges, c.AuditEntryConnection.Edges = edges, edges
	c.ActivityConnection.TotalCount = lookup
	c.Email.Participants, c.Email.To, c.Email.Cc, c.Email.Bcc = inMemory, inMemory, inMemory, inMemory
	c.Meeting.Participants, c.Meeting.Attendees = inMemory, inMemory
	c.Contact.Emails, c.Contact.Phones = inMemory, inMemory
	c.ApiKey.AllowedOrigins = inMemory
	q.WebhookEndpoints = func(child int) int { return storeCost + child*outbound.MaxEndpoints }
	c.WebhookEndpoint.Deliveries = func(child int, first *int, _ *string) int { return connection(child, first, nil, 20) }
	q.WebhookDeliveries = func(child int, _ string, first *int, _ *string) int {
		return storeCost + connection(child, first, nil, 20)
	}
	c.WebhookDeliveryConnection.Edges = edges
	c.WebhookEndpoint.Backlog = lookup
	c.Mailbox.SyncHealth = func(child int) int { return storeCost + child*listEstimate }
	c.Mailbox.ChangeNotifications = func(child int) int { return storeCost + child*listEstimate }
	// The capture policy is one document; a preview or a policy applied backwards reads every
	// stored activity and contact in batches: costed as 100 store queries, an erasure as 20.
	q.CapturePolicy, q.RetentionPolicy = lookup, lookup
	q.PreviewCapturePolicy = func(child int, _ graph.CapturePolicyInput) int { return 100*storeCost + child }
	c.Mutation.UpdateCapturePolicy = func(child int, _ graph.CapturePolicyInput, apply *bool) int {
		if apply != nil && *apply {
			return 100*storeCost + child
		}
		return lookup(child)
	}
	c.Mutation.EraseDataForEmailAddress = func(child int, _ string, _ *bool) int { return 20*storeCost + child }
	c.CapturePolicyPreview.ByRule = inMemory
	cp := &c.CapturePolicy
	policyList := func(child int) int { return 1 + child*50 } // up to 1,000 entries
	cp.ExcludedAddresses, cp.ExcludedDomains, cp.ExcludedSensitivities = policyList, policyList, inMemory
	cp.MailboxMetadataOnly, cp.OptedOutMailboxes = policyList, policyList
	ta := &c.TeamAccess
	ta.RequiredPermissions, ta.GrantedPermissions, ta.MissingPermissions, ta.ExtraPermissions = inMemory, inMemory, inMemory, inMemory
	ta.MailboxSummary = lookup
	ta.ChangeNotifications = lookup
	ta.TenantDomain = lookup
	ta.Totals = func(child int) int { return 4*storeCost + child }
	ta.Backfill = func(child int) int { return 2*storeCost + child }
	ta.Issues = func(child int) int { return 5*storeCost + child*listEstimate } // five reads, a few issues
}
