// Package launch is the local launcher behind the commands' `--np N`: it
// starts an embedded nats-server on a free loopback port and N copies of a
// command as the ranks of one job, forwards their output with a rank
// prefix, and stops the whole job when one rank fails.
package launch

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"

	"pwstore/collective"
	"pwstore/internal/infra/natsd"
)

// DefaultGrace is the time ranks get between SIGTERM and SIGKILL.
const DefaultGrace = 5 * time.Second

// Options describe a local job.
type Options struct {
	NP   int      // number of ranks, >= 1
	Argv []string // the command every rank runs
	// Env is the ranks' base environment (nil: this process's); the
	// launcher adds PW_RANK, PW_SIZE, PW_JOB and, for more than one rank,
	// PW_NATS_URL and PW_NATS_TOKEN (collective.FromEnv reads them).
	Env []string
	Dir string // working directory of the ranks ("": this process's)
	// Stdout and Stderr receive the ranks' lines as "[rank N] line"; lines
	// of rank 0's stdout starting with '{' (JSON) pass unchanged. nil means
	// os.Stdout and os.Stderr.
	Stdout, Stderr io.Writer
	Job            string        // job id ("": "local-" and a random suffix)
	Grace          time.Duration // SIGTERM to SIGKILL (0: DefaultGrace)
	// NATS configures the embedded server (started only for NP > 1); its
	// Listen defaults to a free loopback port, its Token to a random one.
	NATS natsd.Options
	// URL, if set, is a running NATS server for the job (its token in
	// Token): none is started, and every rank gets it, even a job of one
	// (several jobs sharing one server, as a writer and its readers do for
	// tick announcements).
	URL, Token string

	Logger *zap.Logger // nil: no logging
}

// RankError is the failure of a job: the first rank that exited non-zero
// or was killed by a signal the launcher did not send.
type RankError struct {
	Rank  int
	State *os.ProcessState
}

func (e *RankError) Error() string {
	if ws, ok := e.State.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return fmt.Sprintf("rank %d was killed by signal %d (%v)", e.Rank, int(ws.Signal()), ws.Signal())
	}
	return fmt.Sprintf("rank %d exited with status %d", e.Rank, e.State.ExitCode())
}

// Run runs the job and returns when every rank has ended: nil if all exited
// with status 0, else a *RankError for the first failure (the others are
// stopped: SIGTERM, then SIGKILL after the grace period), or ctx's error if
// ctx ended first (the ranks are stopped the same way).
func Run(ctx context.Context, o Options) error {
	if o.NP < 1 {
		return fmt.Errorf("launch: %d ranks", o.NP)
	}
	if len(o.Argv) == 0 {
		return errors.New("launch: no command")
	}
	log := o.Logger
	if log == nil {
		log = zap.NewNop()
	}
	grace := o.Grace
	if grace <= 0 {
		grace = DefaultGrace
	}
	job := o.Job
	if job == "" {
		job = "local-" + randomHex(6)
	}
	env := o.Env
	if env == nil {
		env = os.Environ()
	}
	env = append(withoutOurs(env), collective.EnvSize+"="+strconv.Itoa(o.NP), collective.EnvJob+"="+job)
	switch {
	case o.URL != "":
		env = append(env, collective.EnvURL+"="+o.URL)
		if o.Token != "" {
			env = append(env, collective.EnvToken+"="+o.Token)
		}
	case o.NP > 1:
		nopts := o.NATS
		if nopts.Token == "" && nopts.User == "" {
			nopts.Token = randomHex(16)
		}
		if nopts.Logger == nil {
			nopts.Logger = o.Logger
		}
		srv, err := natsd.Start(nopts)
		if err != nil {
			return fmt.Errorf("launch: %w", err)
		}
		defer srv.Shutdown()
		env = append(env, collective.EnvURL+"="+srv.URL())
		if nopts.Token != "" {
			env = append(env, collective.EnvToken+"="+nopts.Token)
		}
		log.Info("nats server started", zap.String("url", srv.URL()), zap.String("job", job))
	}
	stdout, stderr := o.Stdout, o.Stderr
	if stdout == nil {
		stdout = os.Stdout
	}
	if stderr == nil {
		stderr = os.Stderr
	}
	// The ranks die with the thread that starts them (dieWithLauncher): keep
	// this goroutine on one thread until they have all ended.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	// One writer for both streams (as os/exec allows) gets one lock.
	out, errw := &lockedWriter{w: stdout}, &lockedWriter{w: stderr}
	if sameWriter(stdout, stderr) {
		errw = out
	}
	j := &jobRun{
		log:    log.With(zap.String("job", job)),
		grace:  grace,
		stdout: out,
		stderr: errw,
		exits:  make(chan exit, o.NP),
	}
	for r := range o.NP {
		if err := j.start(r, o.Argv, o.Dir, append(env[:len(env):len(env)], collective.EnvRank+"="+strconv.Itoa(r))); err != nil {
			j.stopAll(syscall.SIGTERM)
			_ = j.wait(context.Background(), true) // the start error says more
			return err
		}
	}
	return j.wait(ctx, false)
}

// jobRun holds the processes of one Run; only Run's goroutine uses it,
// apart from the waiters, which only send on exits.
type jobRun struct {
	log            *zap.Logger
	grace          time.Duration
	stdout, stderr *lockedWriter
	procs          []*rankProc
	exits          chan exit // one per started rank, from its waiter
}

type rankProc struct {
	rank     int
	cmd      *exec.Cmd
	out, err *lineWriter
	running  bool
}

type exit struct {
	rank int
	err  error
}

func (j *jobRun) start(rank int, argv []string, dir string, env []string) error {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env, cmd.Dir = env, dir
	dieWithLauncher(cmd)
	p := &rankProc{
		rank: rank,
		cmd:  cmd,
		out:  newLineWriter(j.stdout, rank, rank == 0),
		err:  newLineWriter(j.stderr, rank, false),
	}
	cmd.Stdout, cmd.Stderr = p.out, p.err
	// A rank's children may hold its output open after it ends: do not
	// wait for them longer than the grace period.
	cmd.WaitDelay = j.grace
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("launch: start rank %d: %w", rank, err)
	}
	p.running = true
	j.procs = append(j.procs, p)
	j.log.Debug("rank started", zap.Int("rank", rank), zap.Int("pid", cmd.Process.Pid))
	// The waiter ends when the process does (at the latest after SIGKILL
	// and WaitDelay); Run's wait collects its exit.
	go func() {
		err := cmd.Wait()
		p.out.flush()
		p.err.flush()
		j.exits <- exit{rank: rank, err: err}
	}()
	return nil
}

// stopAll signals every rank still running.
func (j *jobRun) stopAll(sig syscall.Signal) {
	for _, p := range j.procs {
		if p.running {
			// Fails only if the process has just ended.
			_ = p.cmd.Process.Signal(sig)
		}
	}
}

// wait collects every started rank's exit. The first failure (or the end of
// ctx) stops the others: SIGTERM, then SIGKILL after the grace period.
// stopping says the ranks were already sent SIGTERM.
func (j *jobRun) wait(ctx context.Context, stopping bool) error {
	var first error
	done := ctx.Done()
	var kill <-chan time.Time
	if stopping {
		done, kill = nil, time.After(j.grace)
	}
	stop := func(why error) {
		first, stopping, done = why, true, nil
		j.stopAll(syscall.SIGTERM)
		kill = time.After(j.grace)
	}
	left := len(j.procs)
	for left > 0 {
		select {
		case e := <-j.exits:
			left--
			p := j.procs[e.rank]
			p.running = false
			var ee *exec.ExitError
			switch {
			case e.err == nil:
				j.log.Debug("rank exited", zap.Int("rank", e.rank))
			case stopping:
				// Stopped by us, or failing while the job stops anyway.
				j.log.Debug("rank stopped", zap.Int("rank", e.rank), zap.Error(e.err))
			case errors.As(e.err, &ee):
				err := &RankError{Rank: e.rank, State: ee.ProcessState}
				j.log.Warn("rank failed; stopping the job", zap.Error(err))
				stop(err)
			default:
				err := fmt.Errorf("launch: rank %d: %w", e.rank, e.err)
				j.log.Warn("rank failed; stopping the job", zap.Error(err))
				stop(err)
			}
		case <-done:
			j.log.Warn("job canceled; stopping the ranks", zap.Error(ctx.Err()))
			stop(fmt.Errorf("launch: %w", ctx.Err()))
		case <-kill:
			kill = nil
			j.log.Warn("ranks did not stop within the grace period; killing them", zap.Duration("grace", j.grace))
			j.stopAll(syscall.SIGKILL)
		}
	}
	return first
}

// withoutOurs drops inherited launcher variables, so a job started from
// within a rank gets its own.
func withoutOurs(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case collective.EnvRank, collective.EnvSize, collective.EnvJob, collective.EnvURL, collective.EnvToken:
		default:
			out = append(out, kv)
		}
	}
	return out
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
	return hex.EncodeToString(b)
}
