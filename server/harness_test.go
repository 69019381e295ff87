package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// logBuffer collects a service's stderr safely across goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// entries parses the JSON log lines.
func (b *logBuffer) entries() []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(b.String()))
	for sc.Scan() {
		var e map[string]any
		if json.Unmarshal(sc.Bytes(), &e) == nil {
			out = append(out, e)
		}
	}
	return out
}

// find returns the first log entry with the message msg.
func (b *logBuffer) find(msg string) map[string]any {
	for _, e := range b.entries() {
		if e["msg"] == msg {
			return e
		}
	}
	return nil
}

// warnings are the entries at WARN or above, for a failing test to show.
func (b *logBuffer) warnings() []map[string]any {
	var out []map[string]any
	for _, e := range b.entries() {
		if e["level"] == "WARN" || e["level"] == "ERROR" {
			out = append(out, e)
		}
	}
	return out
}

// service is teamaccess started in process through Run.
type service struct {
	url    string
	logs   *logBuffer
	stdout *logBuffer
	exit   chan int // receives the exit code once
	cancel context.CancelFunc
	done   chan struct{} // closed when Run has returned
	code   int
	key    string // the admin key printed at the first start, if this was one
}

// keyPattern matches an API key's secret.
var keyPattern = regexp.MustCompile(`tak_[a-z2-7]{16}_[A-Za-z0-9_-]{43}`)

// env builds a getenv from pairs.
func env(pairs ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(pairs); i += 2 {
		m[pairs[i]] = pairs[i+1]
	}
	return func(k string) string { return m[k] }
}

// startService runs `teamaccess serve` on a free port with the given data directory and waits
// until it says it is ready.
func startService(t testing.TB, dataDir string, extra ...string) *service {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &service{logs: &logBuffer{}, stdout: &logBuffer{}, exit: make(chan int, 1), cancel: cancel, done: make(chan struct{})}
	args := append([]string{"serve", "--listen", "127.0.0.1:0", "--data-dir", dataDir, "--shutdown-timeout", "5s"}, extra...)
	go func() {
		s.code = Run(ctx, args, env(), s.stdout, s.logs)
		close(s.done)
		s.exit <- s.code
	}()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if e := s.logs.find("teamaccess is ready"); e != nil {
			s.url = e["listen"].(string)
			s.key = keyPattern.FindString(s.stdout.String())
			t.Cleanup(func() { s.stop(t) })
			return s
		}
		select {
		case code := <-s.exit:
			t.Fatalf("teamaccess exited with %d before it was ready:\n%s", code, s.logs)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("teamaccess did not become ready:\n%s", s.logs)
	return nil
}

// stop cancels the service, if it is still running, and waits for it.
func (s *service) stop(t testing.TB) {
	s.cancel()
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		t.Errorf("teamaccess did not stop:\n%s", s.logs)
	}
}

// waitReady polls /readyz until it answers 200.
func waitReady(t testing.TB, base string) {
	t.Helper()
	require.Eventually(t, func() bool {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 20*time.Second, 20*time.Millisecond)
}

// gqlResponse is a GraphQL response body.
type gqlResponse struct {
	Data   json.RawMessage `json:"data"`
	Errors []struct {
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
}

// postGraphQL sends a query over HTTP POST with the key, if not empty, as a Bearer token.
func postGraphQL(t *testing.T, base, key, query string, header ...string) (*http.Response, gqlResponse) {
	t.Helper()
	if key != "" {
		header = append([]string{"Authorization", "Bearer " + key}, header...)
	}
	return postGraphQLVars(t, base, query, nil, header...)
}

// postGraphQLVars sends a query with variables over HTTP POST.
func postGraphQLVars(t testing.TB, base, query string, vars map[string]any, header ...string) (*http.Response, gqlResponse) {
	t.Helper()
	resp, raw := postGraphQLRaw(t, base, query, vars, header...)
	var out gqlResponse
	require.NoError(t, json.Unmarshal(raw, &out), string(raw))
	return resp, out
}

// postGraphQLRaw sends a query with variables over HTTP POST and returns the body unread.
func postGraphQLRaw(t testing.TB, base, query string, vars map[string]any, header ...string) (*http.Response, []byte) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, err := http.NewRequest(http.MethodPost, base+"/graphql", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, raw
}

// openEventStream sends an operation asking for server-sent events, and returns the open
// answer (closed when the test ends).
func openEventStream(t testing.TB, ctx context.Context, base, key, query string, vars map[string]any) *http.Response {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/graphql", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

const serverInfoQuery = `{ serverInfo { version goVersion startedAt
	installation { id createdAt starts }
	storage { engine serverVersion embedded database schemaVersion } } }`

// serverInfo is the answer to serverInfoQuery.
type serverInfo struct {
	ServerInfo struct {
		Version      string `json:"version"`
		GoVersion    string `json:"goVersion"`
		StartedAt    string `json:"startedAt"`
		Installation struct {
			ID        string `json:"id"`
			CreatedAt string `json:"createdAt"`
			Starts    int    `json:"starts"`
		} `json:"installation"`
		Storage struct {
			Engine        string `json:"engine"`
			ServerVersion string `json:"serverVersion"`
			Embedded      bool   `json:"embedded"`
			Database      string `json:"database"`
			SchemaVersion int    `json:"schemaVersion"`
		} `json:"storage"`
	} `json:"serverInfo"`
}

func decodeServerInfo(t *testing.T, data json.RawMessage) serverInfo {
	t.Helper()
	var si serverInfo
	require.NoError(t, json.Unmarshal(data, &si), string(data))
	return si
}
