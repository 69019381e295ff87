// Package lifecycle is Team Access between the domain packages: what a consent, a change of a
// mailbox's capture, a refused sync and a disconnect set off in discovery (mailboxes), delta
// sync (deltasync) and change notifications (subscriptions), and the background work that runs
// for them. Every piece of that work runs in one Group tied to the service's context and is
// joined before the store closes: nothing the service started outlives it.
package lifecycle
