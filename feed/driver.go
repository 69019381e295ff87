package feed

import "context"

// Driver is the pull protocol between a transport and a subscription's resolver, defined once
// here: with it, whoever reads the subscription's channel takes its events when they are ready,
// instead of a goroutine of the resolver's waiting on the channel for the subscription's
// lifetime (an idle subscriber then costs no goroutine).
//
// The resolver calls the Driver once, with pull, and gets wake. Contract: pull is called by the
// transport only, never concurrently with itself; it either puts the next event on the channel
// the resolver returned (which must have room for it: the transport reads each event before it
// pulls again), or closes that channel once the stream is over, and returns true; or it returns
// false when nothing is ready. The resolver calls wake whenever pull may have become able to
// return true. Once the operation's context ends the transport pulls no more, and wake does
// nothing.
type Driver func(pull func() bool) (wake func())

type driverKey struct{}

// WithDriver returns ctx carrying a transport's Driver for the operation it runs (gqlws does
// so for its operations).
func WithDriver(ctx context.Context, d func(ctx context.Context) Driver) context.Context {
	return context.WithValue(ctx, driverKey{}, d)
}

// DriverFrom is the Driver a subscription resolver's context carries, or nil when its
// transport has none (SSE, and queries): the resolver then feeds its channel itself.
func DriverFrom(ctx context.Context) Driver {
	d, _ := ctx.Value(driverKey{}).(func(ctx context.Context) Driver)
	if d == nil {
		return nil
	}
	return d(ctx)
}
