// Package errkind is the service's one vocabulary of error kinds, in the manner of upspin's
// errors.E and pkgsite's derrors. A domain package says what went wrong with E(kind, message):
// the message is safe to show the caller (it names their input, never internals), and the kind
// is what the edge maps to an HTTP status or a GraphQL code, in one place each
// (resolvers.userError, server's handlers). errors.Is(err, kind) finds the kind through any
// wrapping; Message(err) finds the message.
package errkind

import (
	"errors"
	"fmt"
)

// The kinds. Each is an error itself, for errors.Is.
var (
	// ErrInvalid: the caller's input cannot be acted on (a bad id, cursor, filter, value).
	ErrInvalid = errors.New("invalid input")
	// ErrNotFound: what the caller named does not exist, or not in their organization.
	ErrNotFound = errors.New("not found")
	// ErrUnauthenticated: no credentials, or credentials that are not (or no longer) valid.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrForbidden: valid credentials without the role the operation needs.
	ErrForbidden = errors.New("forbidden")
)

// Error is an error of a kind with a message for the caller, and optionally its cause.
type Error struct {
	Kind error  // one of the kinds above
	Msg  string // safe to show the caller
	Err  error  // the cause, for logs and errors.Is; never shown
}

// E returns an error of the kind whose message, safe to show the caller, is the format's.
// A %w in the format wraps a cause as fmt.Errorf does; its text becomes part of the message.
func E(kind error, format string, args ...any) error {
	wrapped := fmt.Errorf(format, args...)
	return &Error{Kind: kind, Msg: wrapped.Error(), Err: errors.Unwrap(wrapped)}
}

func (e *Error) Error() string { return e.Kind.Error() + ": " + e.Msg }

// Is reports whether target is the error's kind.
func (e *Error) Is(target error) bool { return target == e.Kind }

// Unwrap is the cause.
func (e *Error) Unwrap() error { return e.Err }

// Message is the text to show the caller for err: the message of the first *Error in its chain,
// or "" when it has none (an internal error, reported without its text).
func Message(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Msg
	}
	return ""
}

// KindOf is err's kind, or nil when it has none of them.
func KindOf(err error) error {
	for _, k := range []error{ErrInvalid, ErrNotFound, ErrUnauthenticated, ErrForbidden} {
		if errors.Is(err, k) {
			return k
		}
	}
	return nil
}
