package server

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// run runs the teamaccess command in process and returns its exit code and output.
func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr strings.Builder
	code := Run(t.Context(), args, env(), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestKeyAndOrganisationCommands(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	d := "--data-dir=" + dir

	code, _, errOut := run(t, "apikey", "list", d)
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "there is no organization yet")

	code, orgA, _ := run(t, "org", "create", d, "Acme Sales")
	require.Equal(t, 0, code)
	orgA = strings.TrimSpace(orgA)
	require.True(t, strings.HasPrefix(orgA, "org_"), orgA)

	code, keep, errOut := run(t, "apikey", "create", d, "--name", "crm sync", "--role", "admin")
	require.Equal(t, 0, code, errOut)
	keep = strings.TrimSpace(keep)
	require.Regexp(t, keyPattern, keep)
	require.Contains(t, errOut, "shown this once")
	code, doomed, _ := run(t, "apikey", "create", d, "--name", "old laptop", "--expires-in", "720h")
	require.Equal(t, 0, code)
	doomed = strings.TrimSpace(doomed)

	code, list, _ := run(t, "apikey", "list", d)
	require.Equal(t, 0, code)
	require.Contains(t, list, "crm sync")
	require.Regexp(t, `old laptop\s+READER\s+ACTIVE`, list)
	require.NotContains(t, list, keep[len(keep)-20:], "secrets are never listed")

	code, _, errOut = run(t, "apikey", "create", d, "--name", "x", "--role", "OWNER")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "OWNER")
	code, _, errOut = run(t, "apikey", "create", d, "--role", "READER")
	require.Equal(t, 2, code, "a key needs a name")
	require.Contains(t, errOut, "name")

	code, _, _ = run(t, "org", "create", d, "Beta")
	require.Equal(t, 0, code)
	code, _, errOut = run(t, "apikey", "list", d)
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "name one with --org")

	code, out, errOut := run(t, "apikey", "revoke", d, "--org", orgA, doomed) // the whole secret is accepted
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, `Revoked READER key "old laptop"`)
	code, orgs, _ := run(t, "org", "list", d)
	require.Equal(t, 0, code)
	require.Contains(t, orgs, "Acme Sales")
	require.Contains(t, orgs, "Beta")

	// The service honours what the commands did.
	svc := startService(t, dir)
	require.Empty(t, svc.key, "organisations exist: no bootstrap key")
	resp, _ := postGraphQL(t, svc.url, keep, `{ viewer { role } }`)
	require.Equal(t, 200, resp.StatusCode)
	resp, _ = postGraphQL(t, svc.url, doomed, `{ viewer { role } }`)
	require.Equal(t, 401, resp.StatusCode)
}

func TestExplainCommandShowsEveryQueryPlan(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	code, out, errs := run(t, "explain", "--data-dir", dir)
	require.Equal(t, 0, code, errs)
	require.Contains(t, out, "QUERY")
	require.Contains(t, out, "activities(filter: {mailboxIds: [one], occurredAfter})")
	require.Contains(t, out, "notification worker: due inbox entries")
	require.Contains(t, out, "filterPushdown=", "the embedded FerretDB's report")
	require.Len(t, strings.Split(strings.TrimSpace(out), "\n"), 19, "a header and 18 queries")
}

// While the service runs on the embedded store, the key commands cannot open it: they say what
// works instead (the API), and the first start's hint says so too.
func TestKeyCommandsBesideARunningServicePointAtTheAPI(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	svc := startService(t, dir)
	require.Contains(t, svc.stdout.String(), "createApiKey mutation")
	code, _, errOut := run(t, "apikey", "create", "--data-dir="+dir, "--name", "x", "--allowed-origins", "https://app.example.com")
	require.NotEqual(t, 0, code)
	require.Contains(t, errOut, "in use")
	require.Contains(t, errOut, "createApiKey and revokeApiKey mutations")
}
