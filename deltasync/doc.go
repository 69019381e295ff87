// Package deltasync keeps each captured mailbox's mail, meetings and contacts in step with
// Microsoft 365 through Graph delta queries (concepts/delta-query-overview.md): a round pages
// through what changed since the previous round's delta link; the first round, and every full
// resynchronisation after an expired or reset token, reads everything and then tombstones what
// it no longer found.
//
// Each page is written (in bulk) before the link to the next page is saved, so a restart in the
// middle of a round resumes at the page it was on, and a crash between the two replays at most
// one page, which the idempotent writes absorb.
package deltasync
