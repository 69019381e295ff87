// Command teamaccess connects an organisation's Microsoft 365 tenant to a GraphQL API. Run
// `teamaccess help` for its commands.
package main

import (
	"context"
	"os"

	"github.com/teamaccess/teamaccess/server"
)

func main() {
	os.Exit(server.Run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}
