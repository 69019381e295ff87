package resolvers

import (
	"context"
	"errors"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vikstrous/dataloadgen"

	"github.com/teamaccess/teamaccess/activities"
	"github.com/teamaccess/teamaccess/auth"
	"github.com/teamaccess/teamaccess/mailboxes"
)

// loaders batch what a page of activities asks for field by field, one store query per kind
// instead of one per item. They live for one query or mutation: a subscription, which lasts,
// reads afresh for each change.
type loaders struct {
	mailboxes *dataloadgen.Loader[string, mailboxes.Mailbox]
	contacts  *dataloadgen.Loader[string, activities.Contact]
}

type loadersKey struct{}

// Loaders is the gqlgen extension that gives each query and mutation its own loaders.
type Loaders struct {
	R *Resolver
	// Wait is how long a loader gathers keys before it fetches them; 2 ms if zero.
	Wait time.Duration
}

var (
	_ graphql.HandlerExtension     = Loaders{}
	_ graphql.OperationInterceptor = Loaders{}
)

// ExtensionName names the extension.
func (Loaders) ExtensionName() string { return "Loaders" }

// Validate accepts any schema.
func (Loaders) Validate(graphql.ExecutableSchema) error { return nil }

// InterceptOperation adds fresh loaders to queries and mutations of an authenticated caller.
func (l Loaders) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	op := graphql.GetOperationContext(ctx)
	who, ok := auth.FromContext(ctx)
	if !ok || op.Operation == nil || op.Operation.Operation == ast.Subscription {
		return next(ctx)
	}
	org := who.OrgID
	d := l.Wait
	if d <= 0 {
		d = 2 * time.Millisecond
	}
	wait := dataloadgen.WithWait(d)
	ld := &loaders{
		mailboxes: dataloadgen.NewMappedLoader(func(ctx context.Context, ids []string) (map[string]mailboxes.Mailbox, error) {
			return l.R.Mailboxes.GetMany(ctx, org, ids)
		}, wait),
		contacts: dataloadgen.NewMappedLoader(func(ctx context.Context, emails []string) (map[string]activities.Contact, error) {
			return l.R.Activities.ContactsByEmail(ctx, org, emails)
		}, wait),
	}
	return next(context.WithValue(ctx, loadersKey{}, ld))
}

func loadersOf(ctx context.Context) *loaders {
	ld, _ := ctx.Value(loadersKey{}).(*loaders)
	return ld
}

// loadOne reads one value through the request's loader, or, where there is none (a
// subscription), with a batch of one. Found says whether the key has a value.
func loadOne[V any](ctx context.Context, ld *dataloadgen.Loader[string, V], key string,
	fetch func(ctx context.Context, orgID string, keys []string) (map[string]V, error)) (v V, found bool, err error) {
	who, err := caller(ctx)
	if err != nil {
		return v, false, err
	}
	if ld != nil {
		v, err = ld.Load(ctx, key)
	} else {
		var vs map[string]V
		if vs, err = fetch(ctx, who.OrgID, []string{key}); err == nil {
			var ok bool
			if v, ok = vs[key]; !ok {
				err = dataloadgen.ErrNotFound
			}
		}
	}
	if errors.Is(err, dataloadgen.ErrNotFound) {
		return v, false, nil
	}
	return v, err == nil, err
}

// mailboxByID reads an activity's or contact's mailbox.
func (r *Resolver) mailboxByID(ctx context.Context, id string) (*mailboxes.Mailbox, error) {
	var ld *dataloadgen.Loader[string, mailboxes.Mailbox]
	if l := loadersOf(ctx); l != nil {
		ld = l.mailboxes
	}
	m, found, err := loadOne(ctx, ld, id, r.Mailboxes.GetMany)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, userError(ctx, mailboxes.ErrNotFound)
	}
	return &m, nil
}

// contactByEmail reads the contact with an address, nil when there is none.
func (r *Resolver) contactByEmail(ctx context.Context, email string) (*activities.Contact, error) {
	var ld *dataloadgen.Loader[string, activities.Contact]
	if l := loadersOf(ctx); l != nil {
		ld = l.contacts
	}
	c, found, err := loadOne(ctx, ld, email, r.Activities.ContactsByEmail)
	if err != nil || !found {
		return nil, err
	}
	return &c, nil
}
