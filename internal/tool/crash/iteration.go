package crash

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"pwstore/coord"
)

// toolTimeout bounds recover and verify: each takes well under a second.
const toolTimeout = time.Minute

// iteration runs writer, kill, recovery and verification once.
func (o Options) iteration(i int) (Outcome, error) {
	file := filepath.Join(o.Dir, fmt.Sprintf("crash-%d-%d.pw", o.Ranks, i))
	cleanup(file)
	p := o.planFor(i, file)
	out := Outcome{Iter: i, Args: p.args}
	lastSteps := make(chan struct{}) // closed when the writer reports step steps-closeFrom complete
	var once sync.Once

	// Every tick line read counts, including those still in the pipe when
	// the kill lands: rank 0 prints a tick only after publishing it.
	var mu sync.Mutex // guards out's Reported* and Finished while the writer runs
	onLine := func(m map[string]any) {
		mu.Lock()
		defer mu.Unlock()
		if m["summary"] == true {
			out.Finished = true
			return
		}
		if _, ok := m["steps_complete"]; !ok {
			return
		}
		out.ReportedTicks++
		out.ReportedTick = max(out.ReportedTick, uint64(num(m, "tick")))
		out.ReportedSteps = max(out.ReportedSteps, num(m, "steps_complete"))
		if out.ReportedSteps >= p.steps-closeFrom {
			once.Do(func() { close(lastSteps) })
		}
	}
	g, err := startGroup(append([]string{o.bin("pwriter")}, p.args...), onLine)
	if err != nil {
		return out, err
	}
	start := time.Now()
	exited := make(chan error, 1)
	go func() { exited <- g.wait() }()
	kill, last := time.After(p.kill), (<-chan struct{})(nil)
	if p.inClose {
		kill, last = nil, lastSteps
	}
	var werr error
wait:
	for {
		select {
		case <-last:
			kill, last = time.After(p.kill), nil
		case <-kill:
			g.kill()
			out.KillAfter = time.Since(start)
			werr = <-exited
			break wait
		case werr = <-exited:
			// The writer ended by itself before the kill: it must have
			// closed cleanly. Kill the group anyway, for any rank left.
			g.kill()
			if werr != nil {
				return out, fmt.Errorf("writer failed before the kill: %v: %s", werr, g.stderr.String())
			}
			break wait
		}
	}
	mu.Lock()
	defer mu.Unlock()
	var ee *exec.ExitError
	if werr != nil && !errors.As(werr, &ee) {
		return out, fmt.Errorf("writer: %w", werr)
	}
	if err := o.judge(file, &out); err != nil {
		return out, err
	}
	cleanup(file)
	return out, nil
}

// judge recovers and verifies the file, and checks the result against
// what the writer reported.
func (o Options) judge(file string, out *Outcome) error {
	rec, stderr, err := runJSON([]string{o.bin("pwriter"), "recover", "--json", "--writer-gone", "200ms", file}, toolTimeout)
	if err != nil {
		// Nothing to recover is right only if the writer published nothing.
		if out.ReportedTicks > 0 {
			return fmt.Errorf("%w: recover failed after the writer reported tick %d: %v: %s", ErrLost, out.ReportedTick, err, stderr)
		}
		if !nothingToRecover(file, stderr) {
			return fmt.Errorf("recover of a file with no published tick: unclear failure: %v: %s", err, stderr)
		}
		out.Nothing, out.NothingReason = true, stderr
		return nil
	}
	if rec == nil {
		return fmt.Errorf("recover printed no JSON line (stderr: %s)", stderr)
	}
	out.RecoveredTick, out.RecoveredStep, out.Needed = uint64(num(rec, "recovered_tick")), num(rec, "steps_complete"), rec["needed"] == true
	if out.RecoveredStep < out.ReportedSteps {
		return fmt.Errorf("%w: recovered %d complete steps, the writer had reported %d", ErrLost, out.RecoveredStep, out.ReportedSteps)
	}
	// Without a metadata file to apply (the writer had closed) there is no
	// recovered tick: the steps say it all.
	if out.Needed && out.RecoveredTick < out.ReportedTick {
		return fmt.Errorf("%w: recovered tick %d, the writer had published tick %d", ErrLost, out.RecoveredTick, out.ReportedTick)
	}
	if _, err := os.Stat(file + ".md"); !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("metadata file still there after recovery: %v", err)
	}
	ver, stderr, err := runJSON([]string{o.bin("preader"), "verify", "--json", file}, toolTimeout)
	if err == nil && ver != nil && ver["ok"] == true {
		out.VerifiedSteps = num(ver, "steps")
		if out.VerifiedSteps != out.RecoveredStep {
			return fmt.Errorf("%w: verify checked %d steps, recover reported %d", ErrLost, out.VerifiedSteps, out.RecoveredStep)
		}
		return nil
	}
	if ver == nil {
		return fmt.Errorf("%w: verify printed no JSON line: %v: %s", ErrLost, err, stderr)
	}
	// A writer killed while it created the workload's datasets leaves a
	// sound file that is not yet a complete workload: verify rejects it.
	// Accepted only with no step complete and every structure and
	// checksum intact.
	if out.RecoveredStep > 0 || out.ReportedSteps > 0 {
		return fmt.Errorf("%w: verify: %v", ErrLost, ver["error"])
	}
	if cerr := checkFile(file); cerr != nil {
		return fmt.Errorf("%w: verify: %v; check: %v", ErrLost, ver["error"], cerr)
	}
	out.SetupOnly = true
	return nil
}

// nothingToRecover says whether recover's failure is the clear "nothing
// to recover" of a writer that died before its first tick: no data file,
// a metadata file without a tick, or a data file without a superblock.
func nothingToRecover(file, stderr string) bool {
	if _, err := os.Stat(file); errors.Is(err, os.ErrNotExist) {
		return true
	}
	for _, s := range []string{"nothing to recover", "has not published a tick", "no superblock yet"} {
		if strings.Contains(stderr, s) {
			return true
		}
	}
	return false
}

// checkFile checks every structure and checksum of a recovered file.
func checkFile(file string) error {
	r, err := coord.OpenReader(file, coord.Config{ManualTicks: true})
	if err != nil {
		return err
	}
	defer r.Close()
	return r.Check()
}
