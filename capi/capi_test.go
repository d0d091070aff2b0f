package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"pwstore/internal/infra/natsd"
	"pwstore/internal/tool/ctest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	ctest.Cleanup()
	os.Exit(code)
}

// pwtest compiles testdata/pwtest.c against the installed library.
func pwtest(t *testing.T) string {
	t.Helper()
	src, err := filepath.Abs("testdata/pwtest.c")
	if err != nil {
		t.Fatal(err)
	}
	return ctest.Compile(t, "gcc", "pwstore", filepath.Join(t.TempDir(), "pwtest"), []string{src}, "-lpthread")
}

// TestBadUse: every bad use returns its code and a message, from one thread
// and from eight at once.
func TestBadUse(t *testing.T) {
	prog := pwtest(t)
	dir := t.TempDir()
	out := ctest.Run(t, exec.Command(prog, "bad", dir))
	if !strings.Contains(out, "\n0 failures") {
		t.Fatalf("pwtest bad:\n%s", out)
	}
}

// TestFileLockingEnv: a writer holds its data file's lock unless
// PW_USE_FILE_LOCKING=FALSE, and a bad value is a configuration error that
// names the variable.
func TestFileLockingEnv(t *testing.T) {
	prog := pwtest(t)
	for i, c := range []struct{ env, want string }{
		{"", "locked"}, {"TRUE", "locked"}, {"FALSE", "unlocked"}, {"false", "unlocked"}, {"maybe", "config: "},
	} {
		cmd := exec.Command(prog, "lock", filepath.Join(t.TempDir(), fmt.Sprintf("l%d.pw", i)))
		cmd.Env = append(os.Environ(), "PW_USE_FILE_LOCKING="+c.env)
		out := ctest.Run(t, cmd)
		if !strings.HasPrefix(out, c.want) || c.want == "locked" && out != "locked\n" {
			t.Errorf("PW_USE_FILE_LOCKING=%q: %q, want %q", c.env, out, c.want)
		}
		if c.want == "config: " && !strings.Contains(out, "PW_USE_FILE_LOCKING") {
			t.Errorf("the configuration error does not name the variable: %q", out)
		}
	}
}

// compareExport checks that preader export of every dataset of file equals
// the bytes in dir/<name>.bin, byte for byte.
func compareExport(t *testing.T, file, dir string, names []string) {
	t.Helper()
	preader := ctest.Command(t, "preader")
	for _, name := range names {
		npy := filepath.Join(t.TempDir(), "x.npy")
		ctest.Run(t, exec.Command(preader, "export", "--npy", npy, file, name))
		got := ctest.NPY(t, npy)
		bin := strings.ReplaceAll(strings.TrimPrefix(name, "/"), "/", "_") + ".bin"
		want, err := os.ReadFile(filepath.Join(dir, bin))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: preader export has %d bytes, the C side %d, not equal", name, len(got), len(want))
		}
	}
}

// datasets lists the dataset paths of `pwtest dump` output.
func datasets(dump string) []string {
	var out []string
	for _, line := range strings.Split(dump, "\n") {
		if strings.HasPrefix(line, "/") {
			out = append(out, strings.Fields(line)[0])
		}
	}
	return out
}

var layout = []string{"/field", "/series", "/types/t01", "/types/t02", "/types/t03", "/types/t04",
	"/types/t05", "/types/t06", "/types/t07", "/types/t08", "/types/t09", "/types/t10"}

// checkWritten: a file the C writer wrote reads back byte for byte through
// preader and through the C reader, attributes included.
func checkWritten(t *testing.T, prog, file, expected string, steps, width int) {
	compareExport(t, file, expected, layout)
	dumped := t.TempDir()
	dump := ctest.Run(t, exec.Command(prog, "dump", file, dumped))
	if got := datasets(dump); strings.Join(got, " ") != strings.Join(layout, " ") {
		t.Fatalf("C reader lists %v, want %v", got, layout)
	}
	for _, line := range []string{
		fmt.Sprintf("/field type 10 shape %d %d max unlimited %d chunk 4 %d\n", steps, width, width, width),
		fmt.Sprintf("/series type 3 shape %d max unlimited chunk 16\n", steps),
		"/types/t09 type 9 shape 3 5 max 3 5 chunk 3 5\n",
	} {
		if !strings.Contains(dump, line) {
			t.Errorf("C reader's dump lacks %q:\n%s", line, dump)
		}
	}
	for _, attr := range []string{"attr big uint 9223372036854775809", "attr dt float 0.25",
		"attr offset int -5", "attr units str kelvin"} {
		if !strings.Contains(dump, attr) {
			t.Errorf("C reader's dump lacks %q:\n%s", attr, dump)
		}
	}
	compareExport(t, file, dumped, layout)
}

func TestWriteOneRank(t *testing.T) {
	prog := pwtest(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "c.pw")
	ctest.Run(t, exec.Command(prog, "write", file, "7", "0", dir))
	checkWritten(t, prog, file, dir, 7, 8)
}

// natsServer starts an embedded NATS server for a test's ranks.
func natsServer(t *testing.T) string {
	s, err := natsd.Start(natsd.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	return s.URL()
}

func TestWriteFourRanks(t *testing.T) {
	ctest.Need(t, "mpirun")
	prog := pwtest(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "c.pw")
	env := []string{"PW_NATS_URL=" + natsServer(t)}
	out := ctest.Run(t, ctest.MPIRun(t, 4, env, prog, "write", file, "9", "0", dir))
	for r := range 4 {
		if !strings.Contains(out, "rank "+string(rune('0'+r))+" of 4 wrote 9 steps") {
			t.Fatalf("rank %d did not report 4 ranks and 9 steps:\n%s", r, out)
		}
	}
	checkWritten(t, prog, file, dir, 9, 32)
}

// TestFollow: a C reader follows a file while a C writer writes it, and
// checks every step.
func TestFollow(t *testing.T) {
	prog := pwtest(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "c.pw")
	const steps = "25"
	rout := followWhileWriting(t, exec.Command(prog, "follow", file, steps), prog, file, steps, dir)
	t.Log(strings.TrimSpace(rout))
	// The reader saw the file grow, not only its end.
	var ticks, views int
	if _, err := fmtSscanf(rout, &ticks, &views); err != nil || views < 3 {
		t.Fatalf("the reader saw new steps in %d ticks (want >= 3): %s", views, rout)
	}
}

// TestFollowCollective: a collective C reader of two ranks (mpirun) follows
// a file while a C writer writes it.
func TestFollowCollective(t *testing.T) {
	ctest.Need(t, "mpirun")
	prog := pwtest(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "c.pw")
	const steps = "15"
	env := []string{"PW_NATS_URL=" + natsServer(t), "PWTEST_ENV_RANKS=1"}
	rout := followWhileWriting(t, ctest.MPIRun(t, 2, env, prog, "follow", file, steps), prog, file, steps, dir)
	if n := strings.Count(rout, "followed "+steps+" steps"); n != 2 {
		t.Fatalf("%d of 2 reader ranks followed %s steps:\n%s", n, steps, rout)
	}
}

// followWhileWriting starts reader, writes steps steps of file with the C
// writer meanwhile, and returns the reader's output once both succeeded.
func followWhileWriting(t *testing.T, reader *exec.Cmd, prog, file, steps, dir string) string {
	t.Helper()
	var rout bytes.Buffer
	reader.Stdout, reader.Stderr = &rout, &rout
	if err := reader.Start(); err != nil {
		t.Fatal(err)
	}
	wout, werr := exec.Command(prog, "write", file, steps, "40", dir).CombinedOutput()
	rerr := reader.Wait()
	if werr != nil || rerr != nil {
		t.Fatalf("writer: %v\n%s\nreader: %v\n%s", werr, wout, rerr, rout.String())
	}
	return rout.String()
}

// TestPwriterThroughC: a file written by pwriter reads through the C
// interface byte for byte as through preader.
func TestPwriterThroughC(t *testing.T) {
	prog := pwtest(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "p.pw")
	pwriter := ctest.Command(t, "pwriter")
	ctest.Run(t, exec.Command(pwriter, "run", "--workload", "ckpt", "--steps", "3", "--side", "6", file))
	dumped := t.TempDir()
	names := datasets(ctest.Run(t, exec.Command(prog, "dump", file, dumped)))
	if len(names) < 3 {
		t.Fatalf("C reader lists %v", names)
	}
	compareExport(t, file, dumped, names)
}

// TestFortran: the Fortran test program, compiled against the installed
// module, writes and reads back column-major arrays; preader sees them in
// C order with reversed dimensions.
func TestFortran(t *testing.T) {
	ctest.Need(t, "gfortran")
	src, err := filepath.Abs("testdata/pwtest.f90")
	if err != nil {
		t.Fatal(err)
	}
	prog := ctest.Compile(t, "gfortran", "pwstore-fortran", filepath.Join(t.TempDir(), "pwtestf"), []string{src})
	dir := t.TempDir()
	file := filepath.Join(dir, "f.pw")
	out := ctest.Run(t, exec.Command(prog, file))
	if !strings.Contains(out, "fortran ok") {
		t.Fatalf("Fortran test:\n%s", out)
	}
	// a(k, j, i) = 100 i + 10 j + k, a(4, 3, 2): C shape (2, 3, 4), C order.
	var want []byte
	for i := 1; i <= 2; i++ {
		for j := 1; j <= 3; j++ {
			for k := 1; k <= 4; k++ {
				want = appendF64(want, float64(100*i+10*j+k))
			}
		}
	}
	npy := filepath.Join(dir, "a.npy")
	ctest.Run(t, exec.Command(ctest.Command(t, "preader"), "export", "--npy", npy, file, "/a"))
	if got := ctest.NPY(t, npy); !bytes.Equal(got, want) {
		t.Fatalf("/a through preader: %v, want the C-order bytes of a(4,3,2)", got)
	}
	ls := ctest.Run(t, exec.Command(ctest.Command(t, "preader"), "ls", "--json", file))
	if !strings.Contains(ls, `"path":"/a","dtype":"float64","shape":[2,3,4]`) ||
		!strings.Contains(ls, `"path":"/grow","dtype":"int32","shape":[3,5]`) {
		t.Fatalf("preader ls: %s", ls)
	}
}

func appendF64(b []byte, f float64) []byte {
	return binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
}

// fmtSscanf reads the tick counts of the follow summary line.
func fmtSscanf(out string, ticks, views *int) (int, error) {
	var seen int
	i := strings.Index(out, "followed ")
	if i < 0 {
		return 0, fmt.Errorf("no summary line")
	}
	return fmt.Sscanf(out[i:], "followed %d steps in %d ticks (%d with", &seen, ticks, views)
}

// TestHandleTable: handles are found while others are added and removed
// from other goroutines, a closed handle says so, and a page whose handles
// were all closed is dropped.
func TestHandleTable(t *testing.T) {
	const n = 3 * pageSize
	first := add(0)
	hs := make([]int64, n)
	done := make(chan struct{})
	go func() { // looks up first while the table grows and pages drop
		defer close(done)
		for range 20000 {
			if o, err := lookup(first); err != nil || o != 0 {
				t.Errorf("lookup(%d) = %v, %v during growth", first, o, err)
				return
			}
		}
	}()
	for i := range hs {
		hs[i] = add(i + 1)
	}
	// close every handle of the page that holds hs[pageSize]
	page := (hs[pageSize] - 1) / pageSize
	for i, h := range hs {
		if (h-1)/pageSize == page {
			if o, err := remove(h); err != nil || o != i+1 {
				t.Fatalf("remove(%d) = %v, %v, want %d", h, o, err, i+1)
			}
		}
	}
	<-done
	if (*handles.dir.Load())[page] != nil {
		t.Errorf("page %d: all its handles closed, still held", page)
	}
	for i, h := range hs {
		o, err := lookup(h)
		switch {
		case (h-1)/pageSize == page:
			if !errors.Is(err, errBadHandle) || !strings.Contains(err.Error(), "closed") {
				t.Fatalf("lookup(%d) of a closed handle: %v, %v", h, o, err)
			}
		case err != nil || o != i+1:
			t.Fatalf("lookup(%d) = %v, %v, want %d", h, o, err, i+1)
		}
	}
	if _, err := remove(hs[pageSize]); !errors.Is(err, errBadHandle) {
		t.Errorf("second remove: %v", err)
	}
	last := hs[n-1]
	if _, err := lookup(last + 5); !errors.Is(err, errBadHandle) || !strings.Contains(err.Error(), "not a handle") {
		t.Errorf("lookup of a handle never given: %v", err)
	}
	for _, h := range append(hs, first) {
		remove(h)
	}
}
