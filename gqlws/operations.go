package gqlws

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/teamaccess/teamaccess/feed"
)

// operation is one subscribe (or start) message's operation, running until it completes or the
// client stops it. Its context is stored for the same reason as the connection's.
type operation struct {
	c      *conn
	id     string
	ctx    context.Context
	cancel context.CancelFunc

	// Set under c.mu.
	pull      func() bool             // non-nil when the resolver lets the transport drive it
	responses graphql.ResponseHandler // set once the operation is dispatched
	queued    bool                    // in c.ready
}

type operationKey struct{}

// driver is this transport's feed.Driver (whose contract feed states) for a subscription's
// resolver, which finds it in the operation's context (feed.DriverFrom); nil for a query or a
// mutation, whose resolvers return at once.
func driver(ctx context.Context) feed.Driver {
	op, _ := ctx.Value(operationKey{}).(*operation)
	if op == nil || !graphql.HasOperationContext(ctx) || graphql.GetOperationContext(ctx).Operation == nil ||
		graphql.GetOperationContext(ctx).Operation.Operation != ast.Subscription {
		return nil
	}
	return func(pull func() bool) func() {
		op.c.mu.Lock()
		op.pull = pull
		op.c.mu.Unlock()
		return op.wake
	}
}

// subscribe starts an operation. Parsing, validation and the resolver run on a goroutine of the
// operation's own, which ends as soon as the operation is driven or done.
func (c *conn) subscribe(m message) {
	if m.ID == "" {
		c.refuse("Invalid message received: " + m.Type + " without an id")
		return
	}
	ctx, cancel := context.WithCancel(c.ctx)
	op := &operation{c: c, id: m.ID, cancel: cancel}
	op.ctx = feed.WithDriver(context.WithValue(ctx, operationKey{}, op), driver)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		cancel()
		return
	}
	if c.ops[m.ID] != nil {
		c.mu.Unlock()
		cancel()
		if c.d.legacy {
			c.send(encode(m.ID, "error", errorPayload("an operation with id %q is running already", m.ID)))
			return
		}
		c.close(closeDuplicateID, "Subscriber for "+m.ID+" already exists")
		return
	}
	if c.ops == nil {
		c.ops = map[string]*operation{}
	}
	c.ops[m.ID] = op
	c.mu.Unlock()
	go op.start(m.Payload)
}

// stop ends an operation the client no longer wants.
func (c *conn) stop(id string) {
	c.mu.Lock()
	op := c.ops[id]
	delete(c.ops, id)
	c.mu.Unlock()
	if op != nil {
		op.cancel()
		if c.d.legacy {
			c.send(encode(id, "complete", nil))
		}
	}
}

// start parses and validates the operation and runs it: to the end for a query, a mutation or
// a subscription whose resolver does not let itself be driven; up to its first wake otherwise.
func (op *operation) start(payload json.RawMessage) {
	c := op.c
	if !c.allowed() { // the key may have been revoked since the last check
		return
	}
	var params graphql.RawParams
	if err := json.Unmarshal(payload, &params); err != nil || params.Query == "" && params.Extensions == nil {
		op.fail(gqlerror.List{{Message: "the payload is not a GraphQL request: it needs a query (or a persisted query's hash)"}})
		return
	}
	ctx := graphql.StartOperationTrace(op.ctx)
	now := graphql.Now()
	params.ReadTime = graphql.TraceTiming{Start: now, End: now}
	oc, errs := c.exec.CreateOperationContext(ctx, &params)
	if errs != nil {
		resp := c.exec.DispatchError(graphql.WithOperationContext(ctx, oc), errs)
		op.fail(resp.Errors)
		return
	}
	ctx = graphql.WithOperationContext(ctx, oc)
	defer func() {
		if r := recover(); r != nil {
			err := oc.Recover(ctx, r)
			var gerr *gqlerror.Error
			if !errors.As(err, &gerr) {
				gerr = &gqlerror.Error{Message: "internal error"}
			}
			op.fail(gqlerror.List{gerr})
		}
	}()
	responses, ctx := c.exec.DispatchOperation(ctx, oc)
	c.mu.Lock()
	if op.pull != nil { // driven: this goroutine ends here, or after sending what is ready
		op.responses, op.ctx = responses, ctx
		flush := false
		if op.queued && !c.closed { // woken while it was being dispatched
			c.ready = append(c.ready, op)
			flush = !c.flushing
			c.flushing = c.flushing || flush
		}
		c.mu.Unlock()
		if flush {
			c.flush()
		}
		return
	}
	c.mu.Unlock()
	for {
		resp := responses(ctx)
		if resp == nil {
			break
		}
		if !op.sendResponse(resp) {
			return
		}
	}
	op.done()
}

// wake tells the transport that the operation's pull may have an event.
func (op *operation) wake() {
	c := op.c
	c.mu.Lock()
	if c.closed || c.ops[op.id] != op || op.queued {
		c.mu.Unlock()
		return
	}
	op.queued = true
	if op.responses == nil { // still being dispatched: start queues it
		c.mu.Unlock()
		return
	}
	c.ready = append(c.ready, op)
	flush := !c.flushing
	c.flushing = true
	c.mu.Unlock()
	if flush {
		go c.flush()
	}
}

// flush sends the ready operations' events, then ends: there is no goroutine while none are.
func (c *conn) flush() {
	for {
		c.mu.Lock()
		var op *operation
		for len(c.ready) > 0 && op == nil {
			op = c.ready[0]
			c.ready[0] = nil
			c.ready = c.ready[1:]
			op.queued = false
			if c.ops[op.id] != op {
				op = nil // ended meanwhile: its channel may hold an event nobody reads, never pull it again
			}
		}
		if op == nil || c.closed {
			c.flushing = false
			if len(c.ready) == 0 {
				c.ready = nil // release the array
			}
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		for op.pull() {
			resp := op.responses(op.ctx)
			if resp == nil {
				op.done()
				break
			}
			if !op.sendResponse(resp) {
				return
			}
		}
	}
}

// sendResponse sends one result.
func (op *operation) sendResponse(resp *graphql.Response) bool {
	b, err := json.Marshal(resp)
	if err != nil {
		b, _ = json.Marshal(graphql.Response{Errors: gqlerror.List{{Message: fmt.Sprintf("internal error: the result could not be encoded: %v", err)}}})
	}
	return op.c.send(encode(op.id, op.c.d.next(), b))
}

// fail ends an operation that could not run (a request that does not parse or validate) with
// an error message, which ends it in both protocols.
func (op *operation) fail(errs gqlerror.List) {
	b, _ := json.Marshal(errs)
	if op.forget() {
		op.c.send(encode(op.id, "error", b))
	}
}

// done completes an operation that ran to its end.
func (op *operation) done() {
	if op.forget() {
		op.c.send(encode(op.id, "complete", nil))
	}
}

// forget removes the operation from its connection and cancels it; true if the client still
// waits for its end (it did not stop it, and the connection is open).
func (op *operation) forget() bool {
	c := op.c
	c.mu.Lock()
	mine := c.ops[op.id] == op
	if mine {
		delete(c.ops, op.id)
	}
	c.mu.Unlock()
	op.cancel()
	return mine
}
