package server

import (
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// version is the release, set at build time with
// -ldflags "-X github.com/teamaccess/teamaccess/server.version=v1.2.3".
var version = "dev"

// buildVersion is the release, or the module version when installed with `go install`.
func buildVersion() string {
	if version != "dev" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return version
}

func runVersion(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: teamaccess version\n\nPrint the release and the Go version it was built with.")
	}
	if err := fs.Parse(args); err != nil {
		return flagErr(err)
	}
	fmt.Fprintf(stdout, "teamaccess %s (%s, %s/%s)\n", buildVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}

// flagErr passes -help through and marks other flag errors, which flag has already printed.
func flagErr(err error) error {
	if err == flag.ErrHelp {
		return err
	}
	return errFlagParse
}
