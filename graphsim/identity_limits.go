package graphsim

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The identity and access service's limits (concepts/throttling-limits.md, "Identity and access
// service limits"): a token bucket of resource units per application and tenant pair, whose
// quota per 10 seconds depends on the tenant's size: S (under 50 users) 3,500, M (50 to 500)
// 5,000, L (above 500) 8,000.
const (
	identitySmall, identityMedium, identityLarge = 3500, 5000, 8000
	identityWindow                               = 10 * time.Second
)

// identityBucket is one app's resource units in one tenant.
type identityBucket struct {
	units float64
	at    time.Time
}

// identityQuota is the tenant's resource units per 10 seconds (IdentityQuota when set).
func (s *Sim) identityQuota(t *tenant) float64 {
	if s.opts.IdentityQuota > 0 {
		return float64(s.opts.IdentityQuota)
	}
	switch n := len(t.users.live()); {
	case n < 50:
		return identitySmall
	case n <= 500:
		return identityMedium
	}
	return identityLarge
}

// identityCost is a request's resource units, by the page's table of base costs (GET users 2,
// any other identity path 1; users/delta, not listed, is counted as users, the stricter
// reading) and its factors: $select -1, $expand +1, $top under 20 -1; never under 1.
func identityCost(r *http.Request, segs []string) int {
	cost := 1
	if r.Method == http.MethodGet && len(segs) >= 1 && segs[0] == "users" && (len(segs) == 1 || segs[1] == "delta") {
		cost = 2
	}
	q := r.URL.Query()
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

// admitIdentity charges an identity request to its app and tenant pair's bucket: over the
// quota, 429 with the page's throttling headers and no Retry-After (the page promises none for
// these limits, and callers report none), the client to back off on its own. Within it, the
// cost is reported in x-ms-resource-unit.
func (s *Sim) admitIdentity(w http.ResponseWriter, r *http.Request, c caller, segs []string) bool {
	cost := float64(identityCost(r, segs))
	s.mu.Lock()
	quota := s.identityQuota(c.tenant)
	key := c.appID + "/" + c.tenant.id
	b := s.ruBuckets[key]
	now := s.nowLocked()
	if b == nil {
		b = &identityBucket{units: quota, at: now}
		s.ruBuckets[key] = b
	}
	b.units = min(quota, b.units+quota*now.Sub(b.at).Seconds()/identityWindow.Seconds())
	b.at = now
	ok := b.units >= cost
	if ok {
		b.units -= cost
	}
	s.mu.Unlock()
	if !ok {
		w.Header().Set("x-ms-throttle-scope", "Tenant_Application/Read/"+c.appID+"/"+c.tenant.id)
		w.Header().Set("x-ms-throttle-information", "ResourceUnitLimitExceeded")
		s.graphError(w, r, http.StatusTooManyRequests, "TooManyRequests", "Too many requests for this application and tenant.")
		return false
	}
	w.Header().Set("x-ms-resource-unit", strconv.Itoa(int(cost)))
	return true
}

// isIdentityPath says whether a request is the directory's (users, not their mailboxes).
func isIdentityPath(segs []string) bool {
	return len(segs) >= 1 && strings.EqualFold(segs[0], "users") && len(segs) <= 2
}
