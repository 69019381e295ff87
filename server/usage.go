package server

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// errFlagParse marks a command line the flag package rejected; it has already told the user.
var errFlagParse = errors.New("bad command line")

// printUsage lists a command's flags with the environment variable that sets each one.
func printUsage(w io.Writer, name, summary string, fs *flag.FlagSet, opts []option) {
	fmt.Fprintf(w, "Usage: teamaccess %s [flags]\n\n%s\n\nFlags (each may be set by the environment variable named; a flag wins):\n", name, summary)
	for _, o := range opts {
		f := fs.Lookup(o.flag)
		placeholder, usage := flag.UnquoteUsage(f)
		fmt.Fprintf(w, "  --%s %s\n      %s\n      env %s", o.flag, placeholder, usage, o.env)
		if o.def != "" {
			fmt.Fprintf(w, "; default %s", o.def)
		}
		fmt.Fprintln(w)
	}
}
