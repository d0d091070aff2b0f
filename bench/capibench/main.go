// Command capibench measures the C interface's cost per call: the
// round-robin workload (D extensible 1-D int32 datasets, P passes of a
// one-element append to each, a sync after each pass) through libpwstore
// from C (c/rr.c) against the same through the Go API, alternating runs in
// one invocation, each in a process of its own, timing only the passes. The
// C side runs twice: pw_dataset_extend + pw_dataset_write per append (the
// issue's contract), and one pw_dataset_append per append. The Go side runs
// twice too: as go build makes it, and built position-independent (as
// -buildmode=pie), the code generation a shared library needs: the second
// peer separates what the crossing costs from what PIC code costs.
//
//	go run ./bench/capibench [-d 1000] [-p 100] [-runs 3]
//
// It installs the library with scripts/install-lib into a temporary prefix
// and compiles c/rr.c with gcc.
package main

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"pwstore/coord"
)

func main() {
	if len(os.Args) == 5 && os.Args[1] == "-go-worker" {
		if err := goWorker(os.Args[2], os.Args[3], os.Args[4]); err != nil {
			fmt.Fprintln(os.Stderr, "capibench:", err)
			os.Exit(1)
		}
		return
	}
	d := flag.Int("d", 1000, "datasets")
	p := flag.Int("p", 100, "passes")
	runs := flag.Int("runs", 3, "runs of each")
	flag.Parse()
	if err := run(*d, *p, *runs); err != nil {
		fmt.Fprintln(os.Stderr, "capibench:", err)
		os.Exit(1)
	}
}

// goWorker is the Go peer of rr.c.
func goWorker(file, ds, ps string) error {
	var d, p int
	if _, err := fmt.Sscan(ds, &d); err != nil {
		return err
	}
	if _, err := fmt.Sscan(ps, &p); err != nil {
		return err
	}
	w, err := coord.Create(file, coord.Config{TickLen: coord.DefaultTickLen})
	if err != nil {
		return err
	}
	sets := make([]*coord.Dataset, d)
	for i := range sets {
		spec := coord.Spec{Type: coord.Int32, Shape: []uint64{0}, MaxShape: []uint64{coord.Unlimited}, Chunk: []uint64{1024}}
		if sets[i], err = w.CreateDataset(fmt.Sprintf("/rr/d%05d", i), spec); err != nil {
			return err
		}
	}
	start := time.Now()
	one := []uint64{1}
	buf := make([]byte, 4)
	for pass := range p {
		at := []uint64{uint64(pass)}
		for i, ds := range sets {
			binary.LittleEndian.PutUint32(buf, uint32(pass*31+i))
			if err := ds.Extend(uint64(pass) + 1); err != nil {
				return err
			}
			if err := ds.WriteSlab(at, one, buf); err != nil {
				return err
			}
		}
		if err := w.Sync(); err != nil {
			return err
		}
	}
	took := time.Since(start)
	if err := w.Close(); err != nil {
		return err
	}
	fmt.Printf("appends %d seconds %.6f\n", d*p, took.Seconds())
	return nil
}

// measure runs one worker and returns the seconds of its passes and the
// CPU seconds of the whole process (user + system, creation and close
// included): the second is less sensitive to other load on the machine.
func measure(cmd *exec.Cmd) (wall, cpu float64, err error) {
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, 0, fmt.Errorf("%v: %w\n%s", cmd.Args, err, out)
	}
	var n int
	if _, err := fmt.Sscanf(strings.TrimSpace(string(out)), "appends %d seconds %f", &n, &wall); err != nil {
		return 0, 0, fmt.Errorf("%v: output %q: %w", cmd.Args, out, err)
	}
	ps := cmd.ProcessState
	return wall, (ps.UserTime() + ps.SystemTime()).Seconds(), nil
}

func median(v []float64) float64 {
	v = slices.Clone(v)
	slices.Sort(v)
	return v[len(v)/2]
}

func run(d, p, runs int) error {
	_, src, _, _ := runtime.Caller(0)
	here := filepath.Dir(src)
	tmp, err := os.MkdirTemp("", "capibench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	prefix := filepath.Join(tmp, "prefix")
	if out, err := exec.Command(filepath.Join(here, "..", "..", "scripts", "install-lib"), prefix).CombinedOutput(); err != nil {
		return fmt.Errorf("install-lib: %w\n%s", err, out)
	}
	pc := exec.Command("pkg-config", "--cflags", "--libs", "pwstore")
	pc.Env = append(os.Environ(), "PKG_CONFIG_PATH="+filepath.Join(prefix, "lib", "pkgconfig"))
	flags, err := pc.Output()
	if err != nil {
		return fmt.Errorf("pkg-config: %w", err)
	}
	rr := filepath.Join(tmp, "rr")
	args := append([]string{"-O2", "-o", rr, filepath.Join(here, "c", "rr.c")}, strings.Fields(string(flags))...)
	if out, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("gcc: %w\n%s", err, out)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	pie := filepath.Join(tmp, "capibench-pie")
	if out, err := exec.Command("go", "build", "-buildmode=pie", "-o", pie, here).CombinedOutput(); err != nil {
		return fmt.Errorf("go build -buildmode=pie: %w\n%s", err, out)
	}
	kinds := []string{"go", "go-pie", "c", "c-append"}
	wall := map[string][]float64{}
	cpu := map[string][]float64{}
	for i := range runs {
		for _, which := range kinds {
			file := filepath.Join(tmp, fmt.Sprintf("%s%d.pw", which, i))
			var cmd *exec.Cmd
			switch which {
			case "go":
				cmd = exec.Command(self, "-go-worker", file, fmt.Sprint(d), fmt.Sprint(p))
			case "go-pie":
				cmd = exec.Command(pie, "-go-worker", file, fmt.Sprint(d), fmt.Sprint(p))
			case "c":
				cmd = exec.Command(rr, file, fmt.Sprint(d), fmt.Sprint(p))
			default:
				cmd = exec.Command(rr, file, fmt.Sprint(d), fmt.Sprint(p), "append")
			}
			s, c, err := measure(cmd)
			if err != nil {
				return err
			}
			wall[which], cpu[which] = append(wall[which], s), append(cpu[which], c)
		}
	}
	if runs == 0 {
		return errors.New("no runs")
	}
	n := float64(d * p)
	g, gc := median(wall["go"]), median(cpu["go"])
	gp, gpc := median(wall["go-pie"]), median(cpu["go-pie"])
	fmt.Printf("round robin %d datasets x %d passes, %d alternating runs each, medians (passes: s, us/append; process CPU: s):\n", d, p, runs)
	line := func(name string, w, c float64) {
		fmt.Printf("  %-18s passes %.3f s  %.2f us/append  CPU %.3f s", name, w, w/n*1e6, c)
	}
	defer func() { // the least of each: what a run costs when the machine lets it
		fmt.Printf("  minima: passes")
		for _, k := range kinds {
			fmt.Printf("  %s %.3f s", k, slices.Min(wall[k]))
		}
		fmt.Printf(";  C append / Go %.3f, / Go PIE %.3f\n", slices.Min(wall["c-append"])/slices.Min(wall["go"]), slices.Min(wall["c-append"])/slices.Min(wall["go-pie"]))
	}()
	line("Go API", g, gc)
	fmt.Println()
	line("Go API, PIE", gp, gpc)
	fmt.Printf("   / Go: passes %.3f, CPU %.3f\n", gp/g, gpc/gc)
	for _, k := range []struct{ which, name string }{{"c", "C extend+write"}, {"c-append", "C append"}} {
		c, cc := median(wall[k.which]), median(cpu[k.which])
		line(k.name, c, cc)
		fmt.Printf("   / Go: passes %.3f (%+.2f us/append), CPU %.3f;  / Go PIE: passes %.3f, CPU %.3f\n", c/g, (c-g)/n*1e6, cc/gc, c/gp, cc/gpc)
	}
	return nil
}
