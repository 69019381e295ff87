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
func printUsage(w io.Writer, cmd command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: teamaccess %s [flags] %s\n\n%s\n", cmd.name, cmd.args, cmd.summary)
	configured := map[string]bool{}
	for _, o := range cmd.opts {
		configured[o.flag] = true
	}
	own := false
	fs.VisitAll(func(f *flag.Flag) {
		if configured[f.Name] {
			return
		}
		if !own {
			fmt.Fprintf(w, "\nFlags of %s:\n", cmd.name)
			own = true
		}
		placeholder, usage := flag.UnquoteUsage(f)
		fmt.Fprintf(w, "  --%s %s\n      %s", f.Name, placeholder, usage)
		if f.DefValue != "" {
			fmt.Fprintf(w, "; default %s", f.DefValue)
		}
		fmt.Fprintln(w)
	})
	fmt.Fprintf(w, "\nSettings (each may be set by the environment variable named; a flag wins):\n")
	for _, o := range cmd.opts {
		f := fs.Lookup(o.flag)
		placeholder, usage := flag.UnquoteUsage(f)
		fmt.Fprintf(w, "  --%s %s\n      %s\n      env %s", o.flag, placeholder, usage, o.env)
		if o.def != "" {
			fmt.Fprintf(w, "; default %s", o.def)
		}
		fmt.Fprintln(w)
	}
}
