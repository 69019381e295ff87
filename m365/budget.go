package m365

import (
	"io"
	"net/http"
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
)

// budget keeps one tenant's Graph requests within those limits by waiting for them here (a
// request that would go over waits its turn) instead of earning 429s. Each attempt passes it:
// the retry middleware sits above it. Requests that name no mailbox (users delta, $batch,
// subscriptions) pass through; Graph limits them otherwise.
type budget struct {
	next    http.RoundTripper
	scope   string
	mu      sync.Mutex
	slots   map[string]chan struct{} // by mailbox, or "" for the tenant
	pace    map[string]*rate.Limiter // by mailbox
	waiting func(mailbox string)     // tests: told when a request waits for a slot
}

func newBudget(next http.RoundTripper, scope string) *budget {
	return &budget{next: next, scope: scope, slots: map[string]chan struct{}{}, pace: map[string]*rate.Limiter{}}
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

func (b *budget) limits(mailbox string) (chan struct{}, *rate.Limiter) {
	key := mailbox
	if b.scope == ConcurrencyPerTenant {
		key = ""
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	slot, ok := b.slots[key]
	if !ok {
		slot = make(chan struct{}, outlookConcurrency)
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
	default:
		if b.waiting != nil {
			b.waiting(mailbox)
		}
		select {
		case slot <- struct{}{}:
		case <-req.Context().Done():
			return nil, req.Context().Err()
		}
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
