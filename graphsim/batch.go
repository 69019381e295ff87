package graphsim

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// maxBatchRequests is JSON batching's limit (concepts/json-batching.md, "Batch size
// limitations": 20 individual requests).
const maxBatchRequests = 20

type batchRequest struct {
	ID        string            `json:"id"`
	Method    string            `json:"method"`
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers"`
	Body      json.RawMessage   `json:"body"`
	DependsOn []string          `json:"dependsOn"`
}

type batchResponse struct {
	ID      string            `json:"id"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    json.RawMessage   `json:"body,omitempty"`
}

// recorder captures a sub-request's response.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}

// batch is POST /$batch (concepts/json-batching.md): each request runs as if sent alone, all at
// once unless some depend on others (then in order), so an inner request can be throttled
// (429 with its own Retry-After) while its neighbours succeed.
func (s *Sim) batch(w http.ResponseWriter, r *http.Request, c caller) {
	var in struct {
		Requests []batchRequest `json:"requests"`
	}
	if err := decodeJSON(r, &in); err != nil || len(in.Requests) == 0 {
		s.graphError(w, r, http.StatusBadRequest, "BadRequest", "Invalid batch payload format.")
		return
	}
	if len(in.Requests) > maxBatchRequests {
		s.graphError(w, r, http.StatusBadRequest, "BadRequest", "Unable to deserialize content. Number of requests in a batch should not exceed "+strconv.Itoa(maxBatchRequests)+".")
		return
	}
	sequential := false
	for _, br := range in.Requests {
		if len(br.DependsOn) > 0 {
			sequential = true
		}
	}
	out := make([]batchResponse, len(in.Requests))
	run := func(i int) {
		br := in.Requests[i]
		path := "/v1.0/" + strings.TrimPrefix(br.URL, "/")
		var body *bytes.Reader
		if len(br.Body) > 0 {
			body = bytes.NewReader(br.Body)
		} else {
			body = bytes.NewReader(nil)
		}
		sub, err := http.NewRequestWithContext(context.WithValue(r.Context(), batchKey, true), br.Method, path, body)
		if err != nil {
			out[i] = batchResponse{ID: br.ID, Status: http.StatusBadRequest}
			return
		}
		sub.Header.Set("Authorization", r.Header.Get("Authorization"))
		for k, v := range br.Headers {
			sub.Header.Set(k, v)
		}
		rec := &recorder{header: http.Header{}}
		s.graphHandler().ServeHTTP(rec, sub)
		headers := map[string]string{}
		for k := range rec.header {
			headers[k] = rec.header.Get(k)
		}
		out[i] = batchResponse{ID: br.ID, Status: rec.status, Headers: headers}
		if rec.body.Len() > 0 {
			out[i].Body = json.RawMessage(bytes.TrimSpace(rec.body.Bytes()))
		}
	}
	if sequential {
		for i := range in.Requests {
			run(i)
		}
	} else {
		var wg sync.WaitGroup
		for i := range in.Requests {
			wg.Add(1)
			go func() { defer wg.Done(); run(i) }()
		}
		wg.Wait()
	}
	writeJSONBody(w, http.StatusOK, map[string]any{"responses": out})
}
