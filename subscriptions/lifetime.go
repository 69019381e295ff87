package subscriptions

import (
	"regexp"
	"strconv"
	"time"
)

// The documented maximum lifetime of an Outlook subscription is 10,080 minutes
// (api-reference/v1.0/resources/subscription.md, "Subscription lifetime"), but implementers
// report Graph refusing anything above 4,230 minutes with "Subscription expiration can only be
// 4230 minutes in the future." (microsoft-graph-docs-contrib issue 7726). Asking the documented
// maximum would then create no subscription at all, and live updates would stop without a word.
// So a refusal that names a ceiling is retried once at that ceiling (less a margin for clock
// skew), and the ceiling is remembered for every later creation and renewal.

// ceilingText is Graph's refusal of a lifetime over its ceiling.
var ceilingText = regexp.MustCompile(`expiration can only be (\d+) minutes in the future`)

// lifetimeMargin is what is kept under a ceiling Graph names, for clock skew.
const lifetimeMargin = 10 * time.Minute

// namedCeiling reads the ceiling a refusal names; ok is false for any other error.
func namedCeiling(err error) (time.Duration, bool) {
	if err == nil {
		return 0, false
	}
	m := ceilingText.FindStringSubmatch(err.Error())
	if m == nil {
		return 0, false
	}
	minutes, err := strconv.Atoi(m[1])
	if err != nil || minutes <= 0 {
		return 0, false
	}
	return time.Duration(minutes) * time.Minute, true
}

// lifetime is how long a new or renewed subscription is asked for: the configured lifetime, or
// less once Graph has named a lower ceiling.
func (s *Service) lifetime() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ceiling > 0 && s.ceiling-lifetimeMargin < s.o.Lifetime {
		return max(s.ceiling-lifetimeMargin, time.Minute)
	}
	return s.o.Lifetime
}

// lowerCeiling remembers a ceiling Graph named; it reports whether the next request asks less
// than the last one did, so that a retry can change anything.
func (s *Service) lowerCeiling(c time.Duration, asked time.Duration) bool {
	s.mu.Lock()
	if s.ceiling == 0 || c < s.ceiling {
		s.ceiling = c
	}
	s.mu.Unlock()
	lower := s.lifetime() < asked
	if lower {
		s.o.Log.Warn("Microsoft Graph refuses subscriptions as long as asked; asking its ceiling from now on",
			"ceiling", c.String(), "asked", asked.String())
	}
	return lower
}

// renewBefore is how much time left makes a subscription due for renewal: RenewBefore, or half
// the lifetime when that is shorter (a 70-hour ceiling would otherwise be renewed every minute
// under a 3-day RenewBefore).
func (s *Service) renewBefore() time.Duration {
	return min(s.o.RenewBefore, s.lifetime()/2)
}
