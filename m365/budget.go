package m365

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/time/rate"
)

// Outlook's limits on an app (concepts/throttling-limits.md, "Outlook service limits"): 4
// concurrent requests and 10,000 requests in 10 minutes "per app ID and mailbox combination".
// Implementers read the 4 as the app's across mailboxes too (#20), so the scope of the 4 is a
// setting: ConcurrencyPerMailbox (the page's words, the default) or ConcurrencyPerTenant (4 at
// once for the app in each tenant, whatever the mailbox).
const (
	ConcurrencyPerMailbox = "mailbox"
	ConcurrencyPerTenant  = "tenant"

	outlookConcurrency = 4
	// A mailbox's requests: 2,000 at once, then 8,000 over 10 minutes, so that no 10 minutes
	// hold more than the 10,000 allowed, however Graph lays its window.
	mailboxBurst    = 2000
	mailboxPerSec   = 8000.0 / 600
	budgetedPrefix  = "/users/"
	budgetedVersion = "/v1.0"

	// The subscription service per app and tenant (concepts/throttling-limits.md, "Subscription
	// service limits"): writes 1,000 per 20 seconds (200 at once, then 800 over 20 s), any
	// request 5,000; lists kept to 40 per 20 seconds (8 at once, then 32), as #20 asks, which
	// pages through 4,000 subscriptions.
	subscriptionWriteBurst  = 200
	subscriptionWritePerSec = 800.0 / 20
	subscriptionListBurst   = 8
	subscriptionListPerSec  = 32.0 / 20

	// The identity and access service per app and tenant (concepts/throttling-limits.md,
	// "Identity and access service limits"): resource units per 10 seconds by the tenant's size,
	// 3,500 under 50 users, 5,000 up to 500, 8,000 above; the client keeps to the smallest,
	// whatever the tenant's size.
	identityUnits     = 3500
	identityUnitsPerS = 3500.0 / 10
)

// budget keeps one tenant's Graph requests within those limits by waiting for them here (a
// request that would go over waits its turn) instead of earning 429s. Each attempt passes it:
// the retry middleware sits above it. The tenant's subscription requests are paced as the
// subscription service allows; other requests that name no mailbox (users delta, $batch) pass.
type budget struct {
	next  http.RoundTripper
	scope string
	// share is how many processes share the app's tenant budgets (1 if nil); each keeps its
	// part of them: a mailbox is worked by one process at a time, a tenant by all.
	share  func() int
	shared int // the share the tenant budgets are set for
	// writes and lists pace the tenant's subscription requests; units its directory reads, in
	// the identity service's resource units.
	writes, lists, units *rate.Limiter
	mu                   sync.Mutex
	slots                map[string]chan struct{} // by mailbox, or "" for the tenant
	pace                 map[string]*rate.Limiter // by mailbox
}

func newBudget(next http.RoundTripper, scope string, share func() int) *budget {
	return &budget{next: next, scope: scope, share: share, shared: 1, slots: map[string]chan struct{}{}, pace: map[string]*rate.Limiter{},
		writes: rate.NewLimiter(rate.Limit(subscriptionWritePerSec), subscriptionWriteBurst),
		lists:  rate.NewLimiter(rate.Limit(subscriptionListPerSec), subscriptionListBurst),
		units:  rate.NewLimiter(rate.Limit(identityUnitsPerS), identityUnits)}
}

// mailboxOf is the mailbox a Graph request reads: /v1.0/users/{id}/…, lowercased (ids and
// addresses are case-insensitive).
func mailboxOf(path string) string {
	_, rest, ok := strings.Cut(path, budgetedVersion+budgetedPrefix)
	if !ok {
		return ""
	}
	id, more, _ := strings.Cut(rest, "/")
	if more == "" || id == "" {
		return "" // the user itself (a probe of the directory), not its mailbox
	}
	return strings.ToLower(id)
}

// identityCost is a directory request's resource units (users or users/delta 2, a user 1;
// $select 1 less, $expand 1 more, $top under 20 1 less; never under 1), 0 for any other request.
func identityCost(req *http.Request) int {
	_, rest, ok := strings.Cut(req.URL.Path, budgetedVersion+"/users")
	if !ok || rest != "" && rest[0] != '/' || strings.Count(strings.Trim(rest, "/"), "/") > 0 {
		return 0 // a mailbox's (users/{id}/…), or not the directory's
	}
	cost := 1
	if req.Method == http.MethodGet && (rest == "" || rest == "/" || strings.HasPrefix(rest, "/delta")) {
		cost = 2
	}
	q := req.URL.Query()
	if q.Has("$select") {
		cost--
	}
	if q.Has("$expand") {
		cost++
	}
	if top, err := strconv.Atoi(q.Get("$top")); err == nil && top < 20 {
		cost--
	}
	return max(1, cost)
}

// isSubscriptions says whether a Graph request is the subscription service's.
func isSubscriptions(path string) bool {
	_, rest, ok := strings.Cut(path, budgetedVersion+"/subscriptions")
	return ok && (rest == "" || rest[0] == '/')
}

// reshare sets the tenant budgets to this process's part of them, when the number of processes
// sharing them changed: a part of the subscription paces, and of the tenant's 4 requests at
// once (at least 1 each) where they are counted per tenant.
func (b *budget) reshare() {
	n := 1
	if b.share != nil {
		n = max(1, b.share())
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if n == b.shared {
		return
	}
	b.shared = n
	b.writes.SetLimit(rate.Limit(subscriptionWritePerSec / float64(n)))
	b.writes.SetBurst(max(1, subscriptionWriteBurst/n))
	b.lists.SetLimit(rate.Limit(subscriptionListPerSec / float64(n)))
	b.lists.SetBurst(max(1, subscriptionListBurst/n))
	b.units.SetLimit(rate.Limit(identityUnitsPerS / float64(n)))
	b.units.SetBurst(max(1, identityUnits/n))
	delete(b.slots, "") // the tenant's slots, made again at the new size (requests under way release into the old)
}

func (b *budget) limits(mailbox string) (chan struct{}, *rate.Limiter) {
	key := mailbox
	if b.scope == ConcurrencyPerTenant {
		key = ""
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	slot, ok := b.slots[key]
	if !ok {
		size := outlookConcurrency
		if key == "" {
			size = max(1, outlookConcurrency/b.shared)
		}
		slot = make(chan struct{}, size)
		b.slots[key] = slot
	}
	pace, ok := b.pace[mailbox]
	if !ok {
		pace = rate.NewLimiter(rate.Limit(mailboxPerSec), mailboxBurst)
		b.pace[mailbox] = pace
	}
	return slot, pace
}

// RoundTrip implements http.RoundTripper.
func (b *budget) RoundTrip(req *http.Request) (*http.Response, error) {
	b.reshare()
	if isSubscriptions(req.URL.Path) {
		pace := b.writes
		if req.Method == http.MethodGet {
			pace = b.lists
		}
		if err := pace.Wait(req.Context()); err != nil {
			return nil, err
		}
		return b.next.RoundTrip(req)
	}
	if cost := identityCost(req); cost > 0 {
		if err := b.units.WaitN(req.Context(), cost); err != nil {
			return nil, err
		}
		return b.next.RoundTrip(req)
	}
	mailbox := mailboxOf(req.URL.Path)
	if mailbox == "" {
		return b.next.RoundTrip(req)
	}
	slot, pace := b.limits(mailbox)
	if err := pace.Wait(req.Context()); err != nil {
		return nil, err
	}
	select {
	case slot <- struct{}{}:
	case <-req.Context().Done():
		return nil, req.Context().Err()
	}
	resp, err := b.next.RoundTrip(req)
	if err != nil || resp.Body == nil {
		<-slot
		return resp, err
	}
	resp.Body = &releasing{ReadCloser: resp.Body, release: func() { <-slot }}
	return resp, nil
}

// releasing gives a request's slot back when its body is read to the end or closed: a response
// being read is a request in flight.
type releasing struct {
	io.ReadCloser
	once    sync.Once
	release func()
}

func (r *releasing) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	if err != nil {
		r.once.Do(r.release)
	}
	return n, err
}

func (r *releasing) Close() error {
	err := r.ReadCloser.Close()
	r.once.Do(r.release)
	return err
}
