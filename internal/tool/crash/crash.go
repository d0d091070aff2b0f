// Package crash is the crash harness: it runs `pwriter run --json` on a
// fresh file, kills it (and, for a parallel job, the launcher with every
// rank) with SIGKILL at a random moment, recovers the file with `pwriter
// recover --json`, deep-checks it with `preader verify --json`, and judges
// the outcome against what the writer had reported before it died: every
// step that a published tick line called complete must be intact.
//
// All randomness comes from one seed, which Run logs, so a failing
// iteration can be replayed: Options.Seed and Options.First name it.
package crash

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"
)

// Options configure Run.
type Options struct {
	Bin   string // directory holding the pwriter and preader binaries
	Dir   string // directory for the files (one per iteration, removed when it passes)
	Ranks int    // writer ranks: 1 runs pwriter alone, more use --np
	Iters int    // iterations
	First int    // number of the first iteration (replaying one: First = N, Iters = 1)
	Seed  uint64 // every iteration's choices derive from Seed and its number
	// KillWithin bounds the random kill moment after the start (default
	// 800 ms for one rank, 1.5 s for more: the launcher and NATS start
	// first).
	KillWithin time.Duration
	Logf       func(format string, args ...any) // progress lines (nil: none)
}

// Outcome is one iteration's record.
type Outcome struct {
	Iter      int
	Args      []string      // pwriter run's arguments
	KillAfter time.Duration // from start to SIGKILL (0: the writer ended first)
	// What the writer's tick lines said before it died.
	ReportedTicks int    // tick lines read
	ReportedTick  uint64 // highest published tick
	ReportedSteps int64  // highest steps_complete
	Finished      bool   // the writer printed its summary: it closed before the kill
	// What recovery and verification found.
	Nothing       bool   // no tick to recover (the writer died before its first)
	NothingReason string // recover's message when Nothing
	RecoveredTick uint64
	RecoveredStep int64
	Needed        bool // recovery applied a metadata file
	VerifiedSteps int64
	SetupOnly     bool // the recovered tick predates the workload's datasets
}

// Summary sums up a Run.
type Summary struct {
	Iters     int
	Nothing   int // iterations with nothing to recover
	SetupOnly int // recovered before the workload's datasets were complete
	Finished  int // the writer had closed (its metadata file was gone) before the kill
	Applied   int // recovery applied a metadata file
	// Recovered ticks over the iterations that applied a metadata file,
	// complete steps over those that had anything to recover.
	MinTick, MaxTick   uint64
	MinSteps, MaxSteps int64
	Took               time.Duration
}

func (s *Summary) add(o Outcome) {
	s.Iters++
	if o.Nothing {
		s.Nothing++
		return
	}
	if o.SetupOnly {
		s.SetupOnly++
	}
	if s.Iters-s.Nothing == 1 {
		s.MinSteps, s.MaxSteps = o.RecoveredStep, o.RecoveredStep
	}
	s.MinSteps, s.MaxSteps = min(s.MinSteps, o.RecoveredStep), max(s.MaxSteps, o.RecoveredStep)
	if !o.Needed {
		s.Finished++
		return
	}
	s.Applied++
	if s.Applied == 1 {
		s.MinTick, s.MaxTick = o.RecoveredTick, o.RecoveredTick
	}
	s.MinTick, s.MaxTick = min(s.MinTick, o.RecoveredTick), max(s.MaxTick, o.RecoveredTick)
}

func (s Summary) String() string {
	return fmt.Sprintf("%d iterations in %v: %d recovered a metadata file (ticks %d..%d), %d of them during setup; %d closed cleanly before the kill; %d with nothing to recover; complete steps %d..%d",
		s.Iters, s.Took.Round(time.Millisecond), s.Applied, s.MinTick, s.MaxTick, s.SetupOnly, s.Finished, s.Nothing, s.MinSteps, s.MaxSteps)
}

// ErrLost marks an iteration whose recovered file lost a step the writer
// had reported complete, or failed verification.
var ErrLost = errors.New("crash harness: reported data lost or damaged")

// Run runs the iterations in order and stops at the first failure, which
// names the seed and iteration that replay it.
func Run(o Options) (Summary, []Outcome, error) {
	if o.Ranks < 1 || o.Iters < 0 {
		return Summary{}, nil, fmt.Errorf("crash harness: %d ranks, %d iterations", o.Ranks, o.Iters)
	}
	if o.KillWithin <= 0 {
		o.KillWithin = 800 * time.Millisecond
		if o.Ranks > 1 {
			o.KillWithin = 1500 * time.Millisecond
		}
	}
	logf := o.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	logf("crash harness: seed %d, %d ranks, iterations %d..%d", o.Seed, o.Ranks, o.First, o.First+o.Iters-1)
	var sum Summary
	var outs []Outcome
	start := time.Now()
	for i := o.First; i < o.First+o.Iters; i++ {
		out, err := o.iteration(i)
		outs = append(outs, out)
		if err != nil {
			sum.Took = time.Since(start)
			return sum, outs, fmt.Errorf("seed %d, %d ranks, iteration %d (%v): %w", o.Seed, o.Ranks, i, out.describe(), err)
		}
		logf("iteration %d: %s", i, out.describe())
		sum.add(out)
	}
	sum.Took = time.Since(start)
	return sum, outs, nil
}

// Short runs (plan.inClose) are killed up to closeWithin after the writer
// reports step closeFrom from its last complete: the last steps and Close
// (the tick that publishes the last step is often Close's own) take about
// that long.
const (
	closeWithin = 60 * time.Millisecond
	closeFrom   = 5
)

// plan is an iteration's random choices.
type plan struct {
	args []string
	kill time.Duration
	// inClose: the run is short and kill counts from the writer's report
	// of its last steps, so that the kill lands in them, in Close (its
	// final ticks, write-back of every metadata page) or just after it.
	inClose bool
	steps   int64
}

// planFor derives iteration i's choices from the seed alone.
func (o Options) planFor(i int, file string) plan {
	rng := rand.New(rand.NewPCG(o.Seed, uint64(i)))
	// Mostly more steps than the writer can write before the kill; one
	// run in four is short and killed during or just after its Close.
	p := plan{steps: 400}
	if rng.IntN(4) == 0 {
		p.inClose, p.steps = true, 30
	}
	args := []string{"run", "--json", "--tick", "20ms", "--step-delay", "4ms", "--steps", fmt.Sprint(p.steps)}
	switch rng.IntN(3) {
	case 0:
		args = append(args, "--workload", "ckpt", "--side", "16", "--datasets", "2")
	case 1:
		args = append(args, "--workload", "rr", "--datasets", "12", "--elems", "3")
	default:
		args = append(args, "--workload", "planes", "--side", "24", "--datasets", "3")
	}
	args = append(args, "--max-lag", []string{"3", "4", "10"}[rng.IntN(3)])
	if rng.IntN(4) == 0 {
		args = append(args, "--durable")
	}
	if rng.IntN(3) == 0 {
		args = append(args, "--cache-pages", "8") // evictions: pages reach the data file between ticks
	}
	if o.Ranks > 1 {
		args = append(args, "--np", fmt.Sprint(o.Ranks))
	}
	p.args = append(args, file)
	within := o.KillWithin
	if p.inClose {
		within = closeWithin
	}
	p.kill = time.Duration(rng.Int64N(int64(within)))
	return p
}

func (out Outcome) describe() string {
	s := "ended before the kill"
	if out.KillAfter > 0 {
		s = fmt.Sprintf("killed after %v", out.KillAfter.Round(time.Millisecond))
	}
	s += fmt.Sprintf(" having reported %d tick lines (tick %d, %d steps)", out.ReportedTicks, out.ReportedTick, out.ReportedSteps)
	switch {
	case out.Nothing:
		return s + "; nothing to recover: " + out.NothingReason
	case out.SetupOnly:
		return s + fmt.Sprintf("; recovered tick %d before the workload's setup was complete", out.RecoveredTick)
	}
	return s + fmt.Sprintf("; recovered tick %d (applied: %v) with %d steps, verified %d", out.RecoveredTick, out.Needed, out.RecoveredStep, out.VerifiedSteps)
}

// cleanup removes an iteration's files.
func cleanup(file string) {
	os.Remove(file)
	os.Remove(file + ".md")
}

func (o Options) bin(name string) string { return filepath.Join(o.Bin, name) }
