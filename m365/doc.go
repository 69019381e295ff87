// Package m365 is teamaccess's client of the Microsoft identity platform and Microsoft Graph:
// per-tenant app-only credentials with azidentity, the admin-consent URL, and the national
// clouds' endpoints, or custom ones (how graphsim is reached in demo mode and tests).
//
// It is the only package that imports the Azure and Microsoft Graph SDKs, so that nothing else
// (and not gqlgen's generate) compiles them.
package m365
