package cli

import "strings"

// Strip removes the named flags (each taking a value) from args, in any of
// the forms -name v, --name v, -name=v and --name=v: the launcher passes
// the rest of its own command line on to the ranks it starts.
func Strip(args []string, names ...string) []string {
	drop := map[string]bool{}
	for _, n := range names {
		drop[n] = true
	}
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && drop[name] {
			if !hasValue {
				i++ // the value is the next argument
			}
			continue
		}
		out = append(out, a)
	}
	return out
}
