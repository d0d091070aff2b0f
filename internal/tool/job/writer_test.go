package job

import (
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"pwstore/coord"
	"pwstore/internal/tool/workload"
)

// TestWriterPrefill: slabs of 64 KiB and more are filled ahead on the
// prefill goroutine, smaller ones in the writer's loop; every value of the
// finished file is the workload's, in both cases and for every element type
// (planes int32, ckpt float64 fields with its small int64 series).
func TestWriterPrefill(t *testing.T) {
	for _, p := range []workload.Params{
		{Kind: workload.Planes, Datasets: 3, Steps: 5, Side: 200}, // 160 kB planes: prefilled
		{Kind: workload.Planes, Datasets: 2, Steps: 3, Side: 20},  // 1.6 kB planes: not
		{Kind: workload.Ckpt, Datasets: 2, Steps: 4, Side: 24},    // 110 kB fields, 16 B series
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

// TestWriterStopEndsPrefill: a writer stopped after its first step closes
// the file with the steps it wrote, and its prefill goroutine, which was
// filling the next step's planes, has returned.
func TestWriterStopEndsPrefill(t *testing.T) {
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
