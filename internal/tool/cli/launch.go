package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"pwstore/internal/infra/launch"
)

// Group is one job the local launcher starts: N ranks of this same binary
// run with Args.
type Group struct {
	Label string // prefixes the group's non-JSON lines when several groups run
	N     int
	Args  []string
}

// Launch runs the groups at once as separate jobs, each on its own embedded
// NATS server, and waits for all. When one fails, the others are stopped;
// the error names the group and rank that failed first.
func Launch(groups []Group) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("launch: %w", err)
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, len(groups))
	for i, g := range groups {
		o := launch.Options{NP: g.N, Argv: append([]string{exe}, g.Args...)}
		if Terminal(os.Stderr) {
			o.Env = append(os.Environ(), EnvProgress+"=1")
		}
		if len(groups) > 1 {
			o.Stdout = labelled{w: os.Stdout, label: g.Label}
			o.Stderr = labelled{w: os.Stderr, label: g.Label}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := launch.Run(ctx, o); err != nil {
				errs[i] = err
				cancel()
			}
		}()
	}
	wg.Wait()
	var out []error
	for i, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			out = append(out, fmt.Errorf("%s job: %w", groups[i].Label, err))
		}
	}
	if out == nil && ctx.Err() != nil {
		return fmt.Errorf("interrupted")
	}
	return errors.Join(out...)
}

// labelled prefixes each line (the launcher writes whole lines) with a
// group label, except JSON lines, which stay machine-readable.
type labelled struct {
	w     io.Writer
	label string
}

func (l labelled) Write(p []byte) (int, error) {
	if len(p) > 0 && p[0] == '{' {
		return l.w.Write(p)
	}
	if _, err := fmt.Fprintf(l.w, "[%s] %s", l.label, p); err != nil {
		return 0, err
	}
	return len(p), nil
}
