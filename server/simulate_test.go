package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The standalone simulator prints its endpoints and CA path; the CA lets a client reach the
// HTTPS identity platform, and the control API answers.
func TestSimulateCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	out, errs := &logBuffer{}, &logBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"simulate", "--data-dir", dir, "--identity-listen", "127.0.0.1:0",
			"--graph-listen", "127.0.0.1:0", "--control-listen", "127.0.0.1:0", "--generate-every", "0"}, env(), out, errs)
	}()
	var control, identity string
	require.Eventually(t, func() bool {
		m := regexp.MustCompile(`control API\s+(http://\S+)`).FindStringSubmatch(out.String())
		i := regexp.MustCompile(`identity platform\s+(https://\S+)`).FindStringSubmatch(out.String())
		if m == nil || i == nil {
			return false
		}
		control, identity = m[1], i[1]
		return true
	}, 10*time.Second, 10*time.Millisecond, "%s%s", out, errs)
	caPEM, err := os.ReadFile(filepath.Join(dir, "graphsim-ca.pem"))
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(caPEM))
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	tenant := regexp.MustCompile(`"Contoso" \(([0-9a-f-]{36})\)`).FindStringSubmatch(out.String())
	require.Len(t, tenant, 2, out.String())
	resp, err := client.Get(identity + "/" + tenant[1] + "/v2.0/.well-known/openid-configuration")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)

	resp, err = http.Get(control + "/endpoints")
	require.NoError(t, err)
	var eps map[string]string
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&eps))
	resp.Body.Close()
	require.Equal(t, identity, eps["authority"])

	cancel()
	select {
	case code := <-done:
		require.Equal(t, 0, code, errs.String())
	case <-time.After(10 * time.Second):
		t.Fatal("simulate did not stop")
	}
}
