package resolvers

import (
	"context"
	"sync"

	"github.com/teamaccess/teamaccess/feed"
)

// watcher is a feed's Watch for one organisation.
type watcher[T any] func(ctx context.Context, notify func()) <-chan T

// stream is the channel a subscription resolver hands gqlgen: first (when not nil), then the
// feed's values that keep accepts (all when keep is nil), until ctx ends. Over gqlws the
// transport pulls each value when the feed says there is one, so an idle subscription holds no
// goroutine; elsewhere (SSE) a goroutine forwards them.
func stream[T any](ctx context.Context, watch watcher[T], first *T, keep func(T) bool) <-chan *T {
	out := make(chan *T, 1)
	if first != nil {
		out <- first
	}
	if drive := feed.DriverFrom(ctx); drive != nil {
		var (
			mu   sync.Mutex
			wake func()
		)
		values := watch(ctx, func() {
			mu.Lock()
			w := wake
			mu.Unlock()
			if w != nil {
				w()
			}
		})
		closed := false
		w := drive(func() bool {
			if len(out) > 0 {
				return true // first, still there
			}
			for {
				select {
				case v, ok := <-values:
					if !ok {
						if closed {
							return false
						}
						closed = true
						close(out)
						return true
					}
					if keep == nil || keep(v) {
						out <- &v
						return true
					}
				default:
					return false
				}
			}
		})
		mu.Lock()
		wake = w
		mu.Unlock()
		w() // values (or first) may be there already
		return out
	}
	values := watch(ctx, nil)
	go func() {
		defer close(out)
		for v := range values {
			if keep != nil && !keep(v) {
				continue
			}
			select {
			case out <- &v:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}
