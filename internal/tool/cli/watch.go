package cli

import (
	"context"
	"fmt"
	"os"
	"time"

	"pwstore/coord"
	"pwstore/internal/tool/job"
)

// Watch is `preader watch` (and `pwriter watch`): follow a file with M
// reader ranks, verify every snapshot, measure write-to-visible latency.
// Exit 0 only if the writer closed cleanly and every snapshot verified.
func Watch(prog string, args []string) error {
	fs := NewFlags(prog, "[flags] FILE",
		"Follow FILE while it is written, with one reader rank or M (--np), verifying every snapshot\nadopted; exit 0 only if the writer closed cleanly and everything verified.")
	np := fs.Int("np", 0, "launch this many reader ranks locally, with an embedded NATS server")
	timeout := fs.Duration("timeout", 60*time.Second, "wait this long for the file to appear, and for each new tick")
	poll := fs.Duration("poll", 2*time.Millisecond, "pause between reader ticks without tick announcements")
	fallback := fs.Duration("poll-fallback", job.DefaultFallback, "with tick announcements (--nats or $PW_NATS_URL): tick at least this often, should one be lost")
	gone := fs.Duration("writer-gone", 0, "report the writer gone after this long without a heartbeat (default max(5s, 10 ticks))")
	md := fs.String("md", "", "metadata file (default FILE.md)")
	asJSON := fs.Bool("json", false, "print one JSON line per adopted tick and a JSON summary")
	logFile := fs.String("log-file", "", "per-rank log file (%r is replaced by the rank)")
	var nats NATS
	nats.Register(fs)
	pos, err := Parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if err := Positive(fs, "np", "timeout", "poll", "poll-fallback", "writer-gone"); err != nil {
		return err
	}
	if err := nats.Check(fs); err != nil {
		return err
	}
	if err := Input(pos[0], true); err != nil {
		return err
	}
	if err := Input(MDPath(pos[0], *md), true); err != nil {
		return err
	}
	env, err := Rank()
	if err != nil {
		return err
	}
	if env.Source == "single" && *np > 0 {
		return Launch([]Group{{Label: "reader", N: *np, Args: append([]string{"watch"}, Strip(args, "np")...)}})
	}
	log, closeLog, err := Logger(*logFile, env.Rank, env.Size)
	if err != nil {
		return err
	}
	defer closeLog()
	comm, err := nats.Open(env, "reader", log)
	if err != nil {
		return err
	}
	if comm != nil {
		defer comm.Close()
	}
	ann := nats.Announcements(env, "reader")
	if ann != nil {
		defer ann.Close()
	}
	// Joined, and listening for announcements: the writer may start.
	if err := Ready(env); err != nil {
		return err
	}
	rank0 := env.Rank == 0
	out := NewJSONLines(os.Stdout)
	progress := NewProgress(rank0 && !*asJSON, 0, 0)
	sum, err := job.Watch(pos[0], job.WatchOptions{
		Config:  coord.Config{Comm: comm, Logger: log, WriterGone: *gone, MDPath: *md, Announce: ann},
		Timeout: *timeout, Poll: *poll, Fallback: *fallback,
		OnTick: func(t job.WatchTick) {
			if *asJSON {
				out.Line(t)
			}
			progress.Step(t.Steps)
			progress.Tick(t.Tick, t.WriterTick-t.Tick)
		},
	})
	progress.Done()
	if rank0 {
		if *asJSON {
			out.Line(sum)
		} else {
			fmt.Printf("watched %s with %d reader ranks: %d ticks, %d snapshots verified, %d steps, latency p50 %.2f ms p99 %.2f ms max %.2f ms, %d errors\n",
				pos[0], sum.Ranks, sum.Ticks, sum.SnapshotsVerified, sum.Steps, sum.LatP50, sum.LatP99, sum.LatMax, sum.Errors)
		}
	}
	if comm != nil {
		// Every rank has the same outcome (the ticks and the agreement on
		// violations are collective). Meet once more so that no rank exits
		// - and has the launcher stop the job - before rank 0 has printed.
		comm.Barrier(context.Background())
	}
	return FileErr(pos[0], err)
}
