package server

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// ignore runs an action for its effect only.
func ignore[T any](a chromedp.Action[T]) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := a(ctx, t)
		return chromedp.Void{}, err
	}
}

// press clicks a button from the page's script: the page draws its sections as their data
// arrives, and a click at coordinates read a moment earlier can land on whatever moved there.
func press(selector string) chromedp.Action[chromedp.Void] {
	return ignore(chromedp.Evaluate[bool](`document.querySelector(` + strconv.Quote(selector) + `).click(); true`))
}

// findChromium looks for Debian's chromium (or another Chrome) on this machine.
func findChromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// artifactDir is where tests leave screenshots: $TEAMACCESS_ARTIFACTS, or artifacts/ at the
// repository's root (ignored by git).
func artifactDir(t *testing.T) string {
	dir := os.Getenv("TEAMACCESS_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("..", "artifacts")
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return dir
}

// browser starts headless Chromium at 1280 px and answers its first tab, closed when the test
// ends; nothing it does may take longer than limit.
func browser(t testing.TB, chrome string, limit time.Duration) context.Context {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true),
		// graphsim's own certificate authority stands in for Microsoft's public one.
		chromedp.Flag("ignore-certificate-errors", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 1000),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	tab, cancelTab := chromedp.NewContext(alloc)
	tab, cancelTimeout := context.WithTimeout(tab, limit)
	t.Cleanup(func() { cancelTimeout(); cancelTab(); cancelAlloc() })
	return tab
}

// screenshot keeps the page as it is now among the test's artifacts.
func screenshot(t *testing.T, page context.Context, name string) {
	t.Helper()
	shot, err := chromedp.Run(page, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(artifactDir(t), name), shot, 0o644))
}

// checkAccessibility runs axe-core (clients/node_modules, installed by npm ci) in the page and
// fails on any serious or critical violation of WCAG 2.1 A and AA.
func checkAccessibility(t *testing.T, page context.Context) {
	t.Helper()
	axe, err := os.ReadFile(filepath.Join("..", "clients", "node_modules", "axe-core", "axe.min.js"))
	if err != nil {
		if os.Getenv("TEAMACCESS_REQUIRE_NODE") != "" {
			t.Fatalf("axe-core is missing (npm ci --prefix clients): %v", err)
		}
		t.Log("axe-core is not installed (npm ci --prefix clients): accessibility not checked")
		return
	}
	_, err = chromedp.Run(page, chromedp.Evaluate[bool](string(axe)+";true"))
	require.NoError(t, err)
	report, err := chromedp.Run(page, chromedp.Evaluate[string](`axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})
		.then(function (r) { return JSON.stringify(r.violations.filter(function (v) { return v.impact === 'serious' || v.impact === 'critical'; })
		.map(function (v) { return v.id + ' (' + v.impact + '): ' + v.help + ' at ' + v.nodes.slice(0, 3).map(function (n) { return n.target.join(' '); }).join(', '); })); })`,
		chromedp.EvalAwaitPromise))
	require.NoError(t, err)
	var violations []string
	require.NoError(t, json.Unmarshal([]byte(report), &violations))
	require.Empty(t, violations, "axe-core: serious or critical accessibility violations")
}

// controlCall sends a JSON request to graphsim's control API.
func controlCall(t *testing.T, method, url string, body any) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, err := http.NewRequest(method, url, bytes.NewReader(b))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Less(t, resp.StatusCode, 300, "%s %s", method, url)
}
