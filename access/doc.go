// Package access is Team Access: an organisation's connection to its Microsoft 365 tenant.
// An admin creates an admin-consent link; the tenant's Microsoft 365 administrator grants the
// app's read-only application permissions on Microsoft's site; Microsoft redirects to the
// consent callback, which binds the tenant to the organisation only after an app-only token for
// that tenant proves the grant. A scheduled re-verification notices revoked consent.
//
// The package reaches Microsoft through the Verifier interface (implemented over package m365
// by the server), so that it, and gqlgen's generate that binds to its types, never compile the
// Microsoft SDKs.
package access
