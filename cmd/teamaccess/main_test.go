package main

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// buildBinary compiles the command as a user would get it.
func buildBinary(t *testing.T, ldflags string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "teamaccess")
	cmd := exec.Command("go", "build", "-ldflags", ldflags, "-o", bin, ".")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	return bin
}

// The binary, run with no configuration from an empty directory, as on a fresh clone: it says
// where it listens and that it uses the embedded store, answers /readyz, and exits 0 on SIGINT.
func TestBinaryStartsWithNoConfiguration(t *testing.T) {
	bin := buildBinary(t, "-X github.com/teamaccess/teamaccess/server.version=v0.0.0-test")
	out, err := exec.Command(bin, "version").Output()
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(out), "teamaccess v0.0.0-test ("), string(out))

	work := t.TempDir()
	cmd := exec.Command(bin)
	cmd.Dir = work
	// Port 0 rather than the default 8080, which another process on a CI machine may hold.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "TEAMACCESS_LISTEN=127.0.0.1:0", "TEAMACCESS_LOG_FORMAT=text"}
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var ready string
	timeout := time.After(30 * time.Second)
	for ready == "" {
		select {
		case l, ok := <-lines:
			require.True(t, ok, "the process ended before it was ready")
			if strings.Contains(l, `msg="teamaccess is ready"`) {
				ready = l
			}
		case <-timeout:
			t.Fatal("not ready within 30 s")
		}
	}
	require.Contains(t, ready, "storage=\"embedded FerretDB (SQLite) in "+filepath.Join(work, "data", "db")+`"`)
	url := regexp.MustCompile(`listen=(http://127\.0\.0\.1:\d+)`).FindStringSubmatch(ready)
	require.Len(t, url, 2, ready)

	resp, err := http.Get(url[1] + "/readyz")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode, string(body))

	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	var rest []string
	for l := range lines {
		rest = append(rest, l)
	}
	require.NoError(t, cmd.Wait(), "exit status 0 after SIGINT")
	require.Contains(t, strings.Join(rest, "\n"), `msg="store closed"`)
	require.DirExists(t, filepath.Join(work, "data", "db"))
}
