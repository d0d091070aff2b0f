// The tests of heat3d: it runs under mpirun with 4 ranks while the C
// reader follows its file, and it restarts after a kill -9 to the same
// fields as an uninterrupted run.
package test

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"pwstore/internal/tool/ctest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	ctest.Cleanup()
	os.Exit(code)
}

// build compiles heat3d with mpicc and the reader with gcc against the
// installed library.
func build(t *testing.T) (sim, reader string) {
	t.Helper()
	ctest.Need(t, "mpicc", "mpirun")
	dir := t.TempDir()
	abs := func(f string) []string {
		p, err := filepath.Abs(f)
		if err != nil {
			t.Fatal(err)
		}
		return []string{p}
	}
	sim = ctest.Compile(t, "mpicc", "pwstore", filepath.Join(dir, "heat3d"), abs("../heat3d.c"), "-lm")
	reader = ctest.Compile(t, "gcc", "pwstore", filepath.Join(dir, "heat3d_reader"), abs("../heat3d_reader.c"), "-lm")
	return sim, reader
}

// stepLines are the "step S time T heat H" lines of an output, by step.
func stepLines(out string) map[int]string {
	m := map[int]string{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 6 && f[0] == "step" && f[2] == "time" && f[4] == "heat" {
			if s, err := strconv.Atoi(f[1]); err == nil {
				m[s] = line
			}
		}
	}
	return m
}

// TestMPIWithReader: heat3d on 4 ranks while the C reader follows it; the
// reader sees every checkpoint, with the heat the simulation printed, and
// the field it reads sums to that heat.
func TestMPIWithReader(t *testing.T) {
	sim, reader := build(t)
	file := filepath.Join(t.TempDir(), "heat.pw")
	rd := exec.Command(reader, "--timeout", "90", file)
	var rout bytes.Buffer
	rd.Stdout, rd.Stderr = &rout, &rout
	if err := rd.Start(); err != nil {
		t.Fatal(err)
	}
	sout := ctest.Run(t, ctest.MPIRun(t, 4, nil, sim, "--steps", "60", "--every", "5", "--delay-ms", "20", file))
	rerr := rd.Wait()
	if rerr != nil {
		t.Fatalf("reader: %v\n%s\nsimulation:\n%s", rerr, rout.String(), sout)
	}
	want, got := stepLines(sout), stepLines(rout.String())
	if len(want) != 13 {
		t.Fatalf("simulation printed %d checkpoints, want 13:\n%s", len(want), sout)
	}
	for s, line := range want {
		if got[s] != line {
			t.Errorf("step %d: simulation %q, reader %q", s, line, got[s])
		}
	}
	if !strings.Contains(rout.String(), "reader: 13 checkpoints, 0 errors") {
		t.Fatalf("reader:\n%s", rout.String())
	}
}

// export returns the bytes of dataset ds of file through preader.
func export(t *testing.T, file, ds string) []byte {
	t.Helper()
	npy := filepath.Join(t.TempDir(), "x.npy")
	ctest.Run(t, exec.Command(ctest.Command(t, "preader"), "export", "--npy", npy, file, ds))
	return ctest.NPY(t, npy)
}

// killTree kills pid and every process below it with SIGKILL, at once
// (mpirun's ranks are in process groups of their own).
func killTree(pid int) {
	parents := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold blanks, so cut at the last ')'.
		i := bytes.LastIndexByte(stat, ')')
		if f := strings.Fields(string(stat[i+1:])); i > 0 && len(f) > 1 {
			if pp, err := strconv.Atoi(f[1]); err == nil {
				parents[pp] = append(parents[pp], p)
			}
		}
	}
	all := []int{pid}
	for i := 0; i < len(all); i++ {
		all = append(all, parents[all[i]]...)
	}
	for _, p := range all {
		syscall.Kill(p, syscall.SIGKILL)
	}
}

// TestRestartAfterKill: heat3d killed with SIGKILL mid-run (mpirun and all
// its ranks), recovered and restarted from its last checkpoint, ends with
// the same checkpoints, bit for bit, as a run that was never interrupted;
// and a one-rank run has the same fields as four ranks.
func TestRestartAfterKill(t *testing.T) {
	sim, _ := build(t)
	dir := t.TempDir()
	args := []string{"--steps", "120", "--every", "10"}
	whole := filepath.Join(dir, "whole.pw")
	wout := ctest.Run(t, ctest.MPIRun(t, 4, nil, sim, append(args, whole)...))

	killed := filepath.Join(dir, "killed.pw")
	cmd := ctest.MPIRun(t, 4, nil, sim, append(args, "--delay-ms", "25", killed)...)
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var before strings.Builder
	sc := bufio.NewScanner(pipe)
	for sc.Scan() {
		before.WriteString(sc.Text() + "\n")
		if strings.HasPrefix(sc.Text(), "step 50 ") {
			break
		}
	}
	time.Sleep(60 * time.Millisecond) // mid-way between checkpoints
	killTree(cmd.Process.Pid)
	go func() { // drain, so that nothing blocks on a full pipe
		for sc.Scan() {
		}
	}()
	cmd.Wait()
	if !strings.Contains(before.String(), "step 50 ") {
		t.Fatalf("the run to kill did not reach step 50:\n%s", before.String())
	}
	if _, err := os.Stat(killed + ".md"); err != nil {
		t.Fatalf("after kill -9 the metadata file should remain (writer did not close): %v", err)
	}
	if strings.Contains(before.String(), "done:") {
		t.Fatalf("the run finished before the kill:\n%s", before.String())
	}
	rout := ctest.Run(t, ctest.MPIRun(t, 4, nil, sim, append(args, "--restart", killed)...))
	if !strings.Contains(rout, "recovered ") || !strings.Contains(rout, "restart from step ") {
		t.Fatalf("restart output:\n%s", rout)
	}
	wl, rl := stepLines(wout), stepLines(rout)
	if len(rl) == 0 || rl[120] == "" {
		t.Fatalf("the restarted run printed no checkpoint up to step 120:\n%s", rout)
	}
	for s, line := range rl {
		if wl[s] != line {
			t.Errorf("step %d: restarted %q, uninterrupted %q", s, line, wl[s])
		}
	}
	for _, ds := range []string{"/T", "/step", "/time", "/heat"} {
		a, b := export(t, whole, ds), export(t, killed, ds)
		if !bytes.Equal(a, b) {
			t.Errorf("%s: restarted run's %d bytes differ from the uninterrupted run's %d", ds, len(b), len(a))
		}
	}

	one := filepath.Join(dir, "one.pw")
	ctest.Run(t, ctest.MPIRun(t, 1, nil, sim, append(args, one)...))
	if !bytes.Equal(export(t, one, "/T"), export(t, whole, "/T")) {
		t.Errorf("/T of one rank differs from /T of four ranks")
	}
}
