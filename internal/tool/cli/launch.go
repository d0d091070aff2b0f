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

	"github.com/nats-io/nats.go"

	"pwstore/collective"
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
	// Ready: the groups after this one start once its rank 0 says it is
	// ready (Ready, through EnvReady), or fail with it. --watch readers
	// are ready once they have joined: started first, they follow the
	// writer from its first tick, and their start does not take the
	// writer's cores while it runs.
	Ready bool
}

// EnvReady, set by the local launcher for a group that must be ready before
// the next one starts, is the NATS subject on which its rank 0 says so.
const EnvReady = "PW_READY_SUBJECT"

// readyWait is the longest the launcher waits for a group to be ready.
const readyWait = 2 * time.Minute

// Ready tells the local launcher that this rank's group is ready (rank 0,
// when it was launched by Launch with a Ready group; a no-op otherwise).
func Ready(env collective.Env) error {
	subject := os.Getenv(EnvReady)
	if subject == "" || env.Rank != 0 {
		return nil
	}
	if err := publishOnce(env, subject); err != nil {
		return fmt.Errorf("tell the launcher this job is ready: %w", err)
	}
	return nil
}

// publishOnce publishes an empty message on subject of env's server and
// waits until the server has it.
func publishOnce(env collective.Env, subject string) error {
	nc, err := collective.Dial(env.URL, collective.Auth{Token: env.Token}, "pwstore ready")
	if err != nil {
		return err
	}
	defer nc.Close()
	if err := nc.Publish(subject, nil); err != nil {
		return err
	}
	return nc.Flush()
}

// Launch runs the groups as separate jobs - at once, but for the groups
// after a Ready one, which start once it is ready - and waits for all. One
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
	errs := make([]error, len(groups)) // each written by its group's goroutine
	var startErr error                 // a group could not be started, or was not ready
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
		var ready *readiness
		if g.Ready && shared != nil {
			subject := "pw.ready." + randomToken()
			if ready, startErr = listen(shared, token, subject); startErr != nil {
				cancel()
				break
			}
			o.Env = append(o.Env, EnvReady+"="+subject)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := launch.Run(ctx, o); err != nil {
				errs[i] = err
				cancel()
			}
		}()
		if ready == nil {
			continue
		}
		if err := ready.wait(ctx); err != nil {
			if ctx.Err() == nil { // else a rank failed, or a signal came: said below
				startErr = fmt.Errorf("%s job: %w", g.Label, err)
			}
			cancel()
			break
		}
	}
	wg.Wait()
	if err := in.Err("ranks stopped with SIGTERM (writer ranks close their file cleanly first)"); err != nil {
		return err
	}
	out := []error{startErr}
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

// readiness is the launcher listening for a group's ready message.
type readiness struct {
	nc  *nats.Conn
	sub *nats.Subscription
}

// listen listens on subject on the launcher's own server.
func listen(srv *natsd.Server, token, subject string) (*readiness, error) {
	nc, err := collective.Dial(srv.URL(), collective.Auth{Token: token}, "pwstore launcher")
	if err != nil {
		return nil, fmt.Errorf("launch: %w", err)
	}
	sub, err := nc.SubscribeSync(subject)
	if err == nil {
		err = nc.Flush()
	}
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("launch: %w", err)
	}
	return &readiness{nc, sub}, nil
}

// wait waits for the ready message, at most readyWait, or until ctx ends
// (a rank failed, or a signal), and closes the connection.
func (r *readiness) wait(ctx context.Context) error {
	defer r.nc.Close()
	ctx, cancel := context.WithTimeout(ctx, readyWait)
	defer cancel()
	if _, err := r.sub.NextMsgWithContext(ctx); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("not ready after %v", readyWait)
		}
		return err
	}
	return nil
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
