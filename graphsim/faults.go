package graphsim

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Fault is an injected failure of the Graph surface: for requests whose path contains Path
// (and, if set, concern the mailbox UserID), delay by Latency, then, with probability Rate (1
// when zero), answer Status with a Graph error, or reset the connection. Count limits how many
// requests it affects (unlimited when zero).
type Fault struct {
	Path    string        `json:"path,omitempty"`
	UserID  string        `json:"userId,omitempty"`
	Latency time.Duration `json:"latency,omitempty"`
	Rate    float64       `json:"rate,omitempty"`
	Status  int           `json:"status,omitempty"`
	// RetryAfter is sent with a 429 or 503, in seconds, fractions kept as given: Microsoft's
	// own throttling sample sent "2.128" (microsoft-graph-docs-contrib issue 2023) and clients
	// report values like "2.542" (microsoft/dotnet issue 955). A request the fault matches
	// before that time has passed is throttled again, with what remains (counted by
	// EarlyRetries): retrying early only earns another 429.
	RetryAfter float64 `json:"retryAfter,omitempty"`
	Reset      bool    `json:"reset,omitempty"`
	Count      int     `json:"count,omitempty"`
	hits       int
	until      time.Time // wall clock: clients sleep in real time
}

// InjectFault adds a fault rule.
func (s *Sim) InjectFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// EarlyRetries counts requests that came back before a fault's Retry-After had passed.
func (s *Sim) EarlyRetries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.earlyRetries
}

// ClearFaults removes every fault rule.
func (s *Sim) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// statusCodes names the error code Graph uses with each status (concepts/errors.md, "Code
// property").
var statusCodes = map[int]string{
	http.StatusTooManyRequests:     "TooManyRequests",
	http.StatusInternalServerError: "InternalServerError",
	http.StatusBadGateway:          "BadGateway",
	http.StatusServiceUnavailable:  "ServiceNotAvailable",
	http.StatusGatewayTimeout:      "GatewayTimeout",
}

// injectFault applies the first matching fault; it reports whether it answered the request.
func (s *Sim) injectFault(w http.ResponseWriter, r *http.Request, c caller, segs []string) bool {
	path := "/" + strings.Join(segs, "/")
	s.mu.Lock()
	var hit *Fault
	var early time.Duration
	for _, f := range s.faults {
		if f.Path != "" && !strings.Contains(path, f.Path) {
			continue
		}
		if f.UserID != "" && (len(segs) < 2 || segs[0] != "users" || segs[1] != f.UserID) {
			continue
		}
		if left := time.Until(f.until); left > 0 {
			s.earlyRetries++
			hit, early = f, left
			break
		}
		if f.Count > 0 && f.hits >= f.Count {
			continue
		}
		if f.Rate > 0 && rand.Float64() >= f.Rate {
			continue
		}
		f.hits++
		if f.RetryAfter > 0 {
			f.until = time.Now().Add(time.Duration(f.RetryAfter * float64(time.Second)))
		}
		hit = f
		break
	}
	s.mu.Unlock()
	if hit == nil {
		return false
	}
	if early > 0 {
		w.Header().Set("Retry-After", strconv.FormatFloat(early.Seconds(), 'f', 3, 64))
		s.graphError(w, r, http.StatusTooManyRequests, "TooManyRequests", "Retried before Retry-After elapsed.")
		return true
	}
	if hit.Latency > 0 {
		select {
		case <-time.After(hit.Latency):
		case <-r.Context().Done():
			return true
		}
	}
	switch {
	case hit.Reset:
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			_ = conn.Close()
		}
		return true
	case hit.Status != 0:
		if hit.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.FormatFloat(hit.RetryAfter, 'f', -1, 64))
		}
		code := statusCodes[hit.Status]
		if code == "" {
			code = "UnknownError"
		}
		s.graphError(w, r, hit.Status, code, "Injected fault: "+http.StatusText(hit.Status)+".")
		return true
	}
	return false // latency only
}
