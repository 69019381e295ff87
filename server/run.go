// Package server is teamaccess's composition root: it reads the configuration, builds every
// part, wires the HTTP routes, and runs until told to stop.
package server

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes of the teamaccess command.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// Run is the whole teamaccess command: main calls it and exits with what it returns. It takes
// everything from the outside world as arguments, so tests can run the real service in
// process. SIGINT and SIGTERM, or cancelling ctx, stop it gracefully.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	cmd, rest := "serve", args
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, rest = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = runServe(ctx, rest, getenv, stdout, stderr)
	case "apikey":
		err = runAPIKey(ctx, rest, getenv, stdout, stderr)
	case "org":
		err = runOrg(ctx, rest, getenv, stdout, stderr)
	case "simulate":
		err = runSimulate(ctx, rest, getenv, stdout, stderr)
	case "explain":
		err = runExplain(ctx, rest, getenv, stdout, stderr)
	case "version":
		err = runVersion(rest, stdout, stderr)
	case "help":
		printCommands(stdout)
		return exitOK
	default:
		err = usagef("unknown command %q; run `teamaccess help` for the list", cmd)
	}
	return exitCode(err, stderr)
}

// exitCode reports err, if any, and turns it into the process's exit code.
func exitCode(err error, stderr io.Writer) int {
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "teamaccess: %v\n", err)
		return exitUsage
	case errors.Is(err, errFlagParse):
		return exitUsage
	default:
		fmt.Fprintf(stderr, "teamaccess: %v\n", err)
		return exitFailure
	}
}

func printCommands(w io.Writer) {
	fmt.Fprint(w, `teamaccess connects a Microsoft 365 tenant to a GraphQL API.

Usage: teamaccess [command] [flags]

Commands:
  serve     run the service (the default command)
  apikey    create, list or revoke API keys (create|list|revoke)
  org       create or list organizations (create|list)
  simulate  run graphsim, a simulated Microsoft 365 tenant, standalone
  explain   show how the database runs each query (a query plan review)
  version   print the version and exit
  help      print this help

Run "teamaccess <command> --help" for a command's flags.
`)
}
