package crash

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Knobs of TestCrashHarness.
const (
	envIters = "PW_CRASH_ITERS" // iterations for each rank count (default defaultIters)
	envSeed  = "PW_CRASH_SEED"  // replay a run (default: from the clock, logged)
	envFirst = "PW_CRASH_FIRST" // first iteration (replay one: PW_CRASH_FIRST=N PW_CRASH_ITERS=1)
	envBin   = "PW_CRASH_BIN"   // use the pwriter and preader in this directory instead of building them
)

const defaultIters = 10

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binaries builds pwriter and preader once per test binary, without the
// race detector: the harness measures the commands, not the test.
func binaries(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv(envBin); dir != "" {
		return dir
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "pwcrash-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binDir = dir
		cmd := exec.Command("go", "build", "-o", dir, "./cmd/pwriter", "./cmd/preader")
		cmd.Dir = filepath.Join("..", "..", "..") // the module root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = &buildError{err: err, out: string(out)}
		}
	})
	if buildErr != nil {
		t.Fatalf("go build ./cmd/...: %v", buildErr)
	}
	return binDir
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + ": " + e.out }

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// envInt reads a non-negative integer knob.
func envInt(t *testing.T, name string, def uint64) uint64 {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, s, err)
	}
	return v
}

// TestCrashHarness kills `pwriter run` (one rank, then two ranks under the
// local launcher) at random moments and checks that recovery keeps every
// step the writer had reported complete and that the recovered file
// verifies. PW_CRASH_ITERS iterations for each rank count (default 10).
func TestCrashHarness(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and recovers real writer processes")
	}
	bin := binaries(t)
	iters := int(envInt(t, envIters, defaultIters))
	seed := envInt(t, envSeed, uint64(time.Now().UnixNano()))
	first := int(envInt(t, envFirst, 0))
	t.Logf("replay with %s=%d %s=%d %s=%d", envSeed, seed, envFirst, first, envIters, iters)
	for _, ranks := range []int{1, 2} {
		t.Run(strconv.Itoa(ranks)+"ranks", func(t *testing.T) {
			sum, outs, err := Run(Options{
				Bin: bin, Dir: t.TempDir(), Ranks: ranks, Iters: iters, First: first, Seed: seed,
				Logf: t.Logf,
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d ranks: %v", ranks, sum)
			if len(outs) != iters || sum.Iters != iters {
				t.Fatalf("%d outcomes, %d counted, want %d", len(outs), sum.Iters, iters)
			}
		})
	}
}

// TestJudgeCatchesLoss: the harness's judgement fails an iteration whose
// file lacks a step the writer reported, or does not verify.
func TestJudgeCatchesLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the commands")
	}
	bin := binaries(t)
	file := filepath.Join(t.TempDir(), "judge.pw")
	run := exec.Command(filepath.Join(bin, "pwriter"), "run", "--steps", "5", "--workload", "rr", "--datasets", "4", "--tick", "20ms", file)
	if out, err := run.CombinedOutput(); err != nil {
		t.Fatalf("pwriter run: %v: %s", err, out)
	}
	o := Options{Bin: bin}
	if err := o.judge(file, &Outcome{ReportedTicks: 3, ReportedSteps: 5}); err != nil {
		t.Fatalf("intact file with the 5 reported steps: %v", err)
	}
	if err := o.judge(file, &Outcome{ReportedTicks: 3, ReportedSteps: 6}); !errors.Is(err, ErrLost) {
		t.Fatalf("file with 5 steps, 6 reported: %v, want ErrLost", err)
	}
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(file, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
	if err := o.judge(file, &Outcome{ReportedTicks: 3, ReportedSteps: 5}); !errors.Is(err, ErrLost) {
		t.Fatalf("truncated file: %v, want ErrLost", err)
	}
}
