// Package cli holds what pwriter and preader share: flag parsing that
// accepts flags after the file argument, the one-line error and exit
// status convention, per-rank log files, and the NATS flags of a rank.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"pwstore/collective"
	"pwstore/coord"
)

// Exit statuses.
const (
	ExitFail  = 1 // the work failed
	ExitUsage = 2 // bad flags or arguments
)

// UsageError marks an error in the command line.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// Usagef formats a usage error.
func Usagef(format string, args ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, args...)}
}

// Exit prints err as one line prefixed with the program name and exits
// with the matching status (ExitUsage for a usage or configuration
// error); nil exits 0.
func Exit(prog string, err error) {
	if err == nil {
		os.Exit(0)
	}
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	msg := strings.ReplaceAll(err.Error(), "\n", "; ")
	fmt.Fprintf(os.Stderr, "%s: %s\n", prog, msg)
	var ue *UsageError
	if errors.As(err, &ue) || errors.Is(err, coord.ErrConfig) {
		os.Exit(ExitUsage)
	}
	os.Exit(ExitFail)
}

// Parse parses args with fs, allowing flags before and after the
// positional arguments, and checks their count is within [min, max].
func Parse(fs *flag.FlagSet, args []string, min, max int) ([]string, error) {
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.SetOutput(os.Stderr)
				fs.Usage()
				return nil, err
			}
			return nil, Usagef("%s: %v", fs.Name(), err)
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if len(pos) < min || len(pos) > max {
		return nil, Usagef("%s: want %s, got %d argument(s) (see -h)", fs.Name(), plural(min, max), len(pos))
	}
	return pos, nil
}

func plural(min, max int) string {
	if min == max {
		return fmt.Sprintf("%d argument(s)", min)
	}
	return fmt.Sprintf("%d to %d arguments", min, max)
}

// Logger opens the log file of this rank: path with "%r" replaced by the
// rank, or, without "%r" in a job of several ranks, path + ".rankN". An
// empty path logs nothing. The returned function flushes and closes it.
func Logger(path string, rank, size int) (*zap.Logger, func(), error) {
	if path == "" {
		return zap.NewNop(), func() {}, nil
	}
	switch {
	case strings.Contains(path, "%r"):
		path = strings.ReplaceAll(path, "%r", fmt.Sprint(rank))
	case size > 1:
		path = fmt.Sprintf("%s.rank%d", path, rank)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("log file: %w", err)
	}
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.RFC3339NanoTimeEncoder
	core := zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.AddSync(f), zap.DebugLevel)
	log := zap.New(core).With(zap.Int("rank", rank))
	return log, func() { log.Sync(); f.Close() }, nil
}

// NATS are the flags that say how a rank reaches its job's NATS server.
type NATS struct {
	NoAnnounce bool // no tick announcements: readers poll

	URL                string
	Auth               collective.Auth
	Timeout, JoinAfter time.Duration
}

// Register adds the NATS flags to fs.
func (n *NATS) Register(fs *flag.FlagSet) {
	fs.StringVar(&n.URL, "nats", "", "NATS server URL for a job of several ranks (default $PW_NATS_URL)")
	fs.StringVar(&n.Auth.Token, "nats-token", "", "NATS authentication token")
	fs.StringVar(&n.Auth.User, "nats-user", "", "NATS user name (with --nats-password)")
	fs.StringVar(&n.Auth.Password, "nats-password", "", "NATS password")
	fs.StringVar(&n.Auth.NkeySeedFile, "nats-nkey", "", "NATS nkey seed file")
	fs.StringVar(&n.Auth.CredsFile, "nats-creds", "", "NATS credentials (JWT) file")
	fs.StringVar(&n.Auth.CAFile, "nats-ca", "", "CA file to verify a TLS NATS server")
	fs.StringVar(&n.Auth.CertFile, "nats-cert", "", "client certificate for TLS (with --nats-key)")
	fs.StringVar(&n.Auth.KeyFile, "nats-key", "", "client key for TLS")
	fs.DurationVar(&n.Timeout, "coll-timeout", collective.DefaultTimeout, "a rank that does not answer a collective within this fails the job")
	fs.DurationVar(&n.JoinAfter, "join-timeout", collective.DefaultJoinTimeout, "how long ranks wait for each other at start")
	fs.BoolVar(&n.NoAnnounce, "no-announce", false, "no tick announcements over NATS: the writer does not send them, readers poll")
}

// Rank reads this process's place in its job from the environment.
func Rank() (collective.Env, error) {
	env, err := collective.FromEnv(os.Getenv)
	if err != nil {
		return env, fmt.Errorf("rank environment: %w", err)
	}
	return env, nil
}

// Open connects this rank to its job (nil for a job of one rank).
func (n *NATS) Open(env collective.Env, name string, log *zap.Logger) (collective.Comm, error) {
	if env.Size <= 1 {
		return nil, nil
	}
	cfg := env.Config()
	if n.URL != "" {
		cfg.URL = n.URL
	}
	if cfg.URL == "" {
		return nil, Usagef("rank %d of %d: no NATS server: give --nats URL or set %s", env.Rank, env.Size, collective.EnvURL)
	}
	if n.Auth != (collective.Auth{}) {
		cfg.Auth = n.Auth // flags win over the environment (the launcher's token)
	}
	cfg.Name, cfg.Timeout, cfg.JoinTimeout, cfg.Logger = name, n.Timeout, n.JoinAfter, log
	comm, err := collective.Open(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("rank %d of %d: %w", env.Rank, env.Size, err)
	}
	return comm, nil
}

// Terminal reports whether f is a terminal (progress lines go there).
func Terminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
