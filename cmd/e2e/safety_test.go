package e2e

// Regression tests of issue 12's storage items, driven through the built
// commands on real files: a truncated data file, recovery that must not
// touch what it cannot prove is the file's, a writer recovered while it
// was stopped, the max-lag bound, and a writer whose files are damaged
// under it.

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// sum is a file's checksum ("" if it does not exist).
func sum(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(b)
	return string(h[:])
}

// oneLine checks that a failed command printed exactly one line to
// stderr, prefixed with the program's name, saying each of says.
func oneLine(t *testing.T, what string, res result, code int, says ...string) {
	t.Helper()
	if res.code != code {
		t.Fatalf("%s: exit %d, want %d\nstdout: %s\nstderr: %s", what, res.code, code, res.stdout, res.stderr)
	}
	lines := strings.Split(strings.TrimRight(res.stderr, "\n"), "\n")
	if len(lines) != 1 {
		t.Errorf("%s: %d lines on stderr, want one:\n%s", what, len(lines), res.stderr)
	}
	for _, s := range says {
		if !strings.Contains(res.stderr, s) {
			t.Errorf("%s: stderr %q does not say %q", what, res.stderr, s)
		}
	}
}

// unchanged fails unless every file of paths has the checksum it had.
func unchanged(t *testing.T, what string, before map[string]string) {
	t.Helper()
	for path, s := range before {
		if got := sum(t, path); got != s {
			if got == "" {
				t.Errorf("%s: %s was deleted", what, path)
			} else {
				t.Errorf("%s: %s was changed", what, path)
			}
		}
	}
}

func sums(t *testing.T, paths ...string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, p := range paths {
		m[p] = sum(t, p)
		if m[p] == "" {
			t.Fatalf("%s does not exist", p)
		}
	}
	return m
}

// writer is a pwriter run in the background.
type writer struct {
	cmd    *exec.Cmd
	stderr bytes.Buffer
	done   chan struct{}
	code   int
}

// startWriter starts a long pwriter run in a process group of its own.
func startWriter(t *testing.T, args ...string) *writer {
	t.Helper()
	w := &writer{done: make(chan struct{})}
	w.cmd = exec.Command(filepath.Join(bin, "pwriter"), append([]string{"run"}, args...)...)
	w.cmd.Stderr = &w.stderr
	w.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(w.done)
		err := w.cmd.Wait()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			w.code = ee.ExitCode()
		} else if err != nil {
			w.code = -1
		}
	}()
	t.Cleanup(func() {
		syscall.Kill(-w.cmd.Process.Pid, syscall.SIGKILL)
		<-w.done
	})
	return w
}

// signal sends sig to the writer's whole process group (launcher, NATS
// server and ranks).
func (w *writer) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := syscall.Kill(-w.cmd.Process.Pid, sig); err != nil {
		t.Fatal(err)
	}
}

// wait waits for the writer to exit and returns its result.
func (w *writer) wait(t *testing.T, limit time.Duration) result {
	t.Helper()
	select {
	case <-w.done:
	case <-time.After(limit):
		// Stopped first: its stderr is written until it exits.
		syscall.Kill(-w.cmd.Process.Pid, syscall.SIGKILL)
		<-w.done
		t.Fatalf("writer still running after %v; stderr: %s", limit, w.stderr.String())
	}
	return result{code: w.code, stderr: w.stderr.String()}
}

// published waits until a reader sees at least n steps in path.
func published(t *testing.T, path string, n int) {
	t.Helper()
	for end := time.Now().Add(60 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		res := run(t, "preader", "ls", "--json", path)
		if res.code == 0 && stepsIn(res.stdout) >= n {
			return
		}
	}
	t.Fatalf("%s: %d steps never became visible", path, n)
}

// stepsIn is the length of /steps/time in preader ls --json output.
func stepsIn(out string) int {
	var ls struct {
		Datasets []struct {
			Path  string
			Shape []int
		}
	}
	if json.Unmarshal([]byte(out), &ls) != nil {
		return 0
	}
	for _, d := range ls.Datasets {
		if d.Path == "/steps/time" && len(d.Shape) == 1 {
			return d.Shape[0]
		}
	}
	return 0
}

// crashed makes a file whose writer was killed after a few steps: the data
// file and its open metadata file.
func crashed(t *testing.T, dir, name string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	w := startWriter(t, "--steps", "100000", "--side", "8", "--tick", "20ms", "--step-delay", "5ms", path)
	published(t, path, 3)
	w.signal(t, syscall.SIGKILL)
	w.wait(t, 10*time.Second)
	if _, err := os.Stat(path + ".md"); err != nil {
		t.Fatalf("the killed writer left no metadata file: %v", err)
	}
	return path
}

// copyFile copies src to dst.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Item 1: a data file cut short reads as corrupt, never as zeros.
func TestTruncatedDataFileIsCorrupt(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "T.pw")
	if res := run(t, "pwriter", "run", "--steps", "50", "--side", "16", "--tick", "10ms", path); res.code != 0 {
		t.Fatalf("pwriter: %+v", res)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
	before := sums(t, path)
	out := filepath.Join(dir, "out.npy")
	for _, c := range []struct {
		what string
		prog string
		args []string
	}{
		{"cat", "preader", []string{"cat", path, "/fields/f00", "--slice", "40,0,0,0:3"}},
		{"export", "preader", []string{"export", "--npy", out, path, "/fields/f00"}},
		{"ls", "preader", []string{"ls", path}},
	} {
		res := run(t, c.prog, c.args...)
		oneLine(t, c.what, res, 1, "cut short", "corrupt")
		if strings.Contains(res.stdout, "0 0 0") {
			t.Errorf("%s printed zeros for the lost bytes: %s", c.what, res.stdout)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("export left %s behind from a corrupt file", out)
	}
	// Reopening it for writing is refused too (recover has nothing to do:
	// there is no metadata file; the data file alone is cut short).
	oneLine(t, "verify", run(t, "preader", "verify", path), 1, "corrupt")
	unchanged(t, "reading a truncated file", before)
}

// Item 2: recover never deletes or writes what it cannot prove is the
// file's.
func TestRecoverRefusesWhatIsNotOurs(t *testing.T) {
	dir := t.TempDir()
	path := crashed(t, dir, "F.pw")
	md := path + ".md"
	kept := filepath.Join(dir, "kept.md")
	copyFile(t, md, kept)

	refuse := func(what string, args []string, says ...string) {
		t.Helper()
		files := []string{path, md}
		if args[len(args)-1] != path {
			files = []string{args[len(args)-1], args[len(args)-1] + ".md"}
		}
		before := sums(t, files...)
		res := run(t, "pwriter", append([]string{"recover", "--writer-gone", "1ms"}, args...)...)
		oneLine(t, what, res, 1, says...)
		unchanged(t, what, before)
	}

	garbage := bytes.Repeat([]byte("garbage!"), 128) // both header slots
	write := func(name string, b []byte) {
		if err := os.WriteFile(name, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Garbage over the header slots.
	whole, _ := os.ReadFile(kept)
	write(md, append(append([]byte(nil), garbage...), whole[len(garbage):]...))
	refuse("garbage header", []string{path}, "refusing to recover", md)
	// An empty metadata file.
	write(md, nil)
	refuse("empty metadata file", []string{path}, "refusing to recover", md)
	// A user's own unrelated file.
	write(md, []byte("my notes about F\n"))
	refuse("unrelated metadata file", []string{path}, "refusing to recover", md)

	// A valid metadata file beside a file that is not pwstore's.
	junk := filepath.Join(dir, "junk.dat")
	write(junk, bytes.Repeat([]byte("user data "), 100000))
	copyFile(t, kept, junk+".md")
	refuse("not a pwstore data file", []string{junk}, "refusing to recover", "not a pwstore data file")
	// ... and beside another pwstore file.
	other := filepath.Join(dir, "other.pw")
	if res := run(t, "pwriter", "run", "--steps", "3", "--side", "8", "--tick", "10ms", other); res.code != 0 {
		t.Fatalf("pwriter: %+v", res)
	}
	copyFile(t, kept, other+".md")
	refuse("other identity", []string{other}, "refusing to recover", "was written for data file")

	// The kept copy recovers the file.
	copyFile(t, kept, md)
	res := run(t, "pwriter", "recover", "--writer-gone", "1ms", path)
	if res.code != 0 || !strings.Contains(res.stdout, "recovered tick") {
		t.Fatalf("recover with the kept metadata file: %+v", res)
	}
	if v := run(t, "preader", "verify", path); v.code != 0 {
		t.Fatalf("verify after recovery: %+v", v)
	}
}

// Item 2: the heartbeat check cannot be skipped: a live writer's metadata
// file is left alone.
func TestRecoverRefusesLiveWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "live.pw")
	// Without its lock, so that recover watches the heartbeat.
	w := startWriter(t, "--steps", "100000", "--side", "8", "--tick", "20ms", "--step-delay", "5ms", "--no-file-lock", path)
	published(t, path, 2)
	res := run(t, "pwriter", "recover", "--writer-gone", "500ms", path)
	oneLine(t, "recover of a live file", res, 1, "still publishing")
	if _, err := os.Stat(path + ".md"); err != nil {
		t.Fatalf("recover touched the live writer's metadata file: %v", err)
	}
	w.signal(t, syscall.SIGINT)
	w.wait(t, 30*time.Second)
}

// Item 3: a writer stopped past the heartbeat threshold is refused by
// recover, forced or not, while its processes hold the data file's lock;
// resumed, it finishes its run and the file verifies.
func TestStoppedWriterIsNotRecovered(t *testing.T) {
	for _, np := range []string{"1", "2"} {
		t.Run("np="+np, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "L.pw")
			w := startWriter(t, npArgs(np, "--steps", "150", "--side", "8", "--tick", "20ms", "--step-delay", "5ms", path)...)
			published(t, path, 3)
			w.signal(t, syscall.SIGSTOP)
			time.Sleep(1500 * time.Millisecond) // past --writer-gone
			before := sums(t, path, path+".md")
			for _, force := range []bool{false, true} {
				args := []string{"recover", "--writer-gone", "1s"}
				if force {
					args = append(args, "--force")
				}
				res := run(t, "pwriter", append(args, path)...)
				if res.code == 0 {
					w.signal(t, syscall.SIGCONT)
				}
				oneLine(t, fmt.Sprintf("recover (force %v) of a stopped writer's file", force), res, 1, "still has it open as its writer")
			}
			unchanged(t, "refused recovery", before)
			w.signal(t, syscall.SIGCONT)
			if got := w.wait(t, 60*time.Second); got.code != 0 {
				t.Fatalf("the resumed writer: exit %d: %s", got.code, got.stderr)
			}
			if v := run(t, "preader", "verify", path); v.code != 0 {
				t.Fatalf("verify after the resumed writer closed: %+v", v)
			}
		})
	}
}

// npArgs is pwriter run's args for np ranks (one: the serial writer).
func npArgs(np string, args ...string) []string {
	if np == "1" {
		return args
	}
	return append([]string{"--np", np}, args...)
}

// Item 3, where the lock is not shared (a writer on a node whose locks
// the recovering node does not see, as --no-file-lock makes it): a writer
// stopped past the heartbeat threshold, recovered, then resumed, stops at
// once with a clear error and writes nothing more. Fencing has one window
// there: a write already past its check when the stop came lands on
// resume (docs/DECISIONS.md, "Fencing"); the writer idles between steps
// here, so that a stop almost never falls in it.
func TestRecoveredWriterIsFenced(t *testing.T) {
	for _, np := range []string{"1", "2"} {
		t.Run("np="+np, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "S.pw")
			w := startWriter(t, npArgs(np, "--steps", "100000", "--side", "8", "--tick", "20ms", "--step-delay", "50ms", "--no-file-lock", path)...)
			published(t, path, 3)
			w.signal(t, syscall.SIGSTOP)
			// Longer than half the writer's own heartbeat threshold (5 s):
			// its data-file writes check the files again after that.
			time.Sleep(3 * time.Second)
			res := run(t, "pwriter", "recover", "--writer-gone", "1s", path)
			if res.code != 0 || !strings.Contains(res.stdout, "recovered tick") {
				w.signal(t, syscall.SIGCONT)
				t.Fatalf("recover of the stopped writer's file: %+v", res)
			}
			before := map[string]string{path: sum(t, path)}
			w.signal(t, syscall.SIGCONT)
			got := w.wait(t, 60*time.Second)
			if got.code == 0 {
				t.Fatalf("the fenced writer exited 0; stderr: %s", got.stderr)
			}
			if !strings.Contains(got.stderr, "pwriter recover") || !strings.Contains(got.stderr, "fenced") {
				t.Errorf("the fenced writer does not say why it stopped: %s", got.stderr)
			}
			unchanged(t, "resumed writer", before)
			if _, err := os.Stat(path + ".md"); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("a metadata file appeared after recovery: %v", err)
			}
			if v := run(t, "preader", "verify", path); v.code != 0 {
				t.Fatalf("verify of the recovered file after the writer resumed: %+v", v)
			}
		})
	}
}

// Item 4: max lag is bounded; beyond the bound is a configuration error.
func TestMaxLagBound(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lag.pw")
	res := run(t, "pwriter", "run", "--max-lag", "100000000", "--steps", "3", path)
	oneLine(t, "--max-lag 100000000", res, 2, "max lag 100000000 is above 1000")
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a refused configuration created %s: %v", path, err)
	}
}

// Item 5: a writer whose own files are cut short under it fails with a
// clear error, and recovery refuses the cut data file.
func TestWriterFilesDamagedUnderIt(t *testing.T) {
	for _, victim := range []string{"data", "metadata"} {
		t.Run(victim, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "D.pw")
			w := startWriter(t, "--steps", "100000", "--side", "16", "--tick", "20ms", "--step-delay", "5ms", path)
			published(t, path, 3)
			cut := path
			if victim == "metadata" {
				cut = path + ".md"
			}
			fi, err := os.Stat(cut)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(cut, fi.Size()/2); err != nil {
				t.Fatal(err)
			}
			got := w.wait(t, 30*time.Second)
			oneLine(t, "writer with a cut "+victim+" file", got, 1, "cut short under the writer")
			if victim == "data" {
				before := sums(t, path, path+".md")
				res := run(t, "pwriter", "recover", "--writer-gone", "1ms", path)
				oneLine(t, "recover of a cut data file", res, 1, "refusing to recover", "cut short")
				unchanged(t, "recover of a cut data file", before)
			}
		})
	}
}
