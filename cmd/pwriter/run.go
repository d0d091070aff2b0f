package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats.go"

	"pwstore/collective"
	"pwstore/coord"
	"pwstore/internal/tool/cli"
	"pwstore/internal/tool/job"
	"pwstore/internal/tool/workload"
)

// runFlags are pwriter run's flags.
type runFlags struct {
	np, watch  int
	p          workload.Params
	kind       string
	stepDelay  time.Duration
	tick       time.Duration
	minTick    time.Duration
	maxLag     uint64
	pageSize   int
	flushRaw   bool
	durable    bool
	keepMD     bool
	noLock     bool
	syncBytes  int64
	cachePages int
	logFile    string
	json       bool
	nats       cli.NATS
	watchWait  time.Duration
}

func (f *runFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&f.np, "np", 0, "launch this many writer ranks locally, with an embedded NATS server (at least 1)")
	fs.IntVar(&f.watch, "watch", 0, "also launch this many reader ranks following the file (preader watch), and print their summary (at least 1)")
	fs.StringVar(&f.kind, "workload", "ckpt", "ckpt (3-D fields split across ranks), rr (round-robin small appends) or planes")
	fs.IntVar(&f.p.Steps, "steps", 0, "steps (passes) to write, at least 1 (default: the workload's)")
	fs.IntVar(&f.p.Datasets, "datasets", 0, "ckpt: fields; rr and planes: datasets (default: the workload's)")
	fs.IntVar(&f.p.Elems, "elems", 0, "rr: elements per append; ckpt: series elements per step")
	fs.IntVar(&f.p.Side, "side", 0, "ckpt: cube side; planes: plane side")
	fs.DurationVar(&f.stepDelay, "step-delay", 0, "pause between steps, standing for computation")
	fs.DurationVar(&f.tick, "tick", coord.DefaultTickLen, "tick length")
	fs.DurationVar(&f.minTick, "min-tick", 0, "shortest time between ends of tick at step boundaries (default a fiftieth of --tick; --tick or more: publish steps only when the tick expires)")
	fs.Uint64Var(&f.maxLag, "max-lag", coord.DefaultMaxLag, "ticks a reader may lag (3 to 1000)")
	fs.IntVar(&f.pageSize, "page-size", coord.DefaultPageSize, "page size in bytes (power of two, 512 to 1048576)")
	fs.BoolVar(&f.flushRaw, "flush-raw", true, "write raw data back at every end of tick")
	fs.BoolVar(&f.durable, "durable", false, "fsync at every end of tick: completed ticks survive power loss")
	fs.BoolVar(&f.keepMD, "keep-md", false, "keep the metadata file after close")
	fs.BoolVar(&f.noLock, "no-file-lock", false, "take no lock on the data file (for file systems whose locks misbehave; pwriter recover then cannot tell a stopped writer from a dead one; also "+cli.EnvFileLocking+"=FALSE)")
	fs.Int64Var(&f.syncBytes, "sync-bytes", coord.DefaultSyncBytes, "dirty metadata between sync points (parallel)")
	fs.IntVar(&f.cachePages, "cache-pages", coord.DefaultCachePages, "page buffer capacity in pages")
	fs.StringVar(&f.logFile, "log-file", "", "per-rank log file (%r is replaced by the rank)")
	fs.BoolVar(&f.json, "json", false, "print one JSON line per tick and a JSON summary")
	fs.DurationVar(&f.watchWait, "watch-timeout", 60*time.Second, "with --watch: the readers' --timeout")
	f.nats.Register(fs)
}

func runCmd(args []string) error {
	var f runFlags
	fs := cli.NewFlags("pwriter run", "[flags] FILE",
		"Write a checkpoint workload into the new file FILE: one rank, --np N ranks launched here, or\none rank per srun/mpirun process. The first SIGINT or SIGTERM stops it at the next step\nboundary and closes FILE cleanly (exit 130 or 143); a second one ends it at once.")
	f.register(fs)
	pos, err := cli.Parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if err := f.check(fs, pos[0]); err != nil {
		return err
	}
	if f.noLock, err = cli.NoFileLockFlag(f.noLock, os.Getenv); err != nil {
		return err
	}
	env, err := cli.Rank()
	if err != nil {
		return err
	}
	if env.Source == "single" && (f.np > 0 || f.watch > 0) {
		return launchJob(&f, args, pos[0])
	}
	return runRank(&f, env, pos[0])
}

// maxBytes bounds the bytes a workload may write: file offsets are int64.
const maxBytes = 1 << 62

// check refuses flag values that cannot work, before anything starts:
// counts and sizes given as 0 or less (0 never means "the default" when
// given), workloads whose size overflows, and a FILE or FILE.md that is
// not a regular file (which would block or fail late).
func (f *runFlags) check(fs *flag.FlagSet, path string) error {
	if err := cli.Positive(fs, "np", "watch", "steps", "datasets", "elems", "side", "tick", "min-tick", "max-lag",
		"page-size", "sync-bytes", "cache-pages", "watch-timeout"); err != nil {
		return err
	}
	if err := cli.NotNegative(fs, "step-delay"); err != nil {
		return err
	}
	if err := f.nats.Check(fs); err != nil {
		return err
	}
	if ps := f.pageSize; ps < 512 || ps > 1<<20 || ps&(ps-1) != 0 {
		return cli.Usagef("--page-size %d: must be a power of two from 512 to 1048576", ps)
	}
	if f.maxLag < coord.MinMaxLag {
		return cli.Usagef("--max-lag %d: must be at least %d", f.maxLag, coord.MinMaxLag)
	}
	f.p.Kind = workload.Kind(f.kind)
	p := f.p.Defaults()
	if err := p.Validate(); err != nil {
		return cli.Usagef("%v", err)
	}
	total := 0.0 // in float64: the products may overflow any integer
	for _, d := range p.Layout(1) {
		n := float64(d.Rows) * float64(d.DType.Size()) * float64(p.Steps)
		for _, x := range d.Step {
			n *= float64(x)
		}
		total += n
	}
	if total > maxBytes {
		return cli.Usagef("the %s workload with these sizes would write %.3g bytes, more than a file can hold (%.3g)", p.Kind, total, float64(maxBytes))
	}
	for _, name := range []string{path, path + ".md"} {
		if fi, err := os.Stat(name); err == nil && !fi.Mode().IsRegular() {
			return cli.Input(name, false)
		}
	}
	if _, err := os.Stat(path); err != nil {
		return nil
	}
	if _, err := os.Stat(path + ".md"); err == nil {
		return fmt.Errorf("%s: file exists, with its metadata file %s.md: if its writer died, run `pwriter recover %s`; pwriter run writes only new files", path, path, path)
	}
	return fmt.Errorf("%s: file exists: pwriter run writes only new files (no flag reopens one); choose another path", path)
}

// runRank runs this process as one writer rank. The first SIGINT or
// SIGTERM stops it at the next step boundary (every rank at the same one)
// and it closes the file cleanly.
func runRank(f *runFlags, env collective.Env, path string) error {
	log, closeLog, err := cli.Logger(f.logFile, env.Rank, env.Size)
	if err != nil {
		return err
	}
	defer closeLog()
	in := cli.NewInterrupt()
	defer in.Stop()
	comm, err := f.nats.Open(env, "writer", log)
	if err != nil {
		return err
	}
	if comm != nil {
		defer comm.Close()
	}
	var ann *nats.Conn // rank 0 announces the ticks it publishes
	if env.Rank == 0 {
		if ann = f.nats.Announcements(env, "writer"); ann != nil {
			defer ann.Close()
		}
	}
	out := cli.NewJSONLines(os.Stdout)
	printJSON := f.json && env.Rank == 0
	p := f.p.Defaults()
	var perStep float64
	for _, d := range p.Layout(env.Size) {
		perStep += float64(d.StepElems()) * float64(d.DType.Size())
	}
	prog := cli.NewProgress(env.Rank == 0 && !f.json, p.Steps, perStep)
	defer prog.Done()
	cfg := coord.Config{
		TickLen: f.tick, MinTickInterval: f.minTick, Announce: ann, MaxLag: f.maxLag, PageSize: f.pageSize, NoRawFlush: !f.flushRaw,
		Durable: f.durable, KeepMD: f.keepMD, SyncBytes: f.syncBytes, CachePages: f.cachePages, NoFileLock: f.noLock,
		Logger: log, Comm: comm,
	}
	sum, err := job.RunWriter(path, job.WriterOptions{
		Params: p, StepDelay: f.stepDelay, Config: cfg, Stop: in.Done(),
		OnTick: func(e job.TickEvent) {
			if printJSON {
				out.Line(e)
			}
			prog.Tick(e.Tick, 0)
		},
		OnStep: func(s int) { prog.Step(s + 1) },
	})
	if err != nil {
		if comm != nil {
			comm.Abort(err.Error())
		}
		return cli.FileErr(path, err)
	}
	prog.Done()
	if env.Rank == 0 {
		if f.json {
			out.Line(sum)
		} else {
			fmt.Printf("wrote %s: %s workload on %d rank(s), %d steps, %.1f MB in %.2f s (%.1f MB/s, %.0f appends/s), %d ticks, end of tick p50 %.2f ms p99 %.2f ms, metadata file at most %d bytes\n",
				path, sum.Workload, sum.Ranks, sum.Steps, float64(sum.Bytes)/1e6, sum.Seconds, sum.MBPerS, sum.AppendsPerS,
				sum.Ticks, sum.EOTP50, sum.EOTP99, sum.MDBytesMax)
		}
	}
	if !sum.Stopped {
		return nil
	}
	what := fmt.Sprintf("%s closed cleanly after %d of %d steps", path, sum.Steps, p.Steps)
	err = in.Err(what)
	if err == nil {
		err = &cli.CodeError{Code: cli.ExitFail, Err: fmt.Errorf("another rank was interrupted: %s", what)}
	}
	var ce *cli.CodeError
	if errors.As(err, &ce) && env.Rank != 0 {
		ce.Silent = true // rank 0 says it
	}
	return err
}

// launchJob starts this command's writer ranks (--np) and reader ranks
// (--watch) locally, each job on an embedded NATS server: the readers
// first, the writer once they have joined, so that they follow it from its
// first tick.
func launchJob(f *runFlags, args []string, path string) error {
	// Closing drains max_lag ticks: give the ranks that long to stop.
	grace := 5*time.Second + 2*time.Duration(f.maxLag)*f.tick
	writer := cli.Group{Label: "writer", N: max(f.np, 1), Grace: grace,
		Args: append([]string{"run"}, cli.Strip(args, "np", "watch", "watch-timeout")...)}
	var groups []cli.Group
	if f.watch > 0 {
		watch := []string{"watch", "--timeout", f.watchWait.String()}
		if f.nats.NoAnnounce {
			watch = append(watch, "--no-announce")
		}
		if f.nats.URL != "" {
			// The writer announces on the server given, not the launcher's.
			watch = append(watch, natsArgs(f.nats)...)
		}
		if f.json {
			watch = append(watch, "--json")
		}
		groups = append(groups, cli.Group{Label: "reader", N: f.watch, Args: append(watch, path), Ready: true})
	}
	return cli.Launch(append(groups, writer))
}

// natsArgs are the flags that reach the server n names, for the readers.
func natsArgs(n cli.NATS) []string {
	out := []string{"--nats", n.URL}
	a := n.Auth
	for _, kv := range [][2]string{{"nats-token", a.Token}, {"nats-user", a.User}, {"nats-password", a.Password},
		{"nats-nkey", a.NkeySeedFile}, {"nats-creds", a.CredsFile}, {"nats-ca", a.CAFile}, {"nats-cert", a.CertFile}, {"nats-key", a.KeyFile}} {
		if kv[1] != "" {
			out = append(out, "--"+kv[0], kv[1])
		}
	}
	return out
}
