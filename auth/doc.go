// Package auth knows who is calling and what they may do: organisations, their API keys and
// roles, the caller's identity in a request context, and the audit log of administrative
// actions.
//
// An API key looks like `tak_<id>_<secret>`. The id is public (it names the key in lists and
// logs); the secret is 256 random bits, stored only as its SHA-256 hash and compared in
// constant time. The `tak_` prefix lets secret scanners recognise a leaked key. Verified keys
// are cached for a few seconds so that authentication costs no database round trip per
// request; revoking a key through this process takes effect at once, through another
// process (the command line, another replica) within that cache time.
package auth
