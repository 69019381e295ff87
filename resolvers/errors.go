package resolvers

import (
	"context"
	"errors"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/teamaccess/teamaccess/access"
	"github.com/teamaccess/teamaccess/activities"
	"github.com/teamaccess/teamaccess/auth"
	"github.com/teamaccess/teamaccess/deltasync"
	"github.com/teamaccess/teamaccess/mailboxes"
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

// userError turns a domain error the caller can act on into a GraphQL error with its code.
// Any other error passes through, and the server reports it as INTERNAL without its text.
func userError(ctx context.Context, err error) error {
	var code string
	switch {
	case err == nil:
		return nil
	case errors.Is(err, auth.ErrUnauthenticated):
		code = CodeUnauthenticated
	case errors.Is(err, auth.ErrForbidden):
		code = CodeForbidden
	case errors.Is(err, auth.ErrInvalid), errors.Is(err, access.ErrInvalid), errors.Is(err, mailboxes.ErrInvalid), errors.Is(err, deltasync.ErrInvalid),
		errors.Is(err, activities.ErrInvalid):
		code = CodeBadUserInput
	case errors.Is(err, auth.ErrNotFound), errors.Is(err, mailboxes.ErrNotFound):
		code = CodeNotFound
	default:
		return err
	}
	return &gqlerror.Error{
		Message:    strings.TrimPrefix(strings.TrimPrefix(err.Error(), "invalid input: "), "not found: "),
		Path:       graphql.GetPath(ctx),
		Extensions: map[string]any{"code": code},
	}
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
