package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"pwstore/internal/tool/ctest"
)

// pwdefer compiles testdata/pwdefer.c against the installed library.
func pwdefer(t *testing.T) string {
	t.Helper()
	src, err := filepath.Abs("testdata/pwdefer.c")
	if err != nil {
		t.Fatal(err)
	}
	return ctest.Compile(t, "gcc", "pwstore", filepath.Join(t.TempDir(), "pwdefer"), []string{src}, "-lpthread")
}

// TestDeferredOrder: deferred appends, executed by pw_perform_appends, a
// read, an info, pw_sync, an attribute, pw_end_tick and pw_close, from one
// thread and from eight, read back through preader equal to immediate ones.
func TestDeferredOrder(t *testing.T) {
	prog := pwdefer(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "d.pw")
	out := ctest.Run(t, exec.Command(prog, "order", file, dir))
	if !strings.Contains(out, "0 failures") {
		t.Fatalf("pwdefer order:\n%s", out)
	}
	names := []string{"/a", "/b", "/imm", "/ew"}
	for i := range 8 {
		names = append(names, "/t"+string(rune('0'+i)))
	}
	compareExport(t, file, dir, names)
}

// TestDeferredFourRanks: four mpirun ranks queue the same appends, each
// writing a quarter of them.
func TestDeferredFourRanks(t *testing.T) {
	ctest.Need(t, "mpirun")
	prog := pwdefer(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "d.pw")
	env := []string{"PW_NATS_URL=" + natsServer(t)}
	out := ctest.Run(t, ctest.MPIRun(t, 4, env, prog, "order", file, dir))
	if n := strings.Count(out, "of 4: 87 rows in 44 deferred appends, 0 failures"); n != 4 {
		t.Fatalf("%d of 4 ranks succeeded:\n%s", n, out)
	}
	compareExport(t, file, dir, []string{"/a", "/b", "/imm", "/ew"})
}

// TestDeferredErrors: errors found at once, and errors found when a call
// executes the queue, with the rows before the failing append kept.
func TestDeferredErrors(t *testing.T) {
	prog := pwdefer(t)
	out := ctest.Run(t, exec.Command(prog, "errors", t.TempDir()))
	if !strings.Contains(out, "\n0 failures") {
		t.Fatalf("pwdefer errors:\n%s", out)
	}
	t.Log(out)
}

// TestQueuedVisible: calls queued on a writer with automatic ticks, and no
// call on it after them, reach a reader by the writer's timer.
func TestQueuedVisible(t *testing.T) {
	prog := pwdefer(t)
	out := ctest.Run(t, exec.Command(prog, "visible", filepath.Join(t.TempDir(), "v.pw")))
	if !strings.Contains(out, "\n0 failures") {
		t.Fatalf("pwdefer visible:\n%s", out)
	}
}

// TestDeferredThreadSanitizer: the order test (eight threads queueing to
// one file and executing its queue while the others queue) with the
// library's C code and the test program built with ThreadSanitizer, which
// sees deferred.c's lock and the hand-over of a queue's buffer: it must
// report no race. (Go's side is not instrumented.)
func TestDeferredThreadSanitizer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the library once more")
	}
	ctest.Need(t, "gcc", "go")
	lib := t.TempDir()
	build := exec.Command("go", "build", "-buildmode=c-shared", "-o", filepath.Join(lib, "libpwstore.so"), ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=1", "GOFLAGS=", "CGO_CFLAGS=-fsanitize=thread -O1 -g", "CGO_LDFLAGS=-fsanitize=thread")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build with ThreadSanitizer: %v\n%s", err, out)
	}
	prog := filepath.Join(t.TempDir(), "pwdefer")
	cc := exec.Command("gcc", "-O1", "-g", "-fsanitize=thread", "-o", prog, "testdata/pwdefer.c", "-I.",
		"-L"+lib, "-Wl,-rpath,"+lib, "-lpwstore", "-lpthread")
	if out, err := cc.CombinedOutput(); err != nil {
		if strings.Contains(string(out), "tsan") {
			t.Skipf("no ThreadSanitizer runtime: %s", out)
		}
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	dir := t.TempDir()
	out := ctest.Run(t, exec.Command(prog, "order", filepath.Join(dir, "d.pw"), dir))
	if !strings.Contains(out, "0 failures") || strings.Contains(out, "ThreadSanitizer") {
		t.Fatalf("pwdefer order under ThreadSanitizer:\n%s", out)
	}
}

// BenchmarkLookup: what finding a writer's dataset handle costs with the
// check for deferred appends (lookup) and without (get): the immediate
// calls' price for deferred appends.
func BenchmarkLookup(b *testing.B) {
	f := &fileObj{}
	if err := newQueue(f); err != nil {
		b.Fatal(err)
	}
	h := add(&datasetObj{file: f})
	defer remove(h)
	for _, bc := range []struct {
		name string
		find func(int64) (any, error)
	}{{"get", get}, {"lookup", lookup}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := bc.find(h); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
