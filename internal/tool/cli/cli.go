// Package cli holds what pwriter and preader share: flag parsing that
// accepts flags after the file argument, the one-line error and exit
// status convention, checks of the files a command is given, per-rank log
// files, and the NATS flags of a rank.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"pwstore/collective"
	"pwstore/coord"
)

// Exit statuses. A command interrupted by SIGINT or SIGTERM exits with 128
// plus the signal's number (130, 143) after closing its file cleanly.
const (
	ExitFail  = 1 // the work failed
	ExitUsage = 2 // bad flags, arguments or configuration
)

// UsageError marks an error in the command line.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// Usagef formats a usage error.
func Usagef(format string, args ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, args...)}
}

// CodeError carries the exit status the command ends with.
type CodeError struct {
	Code   int
	Err    error
	Silent bool // print nothing: another process (rank 0) says it
}

func (e *CodeError) Error() string { return e.Err.Error() }
func (e *CodeError) Unwrap() error { return e.Err }

// MaxLine bounds the error line a command prints; longer text is cut and
// the cut counted.
const MaxLine = 1000

// Exit prints err as one line, "prog: message", and exits with the matching
// status; nil exits 0. Usage and configuration errors exit 2 and point to
// prog -h.
func Exit(prog string, err error) {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	var ce *CodeError
	if !errors.As(err, &ce) || !ce.Silent {
		fmt.Fprintf(os.Stderr, "%s: %s\n", prog, Line(prog, err))
	}
	os.Exit(Code(err))
}

// Code is the exit status for err.
func Code(err error) int {
	var ce *CodeError
	var ue *UsageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ce):
		return ce.Code
	case errors.As(err, &ue), errors.Is(err, coord.ErrConfig):
		return ExitUsage
	}
	return ExitFail
}

// Line is err's message as the one line Exit prints: newlines joined,
// long quoted echoes of user input clipped, the whole bounded by MaxLine,
// and a usage error followed by where to read the usage.
func Line(prog string, err error) string {
	msg := strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", "; ")
	msg = quoted.ReplaceAllStringFunc(msg, func(q string) string { return Clip(q, 64) })
	var ue *UsageError
	if errors.As(err, &ue) && !strings.Contains(msg, " -h") {
		msg += " (see " + prog + " -h)"
	}
	return Clip(msg, MaxLine)
}

// quoted matches a Go-quoted string (what %q echoes) of 64 bytes or more.
var quoted = regexp.MustCompile(`"(?:[^"\\]|\\.){64,}"`)

// Clip shortens s to about n bytes, saying how long it was: user input
// echoed in a message is never longer than that.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := s[:n]
	for len(cut) > 0 && !validEnd(cut) {
		cut = cut[:len(cut)-1]
	}
	return fmt.Sprintf("%s... (%d bytes)", cut, len(s))
}

// validEnd reports whether s does not end inside a UTF-8 sequence.
func validEnd(s string) bool {
	return strings.ToValidUTF8(s, "\x00") == s
}

// Badf formats an error in a command's arguments that is not about its
// flags (a file of the wrong kind, a name too long): exit status 2.
func Badf(format string, args ...any) error {
	return &CodeError{Code: ExitUsage, Err: fmt.Errorf(format, args...)}
}

// NewFlags returns the flag set of a command named name (e.g. "preader
// cat"), whose -h prints "usage: name synopsis", what it does and its flags.
func NewFlags(name, synopsis, about string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: %s %s\n\n%s\n\nflags:\n", name, synopsis, about)
		fs.PrintDefaults()
	}
	return fs
}

// Parse parses args with fs, allowing flags before and after the
// positional arguments, and checks their count is within [min, max]. -h
// prints fs.Usage on stdout; a bad flag is one line (Exit's), never the
// whole usage.
func Parse(fs *flag.FlagSet, args []string, min, max int) ([]string, error) {
	help := fs.Usage
	fs.Usage = func() {} // the flag package calls it on every error
	defer func() { fs.Usage = help }()
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.SetOutput(os.Stdout)
				help()
				return nil, err
			}
			return nil, &UsageError{Msg: err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if len(pos) < min || len(pos) > max {
		return nil, Usagef("want %s, got %d", plural(min, max), len(pos))
	}
	return pos, nil
}

func plural(min, max int) string {
	switch {
	case min == max && min == 1:
		return "1 argument"
	case min == max:
		return fmt.Sprintf("%d arguments", min)
	}
	return fmt.Sprintf("%d to %d arguments", min, max)
}

// Positive refuses a value below 1 for each named flag that was given: a
// flag whose default means "the workload's" or "automatic" must not take
// that meaning from an explicit 0.
func Positive(fs *flag.FlagSet, names ...string) error {
	return checkSet(fs, names, func(v float64) bool { return v > 0 }, "must be positive")
}

// NotNegative refuses a negative value for each named flag.
func NotNegative(fs *flag.FlagSet, names ...string) error {
	return checkSet(fs, names, func(v float64) bool { return v >= 0 }, "must not be negative")
}

func checkSet(fs *flag.FlagSet, names []string, ok func(float64) bool, says string) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, name := range names {
		f := fs.Lookup(name)
		if f == nil || !set[name] {
			continue
		}
		var v float64
		switch x := f.Value.(flag.Getter).Get().(type) {
		case int:
			v = float64(x)
		case int64:
			v = float64(x)
		case uint64:
			v = float64(x)
		case time.Duration:
			v = float64(x)
		default:
			panic(fmt.Sprintf("cli: flag --%s is not a number", name))
		}
		if !ok(v) {
			return Usagef("--%s %s: %s", name, f.Value, says)
		}
	}
	return nil
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
	tokenFile          string
	passFile           string
}

// Register adds the NATS flags to fs.
func (n *NATS) Register(fs *flag.FlagSet) {
	fs.StringVar(&n.URL, "nats", "", "NATS server URL for a job of several ranks (default $PW_NATS_URL)")
	fs.StringVar(&n.Auth.Token, "nats-token", "", "NATS authentication token (visible to ps: prefer --nats-token-file or $"+collective.EnvToken+")")
	fs.StringVar(&n.tokenFile, "nats-token-file", "", "NATS authentication token, from this file")
	fs.StringVar(&n.Auth.User, "nats-user", "", "NATS user name (with a password)")
	fs.StringVar(&n.Auth.Password, "nats-password", "", "NATS password (visible to ps: prefer --nats-pass-file)")
	fs.StringVar(&n.passFile, "nats-pass-file", "", "NATS password, from this file")
	fs.StringVar(&n.Auth.NkeySeedFile, "nats-nkey", "", "NATS nkey seed file")
	fs.StringVar(&n.Auth.CredsFile, "nats-creds", "", "NATS credentials (JWT) file")
	fs.StringVar(&n.Auth.CAFile, "nats-ca", "", "CA file to verify a TLS NATS server")
	fs.StringVar(&n.Auth.CertFile, "nats-cert", "", "client certificate for TLS (with --nats-key)")
	fs.StringVar(&n.Auth.KeyFile, "nats-key", "", "client key for TLS")
	fs.DurationVar(&n.Timeout, "coll-timeout", collective.DefaultTimeout, "a rank that does not answer a collective within this fails the job")
	fs.DurationVar(&n.JoinAfter, "join-timeout", collective.DefaultJoinTimeout, "how long ranks wait for each other at start")
	fs.BoolVar(&n.NoAnnounce, "no-announce", false, "no tick announcements over NATS: the writer does not send them, readers poll")
}

// Check refuses the NATS flags' values that cannot work.
func (n *NATS) Check(fs *flag.FlagSet) error {
	return Positive(fs, "coll-timeout", "join-timeout")
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
	auth := n.Auth
	var err error
	if auth.Token, err = Secret("token", auth.Token, n.tokenFile, ""); err != nil {
		return nil, err
	}
	if auth.Password, err = Secret("password", auth.Password, n.passFile, ""); err != nil {
		return nil, err
	}
	if auth != (collective.Auth{}) {
		cfg.Auth = auth // flags win over the environment (the launcher's token)
	}
	cfg.Name, cfg.Timeout, cfg.JoinTimeout, cfg.Logger = name, n.Timeout, n.JoinAfter, log
	comm, err := collective.Open(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("rank %d of %d: %w", env.Rank, env.Size, err)
	}
	return comm, nil
}

// Secret returns a credential given on the command line, in a file (its
// first line), or in the environment variable env (if not ""), in that
// order; giving it both on the command line and in a file is an error.
func Secret(what, flagValue, file, env string) (string, error) {
	switch {
	case flagValue != "" && file != "":
		return "", Usagef("give the %s once: on the command line or in a file", what)
	case flagValue != "":
		return flagValue, nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("%s file: %w", what, err)
		}
		v, _, _ := strings.Cut(string(b), "\n")
		if v = strings.TrimRight(v, "\r"); v == "" {
			return "", Usagef("%s file %s is empty", what, file)
		}
		return v, nil
	case env != "":
		return os.Getenv(env), nil
	}
	return "", nil
}

// Terminal reports whether f is a terminal (progress lines go there).
func Terminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
