package graphsim

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// concepts/errors.md, "Error resource type".
func TestErrorEnvelope(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	resp, body := f.do(t, http.MethodGet, "/users/"+f.joe+"/mailFolders/inbox", nil, "client-request-id", "abc-123")
	require.Equal(t, 404, resp.StatusCode)
	e := body["error"].(map[string]any)
	require.Equal(t, "MailboxNotEnabledForRESTAPI", e["code"])
	require.IsType(t, "", e["message"])
	inner := e["innerError"].(map[string]any)
	require.Equal(t, "abc-123", inner["client-request-id"])
	require.NotEmpty(t, inner["request-id"])
	_, err := time.Parse("2006-01-02T15:04:05", inner["date"].(string))
	require.NoError(t, err)

	resp, body = f.do(t, http.MethodGet, "/users/nobody@contoso.com/messages", nil)
	require.Equal(t, 404, resp.StatusCode)
	require.Equal(t, "ErrorInvalidUser", errorCode(body))
	_, body = f.do(t, http.MethodGet, "/users/nobody", nil)
	require.Equal(t, "Request_ResourceNotFound", errorCode(body))

	f.token = "not.a.token"
	resp, body = f.do(t, http.MethodGet, "/users", nil)
	require.Equal(t, 401, resp.StatusCode)
	require.Equal(t, "InvalidAuthenticationToken", errorCode(body))
}

func TestUsersByIDOrUPNAndPaging(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	resp, body := f.do(t, http.MethodGet, "/users/alice@contoso.com?$select=displayName,jobTitle", nil)
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, "Account Executive", body["jobTitle"])
	require.NotContains(t, body, "mail")
	_, body = f.do(t, http.MethodGet, "/users?$top=2", nil)
	require.Len(t, body["value"], 2)
	resp, body = f.do(t, http.MethodGet, body["@odata.nextLink"].(string), nil)
	require.Equal(t, 200, resp.StatusCode)
	require.Len(t, body["value"], 1)
	require.NotContains(t, body, "@odata.nextLink")
}

// Application access policies: the restriction applies only after the delay, then other
// mailboxes answer 403 ErrorAccessDenied with Microsoft's documented text, "Access to OData is
// disabled." and nothing more (concepts/auth-limit-mailbox-access.md, "Handling API errors").
func TestAccessPolicyAppliesAfterTheDelay(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	require.NoError(t, f.sim.SetAccessPolicy(f.tenant, testApp, []string{f.alice}))
	resp, _ := f.do(t, http.MethodGet, "/users/"+f.bob+"/mailFolders/inbox", nil)
	require.Equal(t, 200, resp.StatusCode, "not yet in effect")
	f.sim.Advance(31 * time.Minute)
	resp, body := f.do(t, http.MethodGet, "/users/"+f.bob+"/mailFolders/inbox", nil)
	require.Equal(t, 403, resp.StatusCode)
	require.Equal(t, "ErrorAccessDenied", errorCode(body))
	require.Equal(t, "Access to OData is disabled.", body["error"].(map[string]any)["message"])
	resp, _ = f.do(t, http.MethodGet, "/users/"+f.alice+"/mailFolders/inbox", nil)
	require.Equal(t, 200, resp.StatusCode, "members of the group stay readable")
	require.False(t, f.sim.CanAccess(f.tenant, testApp, f.bob))

	require.NoError(t, f.sim.SetAccessPolicy(f.tenant, testApp, nil))
	f.sim.Advance(31 * time.Minute)
	f.token = f.getToken(t, f.tenant, testSecret) // the first one expired meanwhile
	resp, _ = f.do(t, http.MethodGet, "/users/"+f.bob+"/mailFolders/inbox", nil)
	require.Equal(t, 200, resp.StatusCode, "removing the policy restores access, after the delay too")
}

// concepts/throttling-limits.md, "Outlook service limits": 4 concurrent requests and a request
// budget per app and mailbox; over them, 429 with Retry-After.
func TestMailboxThrottling(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(o *Options) { o.MailboxRequests = 8; o.RequestWindow = time.Minute })
	f.sim.InjectFault(Fault{Path: "/mailFolders/inbox", UserID: f.alice, Latency: 300 * time.Millisecond})
	var wg sync.WaitGroup
	codes := make([]int, 6)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, body := f.do(t, http.MethodGet, "/users/"+f.alice+"/mailFolders/inbox", nil)
			codes[i] = resp.StatusCode
			if resp.StatusCode == 429 {
				require.Equal(t, "ApplicationThrottled", errorCode(body))
				require.Contains(t, body["error"].(map[string]any)["message"], "MailboxConcurrency")
				require.NotEmpty(t, resp.Header.Get("Retry-After"))
			}
		}()
	}
	wg.Wait()
	count := map[int]int{}
	for _, c := range codes {
		count[c]++
	}
	require.Equal(t, 4, count[200], "%v", codes)
	require.Equal(t, 2, count[429], "%v", codes)
	f.sim.ClearFaults()

	resp, _ := f.do(t, http.MethodGet, "/users/"+f.bob+"/mailFolders/inbox", nil)
	require.Equal(t, 200, resp.StatusCode, "another mailbox has its own limits")
	for range 4 { // alice has used 4 of 8
		resp, _ = f.do(t, http.MethodGet, "/users/"+f.alice+"/mailFolders/inbox", nil)
		require.Equal(t, 200, resp.StatusCode)
	}
	resp, body := f.do(t, http.MethodGet, "/users/"+f.alice+"/mailFolders/inbox", nil)
	require.Equal(t, 429, resp.StatusCode)
	require.Contains(t, body["error"].(map[string]any)["message"], "MailboxRequests")
	after, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	require.InDelta(t, 60, after, 2, "until the window ends")
	f.sim.Advance(time.Minute)
	resp, _ = f.do(t, http.MethodGet, "/users/"+f.alice+"/mailFolders/inbox", nil)
	require.Equal(t, 200, resp.StatusCode)
}

func TestPermissionsAreChecked(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	require.NoError(t, f.sim.GrantConsent(f.tenant, testApp, "Mail.Read"))
	f.token = f.getToken(t, f.tenant, testSecret)
	resp, body := f.do(t, http.MethodGet, "/users", nil)
	require.Equal(t, 403, resp.StatusCode)
	require.Equal(t, "Authorization_RequestDenied", errorCode(body))
	resp, body = f.do(t, http.MethodGet, "/users/"+f.alice+"/contacts/delta", nil)
	require.Equal(t, 403, resp.StatusCode)
	require.Equal(t, "ErrorAccessDenied", errorCode(body))
	resp, _ = f.do(t, http.MethodGet, "/users/"+f.alice+"/mailFolders/inbox/messages/delta", nil)
	require.Equal(t, 200, resp.StatusCode)
}

// concepts/json-batching.md: up to 20 requests, each with its own status.
func TestBatch(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	reqs := []map[string]any{
		{"id": "1", "method": "GET", "url": "/users/" + f.alice + "?$select=displayName"},
		{"id": "2", "method": "GET", "url": "/users/" + f.joe + "/mailFolders/inbox"},
		{"id": "3", "method": "GET", "url": "/users/" + f.bob + "/mailFolders/inbox/messages/delta"},
	}
	resp, body := f.do(t, http.MethodPost, "/$batch", map[string]any{"requests": reqs})
	require.Equal(t, 200, resp.StatusCode)
	got := map[string]float64{}
	for _, r := range body["responses"].([]any) {
		m := r.(map[string]any)
		got[m["id"].(string)] = m["status"].(float64)
	}
	require.Equal(t, map[string]float64{"1": 200, "2": 404, "3": 200}, got)

	many := make([]map[string]any, 21)
	for i := range many {
		many[i] = map[string]any{"id": strconv.Itoa(i), "method": "GET", "url": "/users/" + f.alice}
	}
	resp, _ = f.do(t, http.MethodPost, "/$batch", map[string]any{"requests": many})
	require.Equal(t, 400, resp.StatusCode)

	f.sim.InjectFault(Fault{Path: "/mailFolders/inbox", UserID: f.alice, Latency: 200 * time.Millisecond})
	same := make([]map[string]any, 6)
	for i := range same {
		same[i] = map[string]any{"id": strconv.Itoa(i), "method": "GET", "url": "/users/" + f.alice + "/mailFolders/inbox"}
	}
	_, body = f.do(t, http.MethodPost, "/$batch", map[string]any{"requests": same})
	throttled := 0
	for _, r := range body["responses"].([]any) {
		m := r.(map[string]any)
		if m["status"].(float64) == 429 {
			throttled++
			require.NotEmpty(t, m["headers"].(map[string]any)["Retry-After"])
		}
	}
	require.Equal(t, 2, throttled, "inner requests share the mailbox's 4 concurrent slots")
}

// Compressed request bodies are read by default; CompressedBodies answers them 415 or 400 as
// parts of Graph do, and the request log says which requests came compressed.
func TestGzipRequestBodies(t *testing.T) {
	t.Parallel()
	for _, answer := range []int{0, http.StatusUnsupportedMediaType, http.StatusBadRequest} {
		f := newFixture(t, func(o *Options) { o.CompressedBodies = answer })
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_ = json.NewEncoder(zw).Encode(map[string]any{"requests": []map[string]any{{"id": "1", "method": "GET", "url": "/users"}}})
		_ = zw.Close()
		req, _ := http.NewRequest(http.MethodPost, f.sim.GraphURL()+"/$batch", &buf)
		req.Header.Set("Authorization", "Bearer "+f.token)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Content-Encoding", "gzip")
		resp, err := f.http.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, cmp.Or(answer, 200), resp.StatusCode)
		reqs := f.sim.Requests()
		require.True(t, reqs[len(reqs)-1].Compressed)
	}
}

func TestFaults(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.sim.InjectFault(Fault{Path: "/users", Status: 503, RetryAfter: 0.3, Count: 1})
	resp, body := f.do(t, http.MethodGet, "/users", nil)
	require.Equal(t, 503, resp.StatusCode)
	require.Equal(t, "0.3", resp.Header.Get("Retry-After"), "fractions as given")
	require.Equal(t, "ServiceNotAvailable", errorCode(body))
	resp, _ = f.do(t, http.MethodGet, "/users", nil)
	require.Equal(t, 429, resp.StatusCode, "back before Retry-After: throttled again")
	require.Equal(t, 1, f.sim.EarlyRetries())
	time.Sleep(300 * time.Millisecond) // Retry-After is wall-clock time
	resp, _ = f.do(t, http.MethodGet, "/users", nil)
	require.Equal(t, 200, resp.StatusCode, "the fault was for one request")

	f.sim.InjectFault(Fault{UserID: f.bob, Reset: true})
	req, _ := http.NewRequest(http.MethodGet, f.sim.GraphURL()+"/users/"+f.bob+"/mailFolders", nil)
	req.Header.Set("Authorization", "Bearer "+f.token)
	_, err := f.http.Do(req)
	require.Error(t, err, "the connection was reset")
	require.NotEmpty(t, f.sim.Requests())
}

// The other wordings of a policy's denial play on demand: the longer RAOP text some tenants send,
// and RBAC for Applications' generic access-denied text; the answer is 403 ErrorAccessDenied in
// every case.
func TestPolicyDenialVariants(t *testing.T) {
	t.Parallel()
	for denial, want := range map[PolicyDenial]string{
		DenialRAOP: "Access to OData is disabled: [RAOP] : Blocked by tenant configured AppOnly AccessPolicy settings.",
		DenialRBAC: "Access is denied. Check credentials and try again.",
	} {
		f := newFixture(t, func(o *Options) { o.PolicyDenial = denial })
		require.NoError(t, f.sim.SetAccessPolicy(f.tenant, testApp, []string{f.alice}))
		f.sim.Advance(time.Hour)
		f.token = f.getToken(t, f.tenant, testSecret)
		resp, body := f.do(t, http.MethodGet, "/users/"+f.bob+"/mailFolders/inbox", nil)
		require.Equal(t, 403, resp.StatusCode, denial)
		require.Equal(t, "ErrorAccessDenied", errorCode(body), denial)
		require.Equal(t, want, body["error"].(map[string]any)["message"], denial)
	}
}

// The directory's reads cost resource units from the app and tenant's bucket (users 2, $select
// 1 less, any other identity path 1): past the quota, 429 with the identity service's
// throttling headers and no Retry-After; the bucket refills over 10 seconds. Mail is not
// charged.
func TestIdentityResourceUnits(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(o *Options) { o.IdentityQuota = 6 })
	resp, _ := f.do(t, http.MethodGet, "/users", nil)
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, "2", resp.Header.Get("x-ms-resource-unit"), "GET users costs 2")
	resp, _ = f.do(t, http.MethodGet, "/users/delta?$select=id,displayName", nil)
	require.Equal(t, "1", resp.Header.Get("x-ms-resource-unit"), "$select takes 1 off")
	resp, _ = f.do(t, http.MethodGet, "/users/"+f.alice, nil)
	require.Equal(t, "1", resp.Header.Get("x-ms-resource-unit"))
	resp, _ = f.do(t, http.MethodGet, "/users", nil) // 6 spent
	require.Equal(t, 200, resp.StatusCode)
	resp, body := f.do(t, http.MethodGet, "/users/"+f.alice, nil)
	require.Equal(t, 429, resp.StatusCode)
	require.Equal(t, "TooManyRequests", errorCode(body))
	require.Empty(t, resp.Header.Get("Retry-After"), "the identity service sends none")
	require.Equal(t, "ResourceUnitLimitExceeded", resp.Header.Get("x-ms-throttle-information"))
	require.Contains(t, resp.Header.Get("x-ms-throttle-scope"), "Tenant_Application/")
	resp, _ = f.do(t, http.MethodGet, "/users/"+f.alice+"/mailFolders/inbox", nil)
	require.Equal(t, 200, resp.StatusCode, "mail is Outlook's, not the directory's")
	f.sim.Advance(5 * time.Second) // half the window: half the quota back
	for range 3 {
		resp, _ = f.do(t, http.MethodGet, "/users/"+f.alice, nil)
		require.Equal(t, 200, resp.StatusCode)
	}
	resp, _ = f.do(t, http.MethodGet, "/users/"+f.alice, nil)
	require.Equal(t, 429, resp.StatusCode)
}
