// Package backoff says how long to wait before trying again: the wait doubles with each failure
// up to a cap, half of it fixed and half random ("equal jitter"), so that many mailboxes or
// subscriptions that failed together do not all come back at the same moment. The one formula
// of the syncer's, the subscription keeper's and the notification worker's retries.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Delay is the wait after n failures (n from 0): base doubled n times, at most max, of which
// a random half.
func Delay(base, max time.Duration, n int) time.Duration {
	d := max
	if n < 32 && base<<n > 0 && base<<n < max {
		d = base << n
	}
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}
