package lifecycle

import (
	"context"
	"sync"
)

// Group runs the service's background work under one context and joins it. Go after the
// context ended runs nothing.
type Group struct {
	ctx context.Context
	wg  sync.WaitGroup
}

// NewGroup returns a group whose work runs under ctx; cancel ctx, then Wait, to stop it.
func NewGroup(ctx context.Context) *Group { return &Group{ctx: ctx} }

// Go runs f in a goroutine of the group, with the group's context.
func (g *Group) Go(f func(ctx context.Context)) {
	if g.ctx.Err() != nil {
		return
	}
	g.wg.Go(func() { f(g.ctx) })
}

// Wait waits for every goroutine of the group to return.
func (g *Group) Wait() { g.wg.Wait() }
