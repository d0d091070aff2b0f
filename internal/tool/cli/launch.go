package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"pwstore/internal/infra/launch"
	"pwstore/internal/infra/natsd"
)

// Group is one job the local launcher starts: N ranks of this same binary
// run with Args.
type Group struct {
	Label string // prefixes the group's non-JSON lines when several groups run
	N     int
	Args  []string
	// Grace is how long its ranks may take to stop after SIGTERM before
	// they are killed (0: the launcher's default).
	Grace time.Duration
}

// Launch runs the groups at once as separate jobs and waits for all. One
// group gets its own embedded NATS server (if it has several ranks);
// several groups - a writer and its readers - share one, on which the
// writer announces its ticks and the readers hear them. When one fails,
// the others are stopped; the error names the group and rank that failed
// first, and a rank's usage status (2) becomes the job's. The first SIGINT
// or SIGTERM stops the ranks with SIGTERM (a writer rank then closes its
// file cleanly) and ends with status 128 + the signal; a second one kills
// the launcher and, with it, every rank.
func Launch(groups []Group) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("launch: %w", err)
	}
	var shared *natsd.Server
	token := ""
	if len(groups) > 1 {
		token = randomToken()
		if shared, err = natsd.Start(natsd.Options{Token: token}); err != nil {
			return fmt.Errorf("launch: %w", err)
		}
		defer shared.Shutdown()
	}
	in := NewInterrupt()
	defer in.Stop()
	ctx, cancel := context.WithCancel(in.Context())
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, len(groups))
	for i, g := range groups {
		o := launch.Options{NP: g.N, Argv: append([]string{exe}, g.Args...), Grace: g.Grace,
			Env: append(os.Environ(), EnvLocalRank+"=1")}
		if shared != nil {
			o.URL, o.Token = shared.URL(), token
		}
		if Terminal(os.Stderr) {
			o.Env = append(o.Env, EnvProgress+"=1")
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
	if err := in.Err("ranks stopped with SIGTERM (writer ranks close their file cleanly first)"); err != nil {
		return err
	}
	var out []error
	usage := false
	for i, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			var re *launch.RankError
			usage = usage || errors.As(err, &re) && re.State.ExitCode() == ExitUsage
			out = append(out, fmt.Errorf("%s job: %w", groups[i].Label, err))
		}
	}
	if usage {
		return &CodeError{Code: ExitUsage, Err: errors.Join(out...)}
	}
	return errors.Join(out...)
}

func randomToken() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
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
