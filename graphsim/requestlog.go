package graphsim

import (
	"net/http"
	"slices"
	"time"
)

// Request is one request the Graph surface answered, for tests and the control API.
type Request struct {
	At       time.Time `json:"at"`
	Method   string    `json:"method"`
	Path     string    `json:"path"`
	Query    string    `json:"query,omitempty"`
	Status   int       `json:"status"`
	Code     string    `json:"code,omitempty"` // the Graph error code, for errors
	TenantID string    `json:"tenantId,omitempty"`
	AppID    string    `json:"appId,omitempty"`
	UserID   string    `json:"userId,omitempty"`
	// UserAgent is the caller's, which tells the processes of one app apart (teamaccess adds
	// its process to the SDK's).
	UserAgent string `json:"userAgent,omitempty"`
	// Took is how long the answer took (sim clock), faults' latency included.
	Took time.Duration `json:"took,omitempty"`
	// Compressed: the request's body came gzip-compressed.
	Compressed bool `json:"compressed,omitempty"`
}

// maxRequestLog bounds the request log of a long-running simulator; the older half goes when
// it is full.
const maxRequestLog = 20000

// Requests returns the Graph requests answered so far (the latest ones, up to maxRequestLog),
// oldest first.
func (s *Sim) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// statusRecorder remembers the status for the request log.
type statusRecorder struct {
	http.ResponseWriter
	status int
	code   string
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (faults hijack it).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
