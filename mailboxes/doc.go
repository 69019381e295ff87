// Package mailboxes discovers the users of an organisation's tenant and which of their
// mailboxes teamaccess may read. Microsoft 365 admins can limit the app to a security group with
// an application access policy (or RBAC for Applications); Graph then answers 403 for the other
// mailboxes, and policy changes take 30 minutes to over an hour to apply. So every mailbox is
// probed with one cheap read, and re-probed on a schedule that follows how policies propagate:
// often while a mailbox is blocked or failing, daily once it is readable.
//
// A mailbox is captured (synced, with Graph subscriptions) when it is accessible, its user is
// enabled and present, and the admin has not switched capture off. Transitions of that one
// fact are announced through Options.OnCapture: the sync and subscription parts hook in there.
package mailboxes
