package e2e

// Regression tests of the commands' behaviour on hostile or careless use
// (issue 12 items 2, 7, 8, 11; issue 13 item 8): each runs the built
// commands on real files and asserts the exit status, the one error line,
// and that no byte of a user's file changed where it must not.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// errLine checks that a failed command printed exactly one line on stderr,
// starting with prefix and containing says, and exited with code.
func errLine(t *testing.T, res result, code int, prefix, says string) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(res.stderr, "\n"), "\n")
	if res.code != code || len(lines) != 1 || !strings.HasPrefix(res.stderr, prefix) || !strings.Contains(res.stderr, says) {
		t.Errorf("exit %d, stderr %q; want exit %d and one line starting %q saying %q", res.code, clipOut(res.stderr), code, prefix, says)
	}
}

// clipOut shortens a long output for a test message.
func clipOut(s string) string {
	if len(s) > 600 {
		return s[:600] + fmt.Sprintf("... (%d bytes)", len(s))
	}
	return s
}

// runWithin runs a command that must end by itself within d (it must not
// block on a FIFO, say).
func runWithin(t *testing.T, d time.Duration, prog string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(bin, prog), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %v still running after %v", prog, args, d)
	}
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s %v: %v", prog, args, err)
	}
	return result{code, out.String(), errb.String()}
}

// TestExportNeverHarmsItsInputs (issue 12 item 2): an export whose output
// path is the data file - by its name, ./name, a symbolic link or a hard
// link - or its metadata file (present or not) is refused with exit 2 and
// changes nothing; a failed export leaves an existing output as it was; a
// good one replaces it through a temporary file that does not stay behind.
func TestExportNeverHarmsItsInputs(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "data.pw")
	if res := run(t, "pwriter", "run", "--workload", "rr", "--steps", "5", "--datasets", "2", "--elems", "3", "--tick", "10ms", "--keep-md", path); res.code != 0 {
		t.Fatalf("pwriter: %+v", res)
	}
	link := filepath.Join(dir, "link.pw")
	hard := filepath.Join(dir, "hard.pw")
	if err := os.Symlink(path, link); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(path, hard); err != nil {
		t.Fatal(err)
	}
	md := path + ".md"
	before, beforeMD := sum(t, path), sum(t, md)
	if beforeMD == "" {
		t.Fatal("--keep-md left no metadata file")
	}
	for _, out := range []string{path, filepath.Join(dir, ".", "data.pw"), link, hard, md, filepath.Join(dir, "..", filepath.Base(dir), "data.pw.md")} {
		res := run(t, "preader", "export", path, "/rr/d00000", "--npy", out)
		errLine(t, res, 2, "preader export: ", "give another output path")
		if sum(t, path) != before || sum(t, md) != beforeMD {
			t.Fatalf("export --npy %s changed the data or metadata file", out)
		}
	}
	// A metadata file that does not exist (closed without --keep-md) is
	// still the input's: writing it would make the data file unreadable.
	closed := smallFile(t)
	res := run(t, "preader", "export", closed, "/rr/d00000", "--npy", closed+".md")
	errLine(t, res, 2, "preader export: ", "give another output path")
	if _, err := os.Stat(closed + ".md"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("export created %s.md: %v", closed, err)
	}
	// Failed exports leave an existing output as it was.
	out := filepath.Join(dir, "out.npy")
	if err := os.WriteFile(out, []byte("a user's own file"), 0o600); err != nil {
		t.Fatal(err)
	}
	keep := sum(t, out)
	for _, c := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{path, "/no/such", "--npy", out}, 1, `no dataset "/no/such"`},
		{[]string{path, "/rr/d00000", "--slice", "0:999", "--npy", out}, 2, "outside"},
		{[]string{filepath.Join(dir, "missing.pw"), "/rr/d00000", "--npy", out}, 1, "no such file"},
	} {
		res := run(t, "preader", append([]string{"export"}, c.args...)...)
		errLine(t, res, c.code, "preader export: ", c.says)
		if sum(t, out) != keep {
			t.Fatalf("export %v changed the existing output", c.args)
		}
	}
	// A good export replaces it, keeping its permissions.
	if res := run(t, "preader", "export", path, "/rr/d00000", "--npy", out); res.code != 0 {
		t.Fatalf("export: %+v", res)
	}
	b, err := os.ReadFile(out)
	if err != nil || !bytes.HasPrefix(b, []byte("\x93NUMPY")) {
		t.Fatalf("export wrote %q..., %v", clipOut(string(b)), err)
	}
	if fi, _ := os.Stat(out); fi.Mode().Perm() != 0o600 {
		t.Errorf("export changed the output's permissions to %v", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
	if sum(t, path) != before {
		t.Fatal("the data file changed")
	}
}

// startStepping starts a command that prints JSON lines and returns once it
// printed one with steps_complete > 0 (its signal handlers are then in
// place), with a function that waits for its end.
func startStepping(t *testing.T, args ...string) (*exec.Cmd, *bytes.Buffer, func() (int, bool)) {
	t.Helper()
	cmd := exec.Command(filepath.Join(bin, "pwriter"), args...)
	// Its own process group, as a job started from a shell: a terminal's
	// Ctrl-C goes to the whole group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	stepped := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		once := false
		for sc.Scan() {
			var m map[string]any
			if !once && json.Unmarshal(sc.Bytes(), &m) == nil && m["steps_complete"] != nil && m["steps_complete"].(float64) > 0 {
				once = true
				close(stepped)
			}
		}
	}()
	select {
	case <-stepped:
	case <-done:
		t.Fatalf("pwriter %v ended before its first step: %s", args, stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("pwriter %v wrote no step in 60 s", args)
	}
	wait := func() (int, bool) {
		<-done
		err := cmd.Wait()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
		return cmd.ProcessState.ExitCode(), ws.Signaled()
	}
	return cmd, &stderr, wait
}

// TestInterruptClosesCleanly (issue 12 item 7): the first SIGINT or
// SIGTERM stops pwriter run - one rank, --np 2 under the local launcher
// (signalled alone, or with its ranks as a terminal's Ctrl-C does), and
// --np 2 --watch 1 - at a step boundary; it closes the file, which then
// verifies without recovery, and exits 130 or 143 with one line saying so.
func TestInterruptClosesCleanly(t *testing.T) {
	cases := []struct {
		name  string
		extra []string
		sig   syscall.Signal
		group bool // signal the whole process group
		code  int
	}{
		{"one rank SIGINT", nil, syscall.SIGINT, false, 130},
		{"one rank SIGTERM", nil, syscall.SIGTERM, false, 143},
		{"np 2 SIGINT", []string{"--np", "2"}, syscall.SIGINT, false, 130},
		{"np 2 SIGINT to the group", []string{"--np", "2"}, syscall.SIGINT, true, 130},
		{"np 2 watch 1 SIGTERM", []string{"--np", "2", "--watch", "1"}, syscall.SIGTERM, false, 143},
		{"np 1 watch 1 SIGINT to the group", []string{"--watch", "1"}, syscall.SIGINT, true, 130},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "int.pw")
			args := append([]string{"run", "--json", "--workload", "rr", "--datasets", "4", "--steps", "100000", "--step-delay", "5ms", "--tick", "10ms"}, c.extra...)
			cmd, stderr, wait := startStepping(t, append(args, path)...)
			pid := cmd.Process.Pid
			if c.group {
				pid = -pid
			}
			if err := syscall.Kill(pid, c.sig); err != nil {
				t.Fatal(err)
			}
			code, signaled := wait()
			lines := strings.Split(strings.TrimRight(stderr.String(), "\n"), "\n")
			last := lines[len(lines)-1]
			if signaled || code != c.code || !strings.HasPrefix(last, "pwriter run: interrupted by SIG") {
				t.Fatalf("exit %d (signaled %v), stderr %q; want exit %d and a line saying interrupted", code, signaled, stderr.String(), c.code)
			}
			if _, err := os.Stat(path + ".md"); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("metadata file left after a clean close: %v", err)
			}
			v := run(t, "preader", "verify", "--json", path)
			var res map[string]any
			if v.code != 0 || json.Unmarshal([]byte(v.stdout), &res) != nil || res["ok"] != true || res["steps"].(float64) < 1 {
				t.Fatalf("verify without recovery: %+v", v)
			}
			t.Logf("%s: closed after %v steps; %s", c.name, res["steps"], last)
		})
	}
}

// TestSecondSignalKills (issue 12 item 7): a second signal while the writer
// stops (here a long stop: the first comes as a step of 128 MB of planes
// begins, and the writer finishes that step before it closes) ends it at once,
// by the signal - one rank, and the local launcher, whose ranks die with
// it; recovery (which refuses a writer that still heartbeats) then brings
// the file back as after any crash.
func TestSecondSignalKills(t *testing.T) {
	for _, extra := range [][]string{nil, {"--np", "2"}} {
		t.Run(fmt.Sprint("ranks ", extra), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "twice.pw")
			args := append([]string{"run", "--json", "--workload", "planes", "--datasets", "8", "--side", "2000", "--steps", "100000", "--tick", "300ms"}, extra...)
			cmd, stderr, wait := startStepping(t, append(args, path)...)
			// The first step was just published: let the second begin, so
			// that the writer has a step to finish after the first signal.
			time.Sleep(20 * time.Millisecond)
			if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			first := time.Now()
			ended := make(chan struct{})
			var code int
			var signaled bool
			go func() { code, signaled = wait(); close(ended) }()
			// Signal again until it ends: the first signal may not have
			// been taken yet when the next comes, but the stop lasts as
			// long as a step.
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			for waiting := true; waiting; {
				select {
				case <-ended:
					waiting = false
				case <-tick.C:
					cmd.Process.Signal(syscall.SIGINT)
				}
			}
			if !signaled {
				t.Fatalf("exit %d after %v, stderr %q; want death by the second SIGINT", code, time.Since(first), stderr.String())
			}
			if res := run(t, "pwriter", "recover", "--writer-gone", "1s", path); res.code != 0 {
				t.Fatalf("recover after the second signal: %+v", res)
			}
			if res := run(t, "preader", "verify", path); res.code != 0 {
				t.Fatalf("verify after recovery: %+v", res)
			}
		})
	}
}

// TestAdviceNamesRealCommands (issue 12 item 8): no message tells the user
// to remove a metadata file, or to open a file for writing with a flag that
// does not exist; each names pwriter recover, and the files stay.
func TestAdviceNamesRealCommands(t *testing.T) {
	dir := t.TempDir()
	// An unreadable metadata file with no data file: another writer
	// starting, or a user's own file.
	path := filepath.Join(dir, "a.pw")
	if err := os.WriteFile(path+".md", bytes.Repeat([]byte("garbage "), 100), 0o644); err != nil {
		t.Fatal(err)
	}
	keep := sum(t, path+".md")
	res := run(t, "pwriter", "run", "--workload", "rr", "--steps", "2", "--tick", "10ms", path)
	errLine(t, res, 1, "pwriter run: ", "pwriter recover "+path)
	if strings.Contains(res.stderr, "remove it") || sum(t, path+".md") != keep {
		t.Errorf("stderr %q; metadata file changed: %v", res.stderr, sum(t, path+".md") != keep)
	}
	// A crashed writer's files.
	crashed := filepath.Join(dir, "b.pw")
	cmd, _, wait := startStepping(t, "run", "--json", "--workload", "rr", "--steps", "100000", "--step-delay", "5ms", "--tick", "10ms", crashed)
	cmd.Process.Kill()
	wait()
	keepData, keepMD := sum(t, crashed), sum(t, crashed+".md")
	res = run(t, "pwriter", "run", "--workload", "rr", "--steps", "2", "--tick", "10ms", crashed)
	errLine(t, res, 1, "pwriter run: ", "run `pwriter recover "+crashed+"`")
	if sum(t, crashed) != keepData || sum(t, crashed+".md") != keepMD {
		t.Error("pwriter run on a crashed writer's file changed it")
	}
	// A closed file: no flag to reopen it is invented.
	closed := smallFile(t)
	keep = sum(t, closed)
	res = run(t, "pwriter", "run", "--workload", "rr", "--steps", "2", "--tick", "10ms", closed)
	errLine(t, res, 1, "pwriter run: ", "file exists")
	if strings.Contains(res.stderr, "open it for writing") || strings.Contains(res.stderr, "remove it") || sum(t, closed) != keep {
		t.Errorf("stderr %q", res.stderr)
	}
}

// TestBadInputIsRefused (issue 12 item 11): zero, negative and overflowing
// values are refused with exit 2, not taken for the default or wrapped; a
// directory or a FIFO as FILE (or as its metadata file) is refused at
// once; long user input is never echoed at length.
func TestBadInputIsRefused(t *testing.T) {
	dir := t.TempDir()
	good := smallFile(t)
	keep := sum(t, good)
	fresh := filepath.Join(dir, "fresh.pw")
	long := strings.Repeat("x", 10240)
	cases := []struct {
		prog string
		args []string
		says string
	}{
		{"pwriter", []string{"run", "--np", "0", fresh}, "--np 0: must be positive"},
		{"pwriter", []string{"run", "--np", "-1", fresh}, "--np -1: must be positive"},
		{"pwriter", []string{"run", "--side", "0", fresh}, "--side 0: must be positive"},
		{"pwriter", []string{"run", "--steps", "0", fresh}, "--steps 0: must be positive"},
		{"pwriter", []string{"run", "--datasets", "0", fresh}, "--datasets 0"},
		{"pwriter", []string{"run", "--elems", "0", fresh}, "--elems 0"},
		{"pwriter", []string{"run", "--watch", "0", fresh}, "--watch 0"},
		{"pwriter", []string{"run", "--tick", "0s", fresh}, "--tick 0s"},
		{"pwriter", []string{"run", "--max-lag", "0", fresh}, "--max-lag 0"},
		{"pwriter", []string{"run", "--max-lag", "2", fresh}, "--max-lag 2: must be at least 3"},
		{"pwriter", []string{"run", "--page-size", "1000", fresh}, "--page-size 1000: must be a power of two"},
		{"pwriter", []string{"run", "--np", "2", "--page-size", "1000", fresh}, "--page-size 1000: must be a power of two"},
		{"pwriter", []string{"run", "--cache-pages", "0", fresh}, "--cache-pages 0"},
		{"pwriter", []string{"run", "--step-delay", "-1s", fresh}, "must not be negative"},
		{"pwriter", []string{"run", "--coll-timeout", "0s", fresh}, "--coll-timeout 0s"},
		{"pwriter", []string{"run", "--steps", "99999999999999999999", fresh}, "value out of range"},
		{"pwriter", []string{"run", "--max-lag", "18446744073709551616", fresh}, "value out of range"},
		{"pwriter", []string{"run", "--side", "100000000", fresh}, "more than a file can hold"},
		{"pwriter", []string{"run", "--workload", "rr", "--elems", "9000000000000000000", fresh}, "more than a file can hold"},
		{"pwriter", []string{"run", "--steps", long, fresh}, "invalid value"},
		{"pwriter", []string{"recover", "--writer-gone", "0s", good}, "--writer-gone 0s"},
		{"preader", []string{"watch", "--timeout", "0s", fresh}, "--timeout 0s"},
		{"preader", []string{"watch", "--np", "0", fresh}, "--np 0"},
		{"preader", []string{"cat", "--limit", "0", good, "/rr/d00000"}, "--limit 0"},
		{"preader", []string{"cat", good, "/" + long}, "longer than the limit of 1024 bytes"},
		{"preader", []string{"export", good, "/" + long, "--npy", filepath.Join(dir, "o.npy")}, "longer than the limit of 1024 bytes"},
	}
	for _, c := range cases {
		res := runWithin(t, time.Minute, c.prog, c.args...)
		prefix := c.prog + " " + c.args[0] + ": "
		errLine(t, res, 2, prefix, c.says)
		if len(res.stderr) > 400 {
			t.Errorf("%s %s ...: a %d-byte message", c.prog, c.args[0], len(res.stderr))
		}
		if _, err := os.Stat(fresh); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s %v created %s", c.prog, c.args, fresh)
		}
	}
	// Echoes of long input: an unknown command, a long path.
	for _, c := range [][]string{{"pwriter", long}, {"preader", long}, {"preader", "ls", filepath.Join(dir, long)}} {
		res := run(t, c[0], c[1:]...)
		if res.code == 0 || len(res.stderr) > 1200 || strings.Count(res.stderr, "\n") != 1 {
			t.Errorf("%s with 10 KB of input: exit %d, %d-byte stderr", c[0], res.code, len(res.stderr))
		}
	}

	// Not regular files: refused at once, never opened (a FIFO would block).
	fifo := filepath.Join(dir, "fifo.pw")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "dir.pw")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct{ path, kind string }{{fifo, "a FIFO"}, {sub, "a directory"}} {
		for _, args := range [][]string{
			{"preader", "ls", f.path}, {"preader", "verify", f.path}, {"preader", "cat", f.path, "/x"},
			{"preader", "export", f.path, "/x", "--npy", filepath.Join(dir, "x.npy")}, {"preader", "watch", f.path},
			{"pwriter", "recover", f.path}, {"pwriter", "run", f.path},
			{"preader", "ls", good, "--md", f.path}, {"pwriter", "recover", good, "--md", f.path},
			{"preader", "export", good, "/rr/d00000", "--npy", f.path},
		} {
			res := runWithin(t, 20*time.Second, args[0], args[1:]...)
			errLine(t, res, 2, args[0]+" "+args[1]+": ", f.path+": not a regular file ("+f.kind+")")
		}
	}
	// A FIFO beside a good file as its metadata file.
	mdFIFO := filepath.Join(dir, "m.pw")
	if err := os.WriteFile(mdFIFO, mustRead(t, good), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(mdFIFO+".md", 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"preader", "ls", mdFIFO}, {"preader", "verify", mdFIFO}, {"pwriter", "recover", mdFIFO}} {
		res := runWithin(t, 20*time.Second, args[0], args[1:]...)
		errLine(t, res, 2, args[0]+" "+args[1]+": ", "not a regular file (a FIFO)")
	}
	if sum(t, good) != keep {
		t.Fatal("the good file changed")
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestVerifySummarisesProblems (issue 12 item 11): a file damaged in many
// places gives one short line that counts the problems and gives the
// first; --json lists them all.
func TestVerifySummarisesProblems(t *testing.T) {
	path := filepath.Join(t.TempDir(), "many.pw")
	if res := run(t, "pwriter", "run", "--workload", "rr", "--steps", "3", "--datasets", "1000", "--tick", "10ms", path); res.code != 0 {
		t.Fatalf("pwriter: %+v", res)
	}
	b := mustRead(t, path)
	// Flip a byte in every header block (the datasets' headers, packed):
	// every dataset's header is then damaged, the catalog intact.
	blocks := 0
	for off := 0; off+4096 <= len(b); off += 4096 {
		if string(b[off:off+4]) == "PWHB" {
			b[off+40] ^= 0x5a
			blocks++
		}
	}
	if blocks < 2 {
		t.Fatalf("%d header blocks in the file: the test needs several", blocks)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	res := run(t, "preader", "verify", path)
	errLine(t, res, 1, "preader verify: "+path+": ", "problems, the first: ")
	if len(res.stderr) > 1000 || !strings.Contains(res.stderr, "--json") {
		t.Errorf("verify printed %d bytes: %q", len(res.stderr), clipOut(res.stderr))
	}
	var n int
	fmt.Sscanf(strings.TrimPrefix(res.stderr, "preader verify: "+path+": "), "%d problems", &n)
	js := run(t, "preader", "verify", "--json", path)
	var v struct {
		OK       bool     `json:"ok"`
		Problems []string `json:"problems"`
	}
	if js.code != 1 || json.Unmarshal([]byte(js.stdout), &v) != nil || v.OK || n < 2 || len(v.Problems) != n {
		t.Fatalf("verify --json: exit %d, %d problems listed, the line counted %d: %s", js.code, len(v.Problems), n, clipOut(js.stdout))
	}
}

// TestCommandOutput (issue 13 item 8): usage on -h is multi-line; a usage
// error is one line pointing to -h; each command name and path is printed
// once; a foreign file is "not a pwstore file" (and recover changes no byte
// of it); recover refuses a missing file and reports the closing tick of a
// closed file.
func TestCommandOutput(t *testing.T) {
	// -h: several lines on stdout, exit 0.
	for _, args := range [][]string{{"pwriter", "-h"}, {"preader", "-h"}, {"pwriter", "run", "-h"}, {"pwriter", "recover", "-h"},
		{"preader", "cat", "-h"}, {"preader", "export", "-h"}, {"preader", "watch", "-h"}, {"preader", "verify", "-h"}} {
		res := run(t, args[0], args[1:]...)
		want := "usage: " + strings.Join(args[:len(args)-1], " ")
		if res.code != 0 || strings.Count(res.stdout, "\n") < 4 || !strings.HasPrefix(res.stdout, want) || res.stderr != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want several lines starting %q", args, res.code, clipOut(res.stdout), res.stderr, want)
		}
	}
	// No command: the usage, on stderr, exit 2.
	for _, prog := range []string{"pwriter", "preader"} {
		res := run(t, prog)
		if res.code != 2 || strings.Count(res.stderr, "\n") < 4 || strings.Contains(res.stderr, ";") {
			t.Errorf("%s: exit %d, stderr %q; want the multi-line usage and exit 2", prog, res.code, res.stderr)
		}
	}
	dir := t.TempDir()
	good := smallFile(t)
	// Usage errors: one line, pointing to -h, exit 2.
	errLine(t, run(t, "preader", "ls"), 2, "preader ls: want 1 argument, got 0 (see preader ls -h)", "")
	errLine(t, run(t, "pwriter", "run", "--bogus", good), 2, "pwriter run: flag provided but not defined: -bogus (see pwriter run -h)", "")
	errLine(t, run(t, "pwriter", "frobnicate"), 2, `pwriter: unknown command "frobnicate" (see pwriter -h)`, "")
	errLine(t, run(t, "pwriter", "run", "--max-lag", "2", filepath.Join(dir, "y.pw")), 2, "pwriter run: --max-lag 2", "")

	// A foreign file, and a missing one: the name and path once each.
	junk := filepath.Join(dir, "junk.pw")
	if err := os.WriteFile(junk, bytes.Repeat([]byte("not a checkpoint "), 1000), 0o644); err != nil {
		t.Fatal(err)
	}
	keep := sum(t, junk)
	missing := filepath.Join(dir, "missing.pw")
	for _, args := range [][]string{
		{"preader", "ls", junk}, {"preader", "cat", junk, "/x"}, {"preader", "verify", junk},
		{"preader", "export", junk, "/x", "--npy", filepath.Join(dir, "j.npy")}, {"pwriter", "recover", junk},
	} {
		res := run(t, args[0], args[1:]...)
		want := args[0] + " " + args[1] + ": " + junk + ": not a pwstore file\n"
		if res.code != 1 || res.stderr != want {
			t.Errorf("%v: exit %d, stderr %q; want exit 1 and %q", args, res.code, res.stderr, want)
		}
		if sum(t, junk) != keep {
			t.Fatalf("%v changed the foreign file", args)
		}
	}
	for _, args := range [][]string{{"preader", "ls", missing}, {"preader", "verify", missing}, {"pwriter", "recover", missing}} {
		res := run(t, args[0], args[1:]...)
		want := args[0] + " " + args[1] + ": " + missing + ": no such file\n"
		if res.code != 1 || res.stderr != want {
			t.Errorf("%v: exit %d, stderr %q; want exit 1 and %q", args, res.code, res.stderr, want)
		}
		if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%v created the missing file", args)
		}
	}
	// Any error line: neither the program nor a path twice in a row.
	for _, args := range [][]string{{"preader", "cat", good, "/no/such"}, {"preader", "verify", junk}, {"pwriter", "run", good}} {
		res := run(t, args[0], args[1:]...)
		for _, twice := range []string{args[0] + ": " + args[0], args[2] + ": " + args[2], args[1] + " " + args[2] + ": " + args[2]} {
			if strings.Contains(res.stderr, twice) {
				t.Errorf("%v: %q repeats %q", args, res.stderr, twice)
			}
		}
	}

	// recover of a closed file: nothing to do, and the closing tick when
	// the metadata file was kept.
	kept := filepath.Join(dir, "kept.pw")
	w := run(t, "pwriter", "run", "--json", "--workload", "rr", "--steps", "4", "--datasets", "2", "--tick", "10ms", "--keep-md", kept)
	var last float64
	for _, l := range strings.Split(w.stdout, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["summary"] == true {
			last = m["ticks"].(float64) // the metadata file's last tick
		}
	}
	if w.code != 0 || last == 0 {
		t.Fatalf("pwriter --keep-md: %+v", w)
	}
	keep = sum(t, kept)
	res := run(t, "pwriter", "recover", kept)
	want := fmt.Sprintf("%s: nothing to recover: its writer closed it at tick %d; 4 steps complete\n", kept, int(last))
	if res.code != 0 || res.stdout != want || res.stderr != "" {
		t.Errorf("recover of a closed file: exit %d, stdout %q, stderr %q; want %q", res.code, res.stdout, res.stderr, want)
	}
	res = run(t, "pwriter", "recover", "--json", good)
	var rec map[string]any
	if res.code != 0 || json.Unmarshal([]byte(res.stdout), &rec) != nil || rec["needed"] != false || rec["closed"] != true || rec["steps_complete"] != 7.0 {
		t.Errorf("recover --json of a closed file: %+v", res)
	}
	if sum(t, kept) != keep {
		t.Error("recover of a closed file changed it")
	}
}
