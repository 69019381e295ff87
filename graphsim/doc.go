// Package graphsim simulates the parts of the Microsoft identity platform and Microsoft Graph
// v1.0 that teamaccess uses, faithfully enough that the real client stack (azidentity and
// msgraph-sdk-go) talks to it exactly as to Microsoft. It is the Graph in every test and the
// sandbox tenant of demo mode.
//
// Everything it does follows Microsoft's documentation; each behaviour cites its page, as a
// path in the microsoft-graph-docs-contrib repository (api-reference/…, concepts/…) or the
// entra-docs repository (docs/identity-platform/…), which are the sources of
// learn.microsoft.com/graph and learn.microsoft.com/entra.
//
// Surfaces, each on its own loopback listener:
//   - the identity platform (HTTPS, with a certificate authority generated at start):
//     openid-configuration, JWKS, the token endpoint, and the admin-consent page;
//   - Microsoft Graph v1.0 (HTTPS): users, mail folders, messages, calendar view, events,
//     contact folders, contacts, their delta functions, subscriptions and $batch;
//   - a control API (plain HTTP) that seeds tenants, changes mailboxes, policies and consent,
//     injects faults and triggers lifecycle events. The same control is a Go API on *Sim.
//
// Behaviours worth having: app-only tokens whose roles are what the tenant admin granted;
// application access policies that answer 403 for mailboxes outside a group, taking effect
// after a delay; per-mailbox throttling (concurrency and request rate) with Retry-After; delta
// rounds with paging, @removed entries, replays and resets; subscriptions validated with the
// validationToken handshake and change notifications delivered with retries and lifecycle
// events.
package graphsim
