package resolvers

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/teamaccess/teamaccess/auth"
	"github.com/teamaccess/teamaccess/errkind"
)

// The error codes of the API (extensions.code).
const (
	CodeUnauthenticated = "UNAUTHENTICATED"
	CodeForbidden       = "FORBIDDEN"
	CodeBadUserInput    = "BAD_USER_INPUT"
	CodeNotFound        = "NOT_FOUND"
	// CodeSubscriberTooSlow ends a subscription that fell behind; extensions.resumeAfter is
	// the cursor to resume from.
	CodeSubscriberTooSlow = "SUBSCRIBER_TOO_SLOW"
)

// codes maps each error kind to its API code: the one place that does.
var codes = map[error]string{
	errkind.ErrUnauthenticated: CodeUnauthenticated,
	errkind.ErrForbidden:       CodeForbidden,
	errkind.ErrInvalid:         CodeBadUserInput,
	errkind.ErrNotFound:        CodeNotFound,
}

// userError turns a domain error the caller can act on (one of errkind's kinds) into a GraphQL
// error with its code and its message for the caller. Any other error passes through, and the
// server reports it as INTERNAL without its text.
func userError(ctx context.Context, err error) error {
	kind := errkind.KindOf(err)
	if kind == nil {
		return err
	}
	msg := errkind.Message(err)
	if msg == "" {
		msg = kind.Error()
	}
	return &gqlerror.Error{Message: msg, Path: graphql.GetPath(ctx), Extensions: map[string]any{"code": codes[kind]}}
}

// HasRole implements the @hasRole directive: the field resolves only for callers whose key
// has the role.
func HasRole(ctx context.Context, _ any, next graphql.Resolver, role auth.Role) (any, error) {
	if _, err := auth.Require(ctx, role); err != nil {
		return nil, userError(ctx, err)
	}
	return next(ctx)
}

// caller returns the authenticated identity; the HTTP and websocket layers guarantee one.
func caller(ctx context.Context) (auth.Identity, error) {
	id, ok := auth.FromContext(ctx)
	if !ok {
		return auth.Identity{}, userError(ctx, auth.ErrUnauthenticated)
	}
	return id, nil
}
