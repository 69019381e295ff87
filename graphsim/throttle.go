package graphsim

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"
)

// mailboxLimit tracks one app's use of one mailbox: requests in flight and requests in the
// current window (concepts/throttling-limits.md, "Outlook service limits": 10,000 API requests
// in a 10-minute period and 4 concurrent requests, per app ID and mailbox).
type mailboxLimit struct {
	inFlight    int // in flight to the mailbox, or (ConcurrencyPerTenant) to the tenant: the tenant's entry
	windowStart time.Time
	count       int
}

// The subscription service's limits per app per tenant (concepts/throttling-limits.md,
// "Subscription service limits", includes/throttling-subscription-services.md): POST, PUT,
// DELETE and PATCH 1,000 requests per 20 seconds, any request 5,000 per 20 seconds.
const (
	subscriptionWrites   = 1000
	subscriptionRequests = 5000
	subscriptionWindow   = 20 * time.Second
)

// subscriptionLimit is one app's use of a tenant's subscription service in the current window.
type subscriptionLimit struct {
	windowStart time.Time
	all, writes int
}

// admitSubscriptionRequest applies the subscription service's limits, answering 429 with
// Retry-After when over them.
func (s *Sim) admitSubscriptionRequest(w http.ResponseWriter, r *http.Request, c caller) bool {
	write := r.Method != http.MethodGet
	s.mu.Lock()
	key := c.appID + "/" + c.tenant.id
	l := s.subLimits[key]
	if l == nil {
		l = &subscriptionLimit{}
		s.subLimits[key] = l
	}
	now := s.nowLocked()
	if now.Sub(l.windowStart) >= subscriptionWindow {
		l.windowStart, l.all, l.writes = now, 0, 0
	}
	over := l.all >= subscriptionRequests || write && l.writes >= s.subscriptionWrites()
	if !over {
		l.all++
		if write {
			l.writes++
		}
	}
	wait := l.windowStart.Add(subscriptionWindow).Sub(now)
	s.mu.Unlock()
	if over {
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(wait.Seconds())))))
		s.graphError(w, r, http.StatusTooManyRequests, "ApplicationThrottled", "Application is over its subscription service limit.")
	}
	return !over
}

func (s *Sim) subscriptionWrites() int {
	if s.opts.SubscriptionWrites > 0 {
		return s.opts.SubscriptionWrites
	}
	return subscriptionWrites
}

// admit applies the mailbox's limits, answering 429 with Retry-After when over them
// (concepts/throttling.md, "Best practices to handle throttling"). The caller must release.
func (s *Sim) admit(w http.ResponseWriter, r *http.Request, c caller, userID string) (func(), bool) {
	key := c.appID + "/" + c.tenant.id + "/" + userID
	s.mu.Lock()
	l := s.throttle[key]
	if l == nil {
		l = &mailboxLimit{}
		s.throttle[key] = l
	}
	flight := l
	if s.opts.ConcurrencyPerTenant {
		flight = s.throttle[c.appID+"/"+c.tenant.id]
		if flight == nil {
			flight = &mailboxLimit{}
			s.throttle[c.appID+"/"+c.tenant.id] = flight
		}
	}
	now := s.nowLocked()
	if now.Sub(l.windowStart) >= s.opts.RequestWindow {
		l.windowStart, l.count = now, 0
	}
	var reason string
	var wait time.Duration
	switch {
	case flight.inFlight >= s.opts.MailboxConcurrency:
		reason, wait = "MailboxConcurrency", time.Second
	case l.count >= s.opts.MailboxRequests:
		reason, wait = "MailboxRequests", l.windowStart.Add(s.opts.RequestWindow).Sub(now)
	default:
		flight.inFlight++
		l.count++
	}
	s.mu.Unlock()
	if reason != "" {
		if s.opts.FractionalRetryAfter {
			w.Header().Set("Retry-After", strconv.FormatFloat(wait.Seconds(), 'f', 3, 64))
		} else {
			w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(wait.Seconds())))))
		}
		s.graphError(w, r, http.StatusTooManyRequests, "ApplicationThrottled", fmt.Sprintf("Application is over its %s limit.", reason))
		return nil, false
	}
	return func() {
		s.mu.Lock()
		flight.inFlight--
		s.mu.Unlock()
	}, true
}
