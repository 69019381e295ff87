// Package subscriptions keeps Microsoft Graph change-notification subscriptions for every
// captured mailbox and turns the notifications Graph delivers into delta rounds.
//
// One subscription per delta scope of a mailbox (each synced mail folder, the calendar, the
// contacts: concepts/change-notifications-overview.md), created with the longest lifetime Outlook
// resources allow, renewed well before it ends, recreated when Graph removed it, deleted when the
// mailbox stops being captured or Team Access is disconnected. Each has its own random
// clientState; only its SHA-256 is stored.
//
// Intake (concepts/change-notifications-delivery-webhooks.md): a delivery is parsed strictly, each
// item's clientState checked in constant time against its subscription (mismatches are dropped
// and counted), and the batch is written to the durable inbox, together with the batches of
// concurrent deliveries in one bulk insert, before the server answers 202. Graph retries what is
// not acknowledged, so a failed write answers 503 and nothing acknowledged is ever lost.
//
// A worker drains the inbox: the notifications of a burst are collapsed to one delta round per
// mailbox scope (a round returns every change since the last one in a request or two, whatever
// the burst's size, and sees deletions and moves that fetching items one by one would not),
// lifecycle events are answered (reauthorize; recreate then resync; resync), and entries are
// marked done only after their round succeeded, so a crash replays them (at least once; the
// rounds' writes are idempotent).
package subscriptions
