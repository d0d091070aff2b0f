package job

import (
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"pwstore/coord"
	"pwstore/internal/tool/workload"
)

// TestWriterPieces: a rank's share of a step is made and written in
// pieces of about 256 KiB; every value of the finished file is the
// workload's, whether a share is one piece or many, cut along rows or
// inside them, and for every element type (planes int32, ckpt float64
// fields with its small int64 series, rr).
func TestWriterPieces(t *testing.T) {
	for _, p := range []workload.Params{
		{Kind: workload.Planes, Datasets: 3, Steps: 5, Side: 600}, // 1.44 MB planes: 6 pieces of 109 rows
		{Kind: workload.Planes, Datasets: 2, Steps: 3, Side: 20},  // 1.6 kB planes: one piece
		{Kind: workload.Ckpt, Datasets: 2, Steps: 4, Side: 48},    // 885 kB fields: 4 pieces of 14 planes
		{Kind: workload.RR, Datasets: 5, Steps: 4},
	} {
		path := filepath.Join(t.TempDir(), "w.pw")
		sum, err := RunWriter(path, WriterOptions{Params: p, Config: coord.Config{TickLen: 20 * time.Millisecond}})
		if err != nil {
			t.Fatalf("%s: %v", p.Kind, err)
		}
		if sum.Steps != p.Steps {
			t.Fatalf("%s: wrote %d of %d steps", p.Kind, sum.Steps, p.Steps)
		}
		res, err := Verify(path, coord.Config{})
		if err != nil || !res.OK || res.Steps != p.Steps {
			t.Fatalf("%s: verify: %+v, %v", p.Kind, res, err)
		}
	}
}

// TestWriterStop: a writer stopped after its first step closes the file
// with the steps it wrote, and leaves no goroutine running.
func TestWriterStop(t *testing.T) {
	before := runtime.NumGoroutine()
	path := filepath.Join(t.TempDir(), "w.pw")
	stop := make(chan struct{})
	p := workload.Params{Kind: workload.Planes, Datasets: 3, Steps: 50, Side: 200}
	sum, err := RunWriter(path, WriterOptions{Params: p, Config: coord.Config{TickLen: 20 * time.Millisecond}, Stop: stop,
		OnStep: func(s int) {
			if s == 0 {
				close(stop)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	if !sum.Stopped || sum.Steps != 1 {
		t.Fatalf("stopped %v after %d steps, want after 1", sum.Stopped, sum.Steps)
	}
	if res, err := Verify(path, coord.Config{}); err != nil || !res.OK || res.Steps != 1 {
		t.Fatalf("verify: %+v, %v", res, err)
	}
	// The writer's own goroutines end with Close; give the runtime a moment.
	for deadline := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > before; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines, %d before the run:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
	}
}

// TestCut: pieces cover a share exactly once, in order, each at most
// PieceBytes unless one unit of the cut dimension is larger.
func TestCut(t *testing.T) {
	for _, c := range []struct {
		sl   workload.Slab
		size int
		n    int // pieces
	}{
		{workload.Slab{Start: []uint64{0, 0, 0}, Count: []uint64{1, 1000, 1000}}, 4, 16},       // a plane: 65 rows a piece
		{workload.Slab{Start: []uint64{0, 64, 0, 0}, Count: []uint64{1, 64, 128, 128}}, 8, 32}, // a rank's half field: two planes a piece
		{workload.Slab{Start: []uint64{0, 0, 0, 0}, Count: []uint64{1, 4, 200, 200}}, 8, 4},    // 320 kB planes: one a piece
		{workload.Slab{Start: []uint64{3}, Count: []uint64{1}}, 8, 1},
		{workload.Slab{Start: []uint64{0, 0}, Count: []uint64{1, 1 << 20}}, 1, 4},
	} {
		ps := cut(c.sl, c.size)
		if len(ps) != c.n {
			t.Fatalf("%v: %d pieces, want %d", c.sl, len(ps), c.n)
		}
		var elems uint64
		k := 0
		for k < len(c.sl.Count)-1 && c.sl.Count[k] == 1 {
			k++
		}
		next := c.sl.Start[k]
		for _, p := range ps {
			if p.sl.Start[k] != next || p.row != p.sl.Start[0] {
				t.Fatalf("%v: piece %v starts at %d, want %d (row %d)", c.sl, p.sl, p.sl.Start[k], next, p.row)
			}
			next += p.sl.Count[k]
			n := p.sl.Elems()
			if n*uint64(c.size) > PieceBytes && p.sl.Count[k] > 1 {
				t.Fatalf("%v: piece %v of %d bytes", c.sl, p.sl, n*uint64(c.size))
			}
			elems += n
		}
		if elems != c.sl.Elems() || next != c.sl.Start[k]+c.sl.Count[k] {
			t.Fatalf("%v: pieces cover %d elements up to %d, want %d", c.sl, elems, next, c.sl.Elems())
		}
	}
}
