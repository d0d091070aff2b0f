// Command goapi is a user's program of pwstore's Go API, in a module of
// its own: it imports pwstore/coord (and pwstore/collective for the ranks
// of a parallel job) and nothing else of pwstore. It writes a file while
// reading it, recovers a file whose writer died, and tests the errors an
// application tests: ErrCorrupt on a damaged file, ErrExists on every rank
// of a two-rank job. It prints one line per check and exits 1 at the first
// that fails.
//
//	goapi DIR        run every check in DIR (an empty directory)
//	goapi -die FILE  (internal) write two ticks to FILE, then die unclosed
package main

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"

	"pwstore/collective"
	"pwstore/coord"
)

func main() {
	die := flag.String("die", "", "write two ticks to this file, then exit without closing it")
	flag.Parse()
	if *die != "" {
		if err := dieWriting(*die); err != nil {
			fmt.Fprintln(os.Stderr, "goapi:", err)
		}
		os.Exit(3) // a writer that died: no Close ran
	}
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: goapi DIR")
		os.Exit(2)
	}
	dir := flag.Arg(0)
	for _, c := range []struct {
		name string
		run  func(string) error
	}{
		{"write and follow", writeAndFollow},
		{"recover", recoverDead},
		{"ErrCorrupt", corruptFile},
		{"ErrExists on every rank", existsEveryRank},
	} {
		if err := c.run(dir); err != nil {
			fmt.Fprintf(os.Stderr, "goapi: %s: %v\n", c.name, err)
			os.Exit(1)
		}
		fmt.Println("ok", c.name)
	}
}

// series is the one-dimensional dataset every check writes: step i holds
// the value 0.5*i.
var series = coord.Spec{Type: coord.Float64, Shape: []uint64{0}, MaxShape: []uint64{coord.Unlimited}, Chunk: []uint64{8}}

func value(i uint64) float64 { return 0.5 * float64(i) }

// appendStep extends d by one element, step i, and writes it.
func appendStep(d *coord.Dataset, i uint64) error {
	if err := d.Extend(i + 1); err != nil {
		return err
	}
	return d.WriteSlab([]uint64{i}, []uint64{1}, binary.LittleEndian.AppendUint64(nil, math.Float64bits(value(i))))
}

// checkSteps reads the dataset of r and checks that it holds steps 0..n-1.
func checkSteps(r *coord.Reader, n uint64) error {
	v, err := r.Dataset("/series")
	if err != nil {
		return err
	}
	shape, err := v.Shape()
	if err != nil {
		return err
	}
	if !slices.Equal(shape, []uint64{n}) {
		return fmt.Errorf("shape %v, want [%d]", shape, n)
	}
	buf := make([]byte, 8*n)
	if err := v.ReadSlab([]uint64{0}, []uint64{n}, buf); err != nil {
		return err
	}
	for i := range n {
		if got := math.Float64frombits(binary.LittleEndian.Uint64(buf[8*i:])); got != value(i) {
			return fmt.Errorf("step %d reads %v, want %v", i, got, value(i))
		}
	}
	return nil
}

// writeAndFollow writes five steps, one tick each, while a reader in the
// same process follows the file tick by tick.
func writeAndFollow(dir string) error {
	path := filepath.Join(dir, "follow.pw")
	w, err := coord.Create(path, coord.Config{ManualTicks: true})
	if err != nil {
		return err
	}
	defer w.Close()
	d, err := w.CreateDataset("/series", series)
	if err != nil {
		return err
	}
	if err := d.SetAttr("units", coord.StringValue("kelvin")); err != nil {
		return err
	}
	if err := w.EndTick(); err != nil {
		return err
	}
	r, err := coord.OpenReader(path, coord.Config{ManualTicks: true})
	if err != nil {
		return err
	}
	defer r.Close()
	for i := range uint64(5) {
		if err := appendStep(d, i); err != nil {
			return err
		}
		if err := w.EndTick(); err != nil {
			return err
		}
		if _, err := r.Tick(); err != nil {
			return err
		}
		if err := checkSteps(r, i+1); err != nil {
			return fmt.Errorf("reader after step %d: %w", i, err)
		}
	}
	v, err := r.Dataset("/series")
	if err != nil {
		return err
	}
	if u, ok, err := v.Attr("units"); err != nil || !ok {
		return fmt.Errorf("attribute units: %v, found %v", err, ok)
	} else if s, _ := u.Str(); s != "kelvin" {
		return fmt.Errorf("attribute units is %q", s)
	}
	if err := w.Close(); err != nil {
		return err
	}
	if info, err := r.Tick(); err != nil || !info.Ended {
		return fmt.Errorf("after Close the reader sees %+v, %v; want the file ended", info, err)
	}
	return checkSteps(r, 5)
}

// dieWriting is the dying writer: two steps, two ticks, no Close.
func dieWriting(path string) error {
	w, err := coord.Create(path, coord.Config{ManualTicks: true})
	if err != nil {
		return err
	}
	d, err := w.CreateDataset("/series", series)
	if err != nil {
		return err
	}
	for i := range uint64(2) {
		if err := appendStep(d, i); err != nil {
			return err
		}
		if err := w.EndTick(); err != nil {
			return err
		}
	}
	return nil
}

// recoverDead runs a writer process that dies after two ticks, recovers
// its file and reads both steps back.
func recoverDead(dir string) error {
	path := filepath.Join(dir, "dead.pw")
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(self, "-die", path)
	cmd.Stderr = os.Stderr
	var exit *exec.ExitError
	if err := cmd.Run(); !errors.As(err, &exit) || exit.ExitCode() != 3 {
		return fmt.Errorf("the dying writer: %v", err)
	}
	// Its heartbeat has stopped, but not for long: skip the wait.
	rec, err := coord.Recover(path, coord.Config{ForceRecover: true})
	if err != nil {
		return err
	}
	if !rec.Needed || rec.Tick < 3 {
		return fmt.Errorf("recovery did %+v, want the file recovered to its third tick or later", rec)
	}
	r, err := coord.OpenReader(path, coord.Config{ManualTicks: true})
	if err != nil {
		return err
	}
	defer r.Close()
	return checkSteps(r, 2)
}

// corruptFile damages a closed file's first page and expects ErrCorrupt.
func corruptFile(dir string) error {
	path := filepath.Join(dir, "corrupt.pw")
	w, err := coord.Create(path, coord.Config{ManualTicks: true})
	if err != nil {
		return err
	}
	d, err := w.CreateDataset("/series", series)
	if err == nil {
		err = appendStep(d, 0)
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, 40); err != nil {
		return err
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, 40); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	r, err := coord.OpenReader(path, coord.Config{})
	if err == nil {
		r.Close()
		return errors.New("a damaged file opened")
	}
	if !errors.Is(err, coord.ErrCorrupt) || !coord.IsCorrupt(err) {
		return fmt.Errorf("damaged file: %v, want ErrCorrupt", err)
	}
	return nil
}

// existsEveryRank: two ranks (goroutines with an in-memory communicator)
// create a file that exists, then a dataset that exists; every rank must
// get ErrExists both times.
func existsEveryRank(dir string) error {
	path := filepath.Join(dir, "exists.pw")
	w, err := coord.Create(path, coord.Config{ManualTicks: true})
	if err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	job := func(rank int, comm collective.Comm) error {
		if _, err := coord.Create(path, coord.Config{ManualTicks: true, Comm: comm}); !errors.Is(err, coord.ErrExists) {
			return fmt.Errorf("rank %d: Create of an existing file: %v, want ErrExists", rank, err)
		}
		w, err := coord.Create(filepath.Join(dir, "job.pw"), coord.Config{ManualTicks: true, Comm: comm})
		if err != nil {
			return err
		}
		defer w.Close()
		if _, err := w.CreateDataset("/series", series); err != nil {
			return err
		}
		if _, err := w.CreateDataset("/series", series); !errors.Is(err, coord.ErrExists) {
			return fmt.Errorf("rank %d: CreateDataset of an existing dataset: %v, want ErrExists", rank, err)
		}
		return w.Close()
	}
	comms := collective.NewLocal(2)
	errs := make([]error, len(comms))
	var wg sync.WaitGroup
	for rank, comm := range comms {
		wg.Go(func() { errs[rank] = job(rank, comm) })
	}
	wg.Wait()
	return errors.Join(errs...)
}
