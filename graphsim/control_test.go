package graphsim

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// The HTTP control API does what the Go API does, on its own listener.
func TestControlAPI(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	call := func(method, path string, body any) (int, map[string]any) {
		var b bytes.Buffer
		if body != nil {
			_ = json.NewEncoder(&b).Encode(body)
		}
		req, _ := http.NewRequest(method, f.sim.ControlURL()+path, &b)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	code, out := call("POST", "/tenants/"+f.tenant+"/users/"+f.alice+"/messages?folder=inbox", map[string]any{"subject": "via control"})
	require.Equal(t, 200, code)
	id := out["id"].(string)
	ms, _ := f.sim.Messages(f.tenant, f.alice, "inbox")
	require.Len(t, ms, 1)
	require.Equal(t, "via control", ms[0].Subject)
	code, _ = call("PATCH", "/tenants/"+f.tenant+"/users/"+f.alice+"/messages/"+id, map[string]any{"subject": "renamed"})
	require.Equal(t, 204, code)
	ms, _ = f.sim.Messages(f.tenant, f.alice, "inbox")
	require.Equal(t, "renamed", ms[0].Subject)
	code, _ = call("DELETE", "/tenants/"+f.tenant+"/users/"+f.alice+"/messages/"+id, nil)
	require.Equal(t, 204, code)
	code, out = call("DELETE", "/tenants/"+f.tenant+"/users/"+f.alice+"/messages/"+id, nil)
	require.Equal(t, 404, code, out)
	code, _ = call("POST", "/tenants/"+f.tenant+"/users", "not an object")
	require.Equal(t, 400, code)
	code, _ = call("POST", "/faults", map[string]any{"path": "/users", "status": 500, "count": 1})
	require.Equal(t, 204, code)
	resp, _ := f.do(t, http.MethodGet, "/users", nil)
	require.Equal(t, 500, resp.StatusCode)

	// The Graph surface has no control routes.
	resp, _ = f.do(t, http.MethodPost, "/faults", map[string]any{})
	require.Equal(t, 400, resp.StatusCode)
}
