package server

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Bad configuration stops start-up before anything is written: exit code 2, a message naming
// the flag or variable at fault.
func TestBadConfigurationStopsStartupAndWritesNothing(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	aFile := filepath.Join(base, "a-file")
	require.NoError(t, os.WriteFile(aFile, []byte("x"), 0o600))
	for _, tc := range []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{"listen without port", []string{"--listen", "localhost"}, nil, `invalid --listen: "localhost" is not host:port`},
		{"listen port out of range", []string{"--listen", "127.0.0.1:99999"}, nil, "port must be a number from 0 to 65535"},
		{"listen from the environment", nil, []string{"TEAMACCESS_LISTEN", "no such:host:1"}, "invalid TEAMACCESS_LISTEN"},
		{"flag wins over environment", []string{"--listen", "bad"}, []string{"TEAMACCESS_LISTEN", "127.0.0.1:0"}, "invalid --listen"},
		{"URI with another scheme", []string{"--mongodb-uri", "postgres://localhost/db"}, nil, "invalid --mongodb-uri"},
		{"URI from the environment", nil, []string{"MONGODB_URI", "mongodb://h:99999"}, "invalid MONGODB_URI"},
		{"public URL not absolute", []string{"--public-url", "teamaccess.example.com"}, nil, "invalid --public-url"},
		{"log level", nil, []string{"TEAMACCESS_LOG_LEVEL", "loud"}, `invalid TEAMACCESS_LOG_LEVEL: "loud" is not one of debug, info, warn, error`},
		{"log format", []string{"--log-format", "xml"}, nil, "invalid --log-format"},
		{"database name", []string{"--mongodb-database", "a/b"}, nil, "invalid --mongodb-database"},
		{"timeout", []string{"--shutdown-timeout", "-1s"}, nil, "invalid --shutdown-timeout"},
		{"data dir is a file", []string{"--data-dir", aFile}, nil, "it is not a directory"},
		{"data dir under a file", []string{"--data-dir", filepath.Join(aFile, "data")}, nil, "a-file is not a directory"},
		{"unknown flag", []string{"--listne", "x"}, nil, "flag provided but not defined: -listne"},
		{"stray argument", []string{"now"}, nil, `unexpected argument "now"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dataDir := filepath.Join(t.TempDir(), "data")
			args := append([]string{"serve", "--data-dir", dataDir}, tc.args...)
			var stdout, stderr strings.Builder
			code := Run(t.Context(), args, env(tc.env...), &stdout, &stderr)
			require.Equal(t, 2, code, stderr.String())
			require.Contains(t, stderr.String(), tc.want)
			require.NoDirExists(t, dataDir, "nothing may be written")
			require.NoFileExists(t, filepath.Join(aFile, "data"))
		})
	}
}

func TestUnreachableMongoDBFailsWithItsAddress(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(t.TempDir(), "data")
	var stdout, stderr strings.Builder
	code := Run(t.Context(), []string{"serve", "--listen", "127.0.0.1:0", "--data-dir", dataDir,
		"--mongodb-timeout", "300ms", "--log-format", "json"},
		env("MONGODB_URI", "mongodb://app:s3cret@127.0.0.1:1/?directConnection=true"), &stdout, &stderr)
	require.Equal(t, 1, code)
	require.Contains(t, stderr.String(), "cannot reach MongoDB at 127.0.0.1:1")
	require.NotContains(t, stderr.String(), "s3cret")
	require.NoDirExists(t, dataDir)
}

func TestHelpNamesEveryFlagAndVariable(t *testing.T) {
	t.Parallel()
	var stdout, stderr strings.Builder
	require.Equal(t, 0, Run(t.Context(), []string{"serve", "--help"}, env(), &stdout, &stderr))
	for _, o := range serveOptions {
		require.Contains(t, stderr.String(), "--"+o.flag)
		require.Contains(t, stderr.String(), "env "+o.env)
	}
	stdout.Reset()
	require.Equal(t, 0, Run(t.Context(), []string{"help"}, env(), &stdout, &stderr))
	require.Contains(t, stdout.String(), "serve")
	require.Contains(t, stdout.String(), "version")

	stdout.Reset()
	require.Equal(t, 0, Run(t.Context(), []string{"version"}, env(), &stdout, &stderr))
	require.Regexp(t, `^teamaccess \S+ \(go1\.\d+`, stdout.String())

	stderr.Reset()
	require.Equal(t, 2, Run(t.Context(), []string{"frobnicate"}, env(), &stdout, &stderr))
	require.Contains(t, stderr.String(), `unknown command "frobnicate"`)
}

func TestSettingsComeFromFlagsThenEnvironmentThenDefaults(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c, err := parseConfig(serveCommand, flag.NewFlagSet("", flag.ContinueOnError), []string{"--log-level", "debug"}, env(
		"TEAMACCESS_LOG_LEVEL", "error",
		"TEAMACCESS_DATA_DIR", dir,
		"TEAMACCESS_PUBLIC_URL", "https://teamaccess.example.com/base/",
		"TEAMACCESS_LOG_FORMAT", "auto",
	), &strings.Builder{}, true)
	require.NoError(t, err)
	require.Equal(t, "DEBUG", c.logLevel.String(), "the flag wins")
	require.Equal(t, dir, c.dataDir, "the environment fills what no flag set")
	require.Equal(t, "https://teamaccess.example.com/base", c.publicURL.String())
	require.Equal(t, "127.0.0.1:8080", c.listen, "the default")
	require.Equal(t, "text", c.logFormat, "auto on a terminal is text")
	require.Equal(t, "teamaccess", c.mongoDatabase)

	require.Equal(t, "http://localhost:8080", defaultPublicURL("0.0.0.0:8080").String())
	require.Equal(t, "http://127.0.0.1:9000", defaultPublicURL("127.0.0.1:9000").String())
}

// The README's configuration table is what users read; it must list every setting.
func TestREADMEListsEverySetting(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	for _, o := range serveOptions {
		row := "| `--" + o.flag + "` | `" + o.env + "` |"
		require.True(t, strings.Contains(string(readme), row), "README.md lacks the row %s", row)
	}
}

func TestTheGraphConcurrencyScopeIsMailboxOrTenant(t *testing.T) {
	t.Parallel()
	for v, ok := range map[string]bool{"mailbox": true, "tenant": true, "app": false, "": false} {
		err := applyConcurrencyScope(&config{}, v)
		require.Equal(t, ok, err == nil, v)
	}
}
